package quant

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/rpiq/rpiq/kernels/half"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
)

func randomQuantized(rng *rand.Rand, m, n, bits, gs int, sym, act bool) *Quantized {
	w, h, _ := randomLayer(rng, m, n, 2*n)
	q, err := GPTQ(w, m, n, h, Config{Grid: Grid{Bits: bits, Sym: sym, ScaleFP16: true}, GroupSize: gs, ActOrder: act, Damp: 0.01})
	if err != nil {
		panic(err)
	}
	return q
}

func TestPackRoundTripBitExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, bits := range []int{2, 3, 4, 8} {
		for _, sz := range [][2]int{{64, 32}, {172, 64}, {64, 172}, {40, 9}} {
			for _, v2 := range []bool{false, true} {
				sym := !v2
				q := randomQuantized(rng, sz[1], sz[0], bits, 32, sym, bits == 4)
				p, err := Pack(q, v2)
				if err != nil {
					t.Fatalf("bits %d %v v2=%v: %v", bits, sz, v2, err)
				}
				u, err := p.Unpack()
				if err != nil {
					t.Fatal(err)
				}
				for i := range q.Codes {
					if u.Codes[i] != q.Codes[i] {
						t.Fatalf("bits %d %v: code %d = %d after the round trip, want %d", bits, sz, i, u.Codes[i], q.Codes[i])
					}
				}
				for i := range q.Scales {
					if u.Scales[i] != q.Scales[i] || u.Zeros[i] != q.Zeros[i] {
						t.Fatalf("bits %d: group param %d = (%v,%d), want (%v,%d)", bits, i, u.Scales[i], u.Zeros[i], q.Scales[i], q.Zeros[i])
					}
				}
				p2, err := Pack(u, v2)
				if err != nil {
					t.Fatal(err)
				}
				for i := range p.QWeight {
					if p.QWeight[i] != p2.QWeight[i] {
						t.Fatalf("bits %d: qweight word %d differs on repacking", bits, i)
					}
				}
				for i := range p.QZeros {
					if p.QZeros[i] != p2.QZeros[i] {
						t.Fatalf("bits %d: qzeros word %d differs on repacking", bits, i)
					}
				}
				dq, err := p.Dequantize()
				if err != nil {
					t.Fatal(err)
				}
				want := q.Dequantize()
				for i := range dq {
					if dq[i] != float32(want[i]) {
						t.Fatalf("bits %d: dequantized %d = %v, want %v", bits, i, dq[i], want[i])
					}
				}
			}
		}
	}
}

