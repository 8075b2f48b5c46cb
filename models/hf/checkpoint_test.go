package hf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/rpiq/rpiq/kernels/half"
	"github.com/rpiq/rpiq/models/hf/safetensors"
)

// encode stores vals in dtype d the way a checkpoint would (F16/BF16 rounded to nearest even).
func encode(d safetensors.DType, vals []float64) []byte {
	var b []byte
	for _, v := range vals {
		switch d {
		case safetensors.F32:
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v)))
		case safetensors.F64:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		case safetensors.F16:
			b = binary.LittleEndian.AppendUint16(b, half.F32ToF16(float32(v)))
		case safetensors.BF16:
			b = binary.LittleEndian.AppendUint16(b, half.F32ToBF16(float32(v)))
		}
	}
	return b
}

func randomValues(r *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64() * 0.5
	}
	return v
}

// tinyTensors is a small LLaMA-shaped set of tensors in several dtypes.
func tinyTensors(r *rand.Rand) ([]safetensors.Tensor, map[string][]float64) {
	vals := map[string][]float64{}
	var ts []safetensors.Tensor
	dtypes := []safetensors.DType{safetensors.F32, safetensors.F16, safetensors.BF16, safetensors.F64}
	for l := 0; l < 3; l++ {
		for k, name := range []string{"self_attn.q_proj.weight", "mlp.up_proj.weight", "input_layernorm.weight"} {
			full := fmt.Sprintf("model.layers.%d.%s", l, name)
			shape := []int{16, 8}
			if k == 2 {
				shape = []int{8}
			}
			n := shape[0]
			if len(shape) == 2 {
				n *= shape[1]
			}
			v := randomValues(r, n)
			d := dtypes[(l+k)%len(dtypes)]
			vals[full] = v
			ts = append(ts, safetensors.Tensor{Name: full, DType: d, Shape: shape, Data: encode(d, v)})
		}
	}
	return ts, vals
}

func checkValues(t *testing.T, c *Checkpoint, vals map[string][]float64) {
	t.Helper()
	for name, want := range vals {
		info, ok := c.Info(name)
		if !ok {
			t.Fatalf("%s missing", name)
		}
		got, err := c.Float32(name, info.Shape...)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			// The float64 reference rounded to the stored precision; F16/BF16 conversions are exact.
			var ref float64
			switch info.DType {
			case safetensors.F16:
				ref = float64(half.F16ToF32(half.F32ToF16(float32(want[i]))))
			case safetensors.BF16:
				ref = float64(half.BF16ToF32(half.F32ToBF16(float32(want[i]))))
			default:
				ref = float64(float32(want[i]))
			}
			if float64(got[i]) != ref {
				t.Fatalf("%s[%d] (%s) = %g, want %g", name, i, info.DType, got[i], ref)
			}
			if tol := 1.0 / 128; math.Abs(float64(got[i])-want[i]) > tol*math.Max(1, math.Abs(want[i])) {
				t.Fatalf("%s[%d] = %g, far from %g", name, i, got[i], want[i])
			}
		}
	}
}