func TestPackSymV1ZerosAre0x77777777(t *testing.T) {
	q := randomQuantized(rand.New(rand.NewPCG(1, 1)), 16, 64, 4, 32, true, false)
	p, err := Pack(q, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range p.QZeros {
		if w != 0x77777777 {
			t.Fatalf("qzeros word %d = %#x, want 0x77777777", i, w)
		}
	}
	// the first word of column 0 holds codes of inputs 0..7, LSB first
	var want uint32
	for k := 0; k < 8; k++ {
		want |= uint32(q.Codes[k]) << (4 * k)
	}
	if p.QWeight[0] != want {
		t.Fatalf("qweight[0][0] = %#x, want %#x", p.QWeight[0], want)
	}
}

func TestPackRejectsZeroZeroInV1(t *testing.T) {
	q := randomQuantized(rand.New(rand.NewPCG(2, 1)), 8, 64, 4, 32, false, false)
	q.Zeros[0] = 0
	if _, err := Pack(q, false); err == nil {
		t.Fatal("zero 0 accepted in the v1 layout")
	}
}

// autoGPTQPack is AutoGPTQ's QuantLinear.pack (qlinear_cuda_old.py) transcribed: integer
// weights from the dequantized fp16-scale weights, zeros minus one, the 3-bit spill layout.
func autoGPTQPack(w [][]float64, scales, zeros [][]float64, gidx []int, bits int) (qweight [][]uint32, qzeros [][]uint32) {
	out, in := len(w), len(w[0])
	intw := make([][]uint32, in) // [in][out]
	for i := 0; i < in; i++ {
		intw[i] = make([]uint32, out)
		for c := 0; c < out; c++ {
			g := gidx[i]
			intw[i][c] = uint32(math.RoundToEven((w[c][i] + scales[g][c]*zeros[g][c]) / scales[g][c]))
		}
	}
	pack := func(vals func(j int) uint32, n int) []uint32 {
		var words []uint32
		if bits != 3 {
			per := 32 / bits
			for i := 0; i < n; i += per {
				var wd uint32
				for j := i; j < i+per; j++ {
					wd |= vals(j) << (bits * (j - i))
				}
				words = append(words, wd)
			}
			return words
		}
		i := 0
		for i < n {
			var a, b, c uint32
			for j := i; j < i+10; j++ {
				a |= vals(j) << (3 * (j - i))
			}
			i += 10
			a |= vals(i) << 30
			b |= (vals(i) >> 2) & 1
			i++
			for j := i; j < i+10; j++ {
				b |= vals(j) << (3*(j-i) + 1)
			}
			i += 10
			b |= vals(i) << 31
			c |= (vals(i) >> 1) & 0x3
			i++
			for j := i; j < i+10; j++ {
				c |= vals(j) << (3*(j-i) + 2)
			}
			i += 10
			words = append(words, a, b, c)
		}
		return words
	}
	rows := PackedLen(in, bits)
	qweight = make([][]uint32, rows)
	for r := range qweight {
		qweight[r] = make([]uint32, out)
	}
	for c := 0; c < out; c++ {
		col := pack(func(j int) uint32 { return intw[j][c] }, in)
		for r := range col {
			qweight[r][c] = col[r]
		}
	}
	for g := range zeros {
		qzeros = append(qzeros, pack(func(j int) uint32 { return uint32(zeros[g][j]) - 1 }, out))
	}
	return qweight, qzeros
}

// A checkpoint in another tool's v1 layout (act-order g_idx, zero−1) written through
// safetensors loads to the weights that tool quantized.
func TestLoadAutoGPTQV1Checkpoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, bits := range []int{4, 3} {
		in, out, gs := 64, 32, 16
		groups := in / gs
		perm := rng.Perm(in)
		gidx := make([]int, in)
		for pos, c := range perm {
			gidx[c] = pos / gs // act-order without static groups: non-monotone g_idx
		}
		maxq := 1<<bits - 1
		scales := make([][]float64, groups)
		zeros := make([][]float64, groups)
		for g := range scales {
			scales[g] = make([]float64, out)
			zeros[g] = make([]float64, out)
			for c := range scales[g] {
				scales[g][c] = float64(half.F16ToF32(half.F32ToF16(float32(0.01 + 0.05*rng.Float64()))))
				zeros[g][c] = float64(int(1) << (bits - 1)) // sym
			}
		}
		w := make([][]float64, out)
		for c := range w {
			w[c] = make([]float64, in)
			for i := range w[c] {
				g := gidx[i]
				code := rng.IntN(maxq + 1)
				w[c][i] = float64(float32(scales[g][c] * (float64(code) - zeros[g][c])))
			}
		}
		qweight, qzeros := autoGPTQPack(w, scales, zeros, gidx, bits)
		flat := func(m [][]uint32) []byte {
			var b []byte
			for _, row := range m {
				for _, v := range row {
					b = binary.LittleEndian.AppendUint32(b, v)
				}
			}
			return b
		}
		var sb, gb []byte
		for g := range scales {
			for c := range scales[g] {
				sb = binary.LittleEndian.AppendUint16(sb, half.F32ToF16(float32(scales[g][c])))
			}
		}
		for _, g := range gidx {
			gb = binary.LittleEndian.AppendUint32(gb, uint32(g))
		}
		dir := t.TempDir()
		pre := "model.layers.0.mlp.down_proj"
		err := safetensors.Write(filepath.Join(dir, "gptq_model-4bit-16g.safetensors"), []safetensors.Tensor{
			{Name: pre + ".qweight", DType: safetensors.I32, Shape: []int{len(qweight), out}, Data: flat(qweight)},
			{Name: pre + ".qzeros", DType: safetensors.I32, Shape: []int{groups, len(qzeros[0])}, Data: flat(qzeros)},
			{Name: pre + ".scales", DType: safetensors.F16, Shape: []int{groups, out}, Data: sb},
			{Name: pre + ".g_idx", DType: safetensors.I32, Shape: []int{in}, Data: gb},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ck, err := hf.OpenCheckpoint(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !IsPacked(ck, pre) {
			t.Fatal("IsPacked = false")
		}
		got, o, i, err := DequantizeLinear(ck, &hf.QuantizationConfig{Method: "gptq", Bits: bits, GroupSize: gs, DescAct: true, Sym: true}, pre)
		ck.Close()
		if err != nil {
			t.Fatal(err)
		}
		if o != out || i != in {
			t.Fatalf("shape %d×%d, want %d×%d", o, i, out, in)
		}
		for c := 0; c < out; c++ {
			for k := 0; k < in; k++ {
				if got[c*in+k] != float32(w[c][k]) {
					t.Fatalf("bits %d: w[%d][%d] = %v, want %v", bits, c, k, got[c*in+k], w[c][k])
				}
			}
		}
	}
}

// Our checkpoint tensors written and read back through safetensors give identical weights.
func TestCheckpointTensorsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for _, v2 := range []bool{false, true} {
		q := randomQuantized(rng, 172, 64, 4, 32, !v2, true)
		p, err := Pack(q, v2)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), p.Tensors("m.gate_proj", nil), nil); err != nil {
			t.Fatal(err)
		}
		ck, err := hf.OpenCheckpoint(dir)
		if err != nil {
			t.Fatal(err)
		}
		format := "gptq"
		if v2 {
			format = "gptq_v2"
		}
		got, _, _, err := DequantizeLinear(ck, &hf.QuantizationConfig{Bits: 4, GroupSize: 32, CheckpointFormat: format}, "m.gate_proj")
		ck.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := q.Dequantize()
		for i := range got {
			if got[i] != float32(want[i]) {
				t.Fatalf("v2=%v weight %d = %v, want %v", v2, i, got[i], want[i])
			}
		}
	}
}

// FuzzPackedDequantize feeds arbitrary words and shapes to the unpacker: it must return an
// error or weights, never panic.
func FuzzPackedDequantize(f *testing.F) {
	f.Add(uint8(4), uint8(16), uint8(8), uint8(2), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add(uint8(3), uint8(32), uint8(32), uint8(1), []byte{0xff, 0, 0xff})
	f.Add(uint8(5), uint8(0), uint8(1), uint8(0), []byte{})
	f.Fuzz(func(t *testing.T, bits, in, out, groups uint8, data []byte) {
		p := &Packed{Bits: int(bits), In: int(in), Out: int(out), Groups: int(groups)}
		take := func(n int) []uint32 {
			v := make([]uint32, 0, n)
			for i := 0; i < n; i++ {
				var w uint32
				if len(data) > 0 {
					w = uint32(data[i%len(data)]) * 0x01010101
				}
				v = append(v, w)
			}
			return v
		}
		if p.Bits >= 1 && p.Bits <= 8 {
			p.QWeight = take(PackedLen(p.In, p.Bits) * p.Out)
			p.QZeros = take(p.Groups * PackedLen(p.Out, p.Bits))
		}
		p.Scales = make([]uint16, p.Groups*p.Out)
		p.GIdx = make([]int32, p.In)
		for i := range p.GIdx {
			if len(data) > 0 {
				p.GIdx[i] = int32(data[i%len(data)]) - 3
			}
		}
		if w, err := p.Dequantize(); err == nil && len(w) != p.In*p.Out {
			t.Fatalf("got %d weights for %d×%d", len(w), p.Out, p.In)
		}
	})
}