func TestCheckpointSingleAndSharded(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ts, vals := tinyTensors(r)
	for _, shard := range []int64{0, 600} {
		t.Run(fmt.Sprintf("shard=%d", shard), func(t *testing.T) {
			dir := t.TempDir()
			if err := WriteCheckpoint(dir, ts, map[string]string{"format": "pt"}, shard); err != nil {
				t.Fatal(err)
			}
			_, err := os.Stat(filepath.Join(dir, IndexFile))
			if (shard > 0) != (err == nil) {
				t.Fatalf("index present = %v for shard size %d", err == nil, shard)
			}
			c, err := OpenCheckpoint(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if len(c.Names()) != len(ts) {
				t.Fatalf("%d names, want %d", len(c.Names()), len(ts))
			}
			checkValues(t, c, vals)
			if shard > 0 {
				ix, err := ReadIndex(filepath.Join(dir, IndexFile))
				if err != nil {
					t.Fatal(err)
				}
				if len(ix.Files()) < 2 {
					t.Fatalf("only %d shards", len(ix.Files()))
				}
				var total int64
				for _, t := range ts {
					total += int64(len(t.Data))
				}
				if ix.TotalSize != total {
					t.Fatalf("total_size %d, want %d", ix.TotalSize, total)
				}
				for name, file := range ix.WeightMap {
					got, _ := c.File(name)
					if filepath.Base(got) != file {
						t.Fatalf("%s in %s, index says %s", name, got, file)
					}
				}
			}
			inv, err := ReadInventory(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(inv.Tensors) != len(ts) || len(inv.MissingFiles) != 0 {
				t.Fatalf("inventory: %d tensors, missing %v", len(inv.Tensors), inv.MissingFiles)
			}
		})
	}
}

func TestCheckpointViewsAndShapes(t *testing.T) {
	dir := t.TempDir()
	vals := []float64{1, -2, 3.5, 0.25, 5, 6}
	ts := []safetensors.Tensor{
		{Name: "w", DType: safetensors.F32, Shape: []int{2, 3}, Data: encode(safetensors.F32, vals)},
		{Name: "idx", DType: safetensors.I32, Shape: []int{2}, Data: make([]byte, 8)},
	}
	if err := WriteCheckpoint(dir, ts, nil, 0); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v, ok := c.Float32View("w")
	if !ok || len(v) != 6 || v[2] != 3.5 {
		t.Fatalf("view = %v, %v", v, ok)
	}
	_, raw, _ := c.Raw("w")
	if unsafe.Pointer(&v[0]) != unsafe.Pointer(&raw[0]) {
		t.Fatal("Float32View copied the data")
	}
	if _, ok := c.Float32View("idx"); ok {
		t.Fatal("view of an I32 tensor")
	}
	if _, err := c.Float32("w", 3, 2); err == nil || !strings.Contains(err.Error(), "shape is [2 3], want [3 2]") || !strings.Contains(err.Error(), SingleFile) {
		t.Fatalf("shape mismatch error: %v", err)
	}
	if _, err := c.Float32("idx"); err == nil || !strings.Contains(err.Error(), "dtype I32") {
		t.Fatalf("dtype error: %v", err)
	}
	if _, _, err := c.Raw("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("missing tensor error: %v", err)
	}
}

func TestCheckpointBadIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	ts, _ := tinyTensors(r)
	var shards []string
	mk := func(t *testing.T) string {
		dir := t.TempDir()
		if err := WriteCheckpoint(dir, ts, nil, 600); err != nil {
			t.Fatal(err)
		}
		ix, err := ReadIndex(filepath.Join(dir, IndexFile))
		if err != nil {
			t.Fatal(err)
		}
		shards = ix.Files()
		if len(shards) < 3 {
			t.Fatalf("%d shards", len(shards))
		}
		return dir
	}
	t.Run("missing shard", func(t *testing.T) {
		dir := mk(t)
		os.Remove(filepath.Join(dir, shards[1]))
		_, err := OpenCheckpoint(dir)
		if err == nil || !strings.Contains(err.Error(), IndexFile) || !strings.Contains(err.Error(), shards[1]+" is missing") {
			t.Fatalf("err = %v", err)
		}
		// inspect still works from the index and the shards that are there
		inv, err := ReadInventory(dir)
		if err != nil || len(inv.MissingFiles) != 1 || inv.Index == nil {
			t.Fatalf("inventory %+v, %v", inv, err)
		}
	})
	t.Run("wrong shard", func(t *testing.T) {
		dir := mk(t)
		ix, _ := ReadIndex(filepath.Join(dir, IndexFile))
		name := ts[0].Name
		ix.WeightMap[name] = shards[len(shards)-1]
		WriteJSON(filepath.Join(dir, IndexFile), map[string]any{"weight_map": ix.WeightMap})
		_, err := OpenCheckpoint(dir)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unknown tensor", func(t *testing.T) {
		dir := mk(t)
		ix, _ := ReadIndex(filepath.Join(dir, IndexFile))
		ix.WeightMap["ghost"] = shards[0]
		WriteJSON(filepath.Join(dir, IndexFile), map[string]any{"weight_map": ix.WeightMap})
		_, err := OpenCheckpoint(dir)
		if err == nil || !strings.Contains(err.Error(), `"ghost"`) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("duplicate across shards", func(t *testing.T) {
		dir := t.TempDir()
		for _, f := range []string{"a.safetensors", "b.safetensors"} {
			safetensors.Write(filepath.Join(dir, f), ts[:1], nil)
		}
		_, err := OpenCheckpoint(dir)
		if err == nil || !strings.Contains(err.Error(), "also stored in") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("path in weight_map", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, IndexFile, `{"weight_map": {"a": "../../etc/passwd.safetensors"}}`)
		_, err := OpenCheckpoint(dir)
		var he *Error
		if !errors.As(err, &he) || !strings.Contains(err.Error(), "same folder") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no weights", func(t *testing.T) {
		_, err := OpenCheckpoint(t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "no weights") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("corrupt shard", func(t *testing.T) {
		dir := mk(t)
		p := filepath.Join(dir, shards[2])
		b, _ := os.ReadFile(p)
		os.WriteFile(p, b[:len(b)-3], 0o644)
		_, err := OpenCheckpoint(dir)
		var se *safetensors.Error
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "truncated") || se.File != p {
			t.Fatalf("err = %v", err)
		}
	})
}

func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(`{"metadata": {"total_size": 100}, "weight_map": {"a": "model-00001-of-00002.safetensors"}}`))
	f.Add([]byte(`{"weight_map": {"a": "x/y.safetensors"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, err := ParseIndex("index.json", b)
		if err != nil {
			return
		}
		for _, file := range ix.WeightMap {
			if filepath.Base(file) != file || !strings.HasSuffix(file, ".safetensors") {
				t.Fatalf("accepted shard name %q", file)
			}
		}
	})
}

func TestF16TableMatchesHalf(t *testing.T) {
	src := make([]byte, 2<<16)
	for i := 0; i < 1<<16; i++ {
		binary.LittleEndian.PutUint16(src[2*i:], uint16(i))
	}
	got, want := make([]float32, 1<<16), make([]float32, 1<<16)
	f16SliceToF32(got, src)
	half.F16SliceToF32(want, src)
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("F16 %#04x: table %g, half %g", i, got[i], want[i])
		}
	}
}
