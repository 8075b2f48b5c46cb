package llama2c

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
	"github.com/rpiq/rpiq/models/hf"
	_ "github.com/rpiq/rpiq/models/llama" // registers LlamaForCausalLM for hf.LoadConfig
	"github.com/rpiq/rpiq/models/tokenizer"
)

// ropeLlama2c applies llama2.c run.c's rotation to one head vector: pairs (2i, 2i+1).
func ropeLlama2c(v []float64, pos int) {
	hs := len(v)
	for i := 0; i < hs; i += 2 {
		freq := 1 / math.Pow(10000, float64(i)/float64(hs))
		c, s := math.Cos(float64(pos)*freq), math.Sin(float64(pos)*freq)
		v0, v1 := v[i], v[i+1]
		v[i], v[i+1] = v0*c-v1*s, v0*s+v1*c
	}
}

// ropeHF applies HF LLaMA's rotate_half: pairs (i, i+hs/2), inv_freq[i] = 10000^(-2i/hs).
func ropeHF(v []float64, pos int) {
	half := len(v) / 2
	for i := 0; i < half; i++ {
		freq := 1 / math.Pow(10000, float64(2*i)/float64(len(v)))
		c, s := math.Cos(float64(pos)*freq), math.Sin(float64(pos)*freq)
		x1, x2 := v[i], v[i+half]
		v[i], v[i+half] = x1*c-x2*s, x2*c+x1*s
	}
}

func matvec(w []float32, rows, cols int, x []float64) []float64 {
	out := make([]float64, rows)
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			out[r] += float64(w[r*cols+c]) * x[c]
		}
	}
	return out
}

// The permutation is right when rotating llama2.c-style on the original rows gives the same
// attention scores as rotating HF-style on the permuted rows, and the rotated vectors are the
// same up to the row permutation.
func TestPermuteRotaryMatchesRope(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	const heads, kvHeads, hs, cols = 4, 2, 8, 12
	wq := make([]float32, heads*hs*cols)
	wk := make([]float32, kvHeads*hs*cols)
	for i := range wq {
		wq[i] = float32(r.NormFloat64())
	}
	for i := range wk {
		wk[i] = float32(r.NormFloat64())
	}
	pq, pk := PermuteRotary(wq, heads, hs, cols), PermuteRotary(wk, kvHeads, hs, cols)
	x, y := make([]float64, cols), make([]float64, cols)
	for i := range x {
		x[i], y[i] = r.NormFloat64(), r.NormFloat64()
	}
	for _, pos := range []int{0, 1, 7, 100} {
		q1, q2 := matvec(wq, heads*hs, cols, x), matvec(pq, heads*hs, cols, x)
		k1, k2 := matvec(wk, kvHeads*hs, cols, y), matvec(pk, kvHeads*hs, cols, y)
		for h := 0; h < heads; h++ {
			ropeLlama2c(q1[h*hs:(h+1)*hs], pos)
			ropeHF(q2[h*hs:(h+1)*hs], pos)
		}
		for h := 0; h < kvHeads; h++ {
			ropeLlama2c(k1[h*hs:(h+1)*hs], pos+3)
			ropeHF(k2[h*hs:(h+1)*hs], pos+3)
		}
		for h := 0; h < heads; h++ {
			for i := 0; i < hs/2; i++ {
				for b := 0; b < 2; b++ {
					a, c := q1[h*hs+2*i+b], q2[h*hs+b*hs/2+i]
					if math.Abs(a-c) > 1e-12*math.Max(1, math.Abs(a)) {
						t.Fatalf("pos %d head %d: rotated q differs: %g vs %g", pos, h, a, c)
					}
				}
			}
			kh := h / (heads / kvHeads) // GQA
			var s1, s2 float64
			for i := 0; i < hs; i++ {
				s1 += q1[h*hs+i] * k1[kh*hs+i]
				s2 += q2[h*hs+i] * k2[kh*hs+i]
			}
			if math.Abs(s1-s2) > 1e-9*math.Max(1, math.Abs(s1)) {
				t.Fatalf("pos %d head %d: score %g vs %g", pos, h, s1, s2)
			}
		}
	}
	// And it is not the identity (a test that could not fail otherwise).
	if fmt.Sprint(pq) == fmt.Sprint(wq) {
		t.Fatal("permutation is the identity")
	}
}

func randomCheckpoint(r *rand.Rand, c Config) *Checkpoint {
	ck := &Checkpoint{Config: c}
	for _, p := range ck.parts() {
		if p.dst == nil {
			continue
		}
		v := make([]float32, p.n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		*p.dst = v
	}
	return ck
}

func appendF32(b []byte, v []float32) []byte {
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func i32s(b []byte, v ...int) []byte {
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, uint32(int32(x)))
	}
	return b
}

// encode writes ck in its Version's layout, as llama2.c export.py does.
func encode(ck *Checkpoint) []byte {
	c := ck.Config
	var b []byte
	vocab := c.VocabSize
	if c.Version == 0 {
		if !c.SharedClassifier {
			vocab = -vocab
		}
		b = i32s(b, c.Dim, c.HiddenDim, c.NumLayers, c.NumHeads, c.NumKVHeads, vocab, c.SeqLen)
	} else {
		b = binary.LittleEndian.AppendUint32(b, Magic)
		b = i32s(b, c.Version, c.Dim, c.HiddenDim, c.NumLayers, c.NumHeads, c.NumKVHeads, vocab, c.SeqLen)
		shared := byte(0)
		if c.SharedClassifier {
			shared = 1
		}
		b = append(b, shared)
		if c.Version == 2 {
			b = i32s(b, c.GroupSize)
		}
		b = append(b, make([]byte, 256-len(b))...)
	}
	if c.Version == 2 {
		for _, v := range [][]float32{ck.RMSAtt, ck.RMSFFN, ck.RMSFinal} {
			b = appendF32(b, v)
		}
		mats := [][]float32{ck.TokenEmbedding, ck.WQ, ck.WK, ck.WV, ck.WO, ck.W1, ck.W2, ck.W3}
		if !c.SharedClassifier {
			mats = append(mats, ck.WCls)
		}
		var scales []float32
		for _, m := range mats {
			for g := 0; g < len(m); g += c.GroupSize {
				var mx float64
				for _, x := range m[g : g+c.GroupSize] {
					mx = math.Max(mx, math.Abs(float64(x)))
				}
				s := float32(mx / 127)
				scales = append(scales, s)
				for i := g; i < g+c.GroupSize; i++ {
					q := int8(math.Round(float64(m[i] / s)))
					b = append(b, byte(q))
					m[i] = float32(q) * s // what the reader must reproduce
				}
			}
		}
		return appendF32(b, scales)
	}
	for _, p := range ck.parts() {
		if p.dst == nil {
			b = append(b, make([]byte, 4*p.n)...) // freq_cis, unused
			continue
		}
		b = appendF32(b, *p.dst)
	}
	return b
}

func TestReadEveryVersion(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, c := range []Config{
		{Dim: 16, HiddenDim: 24, NumLayers: 2, NumHeads: 4, NumKVHeads: 2, VocabSize: 10, SeqLen: 8, SharedClassifier: true},
		{Dim: 16, HiddenDim: 24, NumLayers: 2, NumHeads: 4, NumKVHeads: 4, VocabSize: 10, SeqLen: 8},
		{Dim: 16, HiddenDim: 24, NumLayers: 2, NumHeads: 2, NumKVHeads: 1, VocabSize: 10, SeqLen: 8, Version: 1},
		{Dim: 16, HiddenDim: 24, NumLayers: 2, NumHeads: 2, NumKVHeads: 2, VocabSize: 10, SeqLen: 8, Version: 1, SharedClassifier: true},
		{Dim: 16, HiddenDim: 24, NumLayers: 2, NumHeads: 4, NumKVHeads: 2, VocabSize: 10, SeqLen: 8, Version: 2, GroupSize: 8},
	} {
		t.Run(fmt.Sprintf("v%d-shared=%v-kv%d", c.Version, c.SharedClassifier, c.NumKVHeads), func(t *testing.T) {
			want := randomCheckpoint(r, c)
			data := encode(want) // for v2 this also rounds want to the Q8_0 values
			got, err := Parse("x.bin", data)
			if err != nil {
				t.Fatal(err)
			}
			if got.Config != c {
				t.Fatalf("config %+v, want %+v", got.Config, c)
			}
			gp, wp := got.parts(), want.parts()
			for i := range wp {
				if wp[i].dst == nil {
					continue
				}
				g, w := *gp[i].dst, *wp[i].dst
				if len(g) != len(w) {
					t.Fatalf("%s: %d values, want %d", wp[i].name, len(g), len(w))
				}
				for j := range w {
					if g[j] != w[j] {
						t.Fatalf("%s[%d] = %g, want %g", wp[i].name, j, g[j], w[j])
					}
				}
			}
			if c.SharedClassifier != (got.WCls == nil) {
				t.Fatalf("classifier: shared %v, WCls %d values", c.SharedClassifier, len(got.WCls))
			}
			// Truncated by one float, and one byte too long: both rejected with the file named.
			for _, bad := range [][]byte{data[:len(data)-4], append(bytes.Clone(data), 0)} {
				_, err := Parse("x.bin", bad)
				var le *Error
				if !errors.As(err, &le) || !strings.Contains(err.Error(), "x.bin") {
					t.Fatalf("bad size: %v", err)
				}
			}
		})
	}
}

func TestHeaderErrors(t *testing.T) {
	good := []int{64, 172, 5, 8, 4, 512, 512}
	mk := func(f func(v []int)) []byte {
		v := append([]int(nil), good...)
		f(v)
		return append(i32s(nil, v...), make([]byte, 300)...)
	}
	cases := []struct {
		name  string
		data  []byte
		field string
	}{
		{"short", []byte{1, 2, 3}, "header"},
		{"zero dim", mk(func(v []int) { v[0] = 0 }), "dim"},
		{"negative layers", mk(func(v []int) { v[2] = -1 }), "n_layers"},
		{"heads do not divide", mk(func(v []int) { v[3] = 7 }), "n_heads"},
		{"kv heads", mk(func(v []int) { v[4] = 3 }), "n_kv_heads"},
		{"kv more than heads", mk(func(v []int) { v[4] = 16 }), "n_kv_heads"},
		{"odd head size", mk(func(v []int) { v[0], v[3], v[4] = 24, 8, 8 }), "n_heads"},
		{"huge vocab", mk(func(v []int) { v[5] = math.MinInt32 }), "vocab_size"},
		{"huge dim", mk(func(v []int) { v[0] = 1 << 30 }), "dim"},
		{"version 3", append(i32s(binary.LittleEndian.AppendUint32(nil, Magic), 3), make([]byte, 300)...), "version"},
		{"short ak42", i32s(binary.LittleEndian.AppendUint32(nil, Magic), 1), "header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := ParseHeader("m.bin", c.data)
			var le *Error
			if !errors.As(err, &le) || le.Field != c.field || !strings.HasPrefix(err.Error(), "m.bin: ") {
				t.Fatalf("err = %v, want field %q", err, c.field)
			}
		})
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(i32s(nil, 64, 172, 5, 8, 4, 512, 512))
	f.Add(i32s(nil, 64, 172, 5, 8, 4, -512, 512))
	f.Add(append(i32s(binary.LittleEndian.AppendUint32(nil, Magic), 2, 64, 172, 5, 8, 4, 512, 512, 0), make([]byte, 230)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, n, err := ParseHeader("fuzz", b)
		if err != nil {
			return
		}
		if n > len(b) || c.Dim%c.NumHeads != 0 || c.NumHeads%c.NumKVHeads != 0 || c.HeadSize()%2 != 0 {
			t.Fatalf("accepted %+v (header %d of %d bytes)", c, n, len(b))
		}
		// Parsing the whole (too short) file must fail cleanly, never panic.
		if _, err := Parse("fuzz", b); err == nil && len(b) < 100 {
			t.Fatalf("accepted a %d-byte model", len(b))
		}
	})
}

// stories260K converts into an HF folder whose config and tensors are those of the llama2.c
// file, q and k permuted.
func TestConvertStories260K(t *testing.T) {
	ckpt := shareddata.Path(t, "llama2c/stories260K.bin")
	tok := shareddata.Path(t, "llama2c/tok512.bin")
	out := filepath.Join(t.TempDir(), "stories260K")
	if err := Convert(ckpt, tok, out); err != nil {
		t.Fatal(err)
	}
	src, err := Read(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Dim: 64, HiddenDim: 172, NumLayers: 5, NumHeads: 8, NumKVHeads: 4, VocabSize: 512, SeqLen: 512, SharedClassifier: true}
	if src.Config != want {
		t.Fatalf("header %+v, want %+v", src.Config, want)
	}
	cfg, err := hf.LoadConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Architecture != "LlamaForCausalLM" || cfg.HiddenSize != 64 || cfg.IntermediateSize != 172 || cfg.NumLayers != 5 ||
		cfg.NumHeads != 8 || cfg.NumKVHeads != 4 || cfg.HeadDim != 8 || cfg.VocabSize != 512 || cfg.MaxPositions != 512 ||
		!cfg.TieWordEmbeddings || cfg.RMSNormEps != 1e-5 || cfg.RopeTheta != 10000 || cfg.BOSTokenID != 1 || cfg.EOSTokenIDs[0] != 2 {
		t.Fatalf("config: %+v", cfg)
	}
	gen, err := hf.LoadGenerationConfig(out)
	if err != nil || gen.BOSTokenID != 1 || gen.MaxLength != 512 {
		t.Fatalf("generation config %+v, %v", gen, err)
	}
	c, err := hf.OpenCheckpoint(out)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const d, kv, h, hs = 64, 32, 172, 8
	if len(c.Names()) != 2+9*5 {
		t.Fatalf("%d tensors: %v", len(c.Names()), c.Names())
	}
	if _, ok := c.Info("lm_head.weight"); ok {
		t.Fatal("lm_head.weight written for a shared classifier")
	}
	get := func(name string, shape ...int) []float32 {
		v, err := c.Float32(name, shape...)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	same := func(name string, got, want []float32) {
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s[%d] = %g, want %g", name, i, got[i], want[i])
			}
		}
	}
	same("embed", get("model.embed_tokens.weight", 512, d), src.TokenEmbedding)
	same("norm", get("model.norm.weight", d), src.RMSFinal)
	for l := 0; l < 5; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		same(p+"in", get(p+"input_layernorm.weight", d), src.RMSAtt[l*d:(l+1)*d])
		same(p+"post", get(p+"post_attention_layernorm.weight", d), src.RMSFFN[l*d:(l+1)*d])
		same(p+"v", get(p+"self_attn.v_proj.weight", kv, d), src.WV[l*kv*d:(l+1)*kv*d])
		same(p+"o", get(p+"self_attn.o_proj.weight", d, d), src.WO[l*d*d:(l+1)*d*d])
		same(p+"gate", get(p+"mlp.gate_proj.weight", h, d), src.W1[l*h*d:(l+1)*h*d])
		same(p+"down", get(p+"mlp.down_proj.weight", d, h), src.W2[l*d*h:(l+1)*d*h])
		same(p+"up", get(p+"mlp.up_proj.weight", h, d), src.W3[l*h*d:(l+1)*h*d])
		// q and k: HF row (head, half*hs/2 + i) is llama2.c row (head, 2i + half).
		q, k := get(p+"self_attn.q_proj.weight", d, d), get(p+"self_attn.k_proj.weight", kv, d)
		for _, m := range []struct {
			got, src []float32
			heads    int
		}{{q, src.WQ[l*d*d:], 8}, {k, src.WK[l*kv*d:], 4}} {
			for head := 0; head < m.heads; head++ {
				for i := 0; i < hs/2; i++ {
					for half := 0; half < 2; half++ {
						gr, sr := head*hs+half*hs/2+i, head*hs+2*i+half
						same(p+"qk", m.got[gr*d:(gr+1)*d], m.src[sr*d:(sr+1)*d])
					}
				}
			}
		}
	}
	// The folder's tokenizer (tokenizer.json) encodes as the llama2.c tokenizer it came from.
	hfTok, err := tokenizer.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	binTok, err := tokenizer.Load(tok)
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"Once upon a time, there was a little girl named Lily.", "Tom's dog ran!\n\"Hi\", 123"} {
		a, err1 := hfTok.Encode(text, true)
		b, err2 := binTok.Encode(text, true)
		if err1 != nil || err2 != nil || fmt.Sprint(a) != fmt.Sprint(b) || len(a) < 5 {
			t.Fatalf("%q: tokenizer.json gives %v (%v), tok512.bin %v (%v)", text, a, err1, b, err2)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "tokenizer.json")); err != nil {
		t.Fatal(err)
	}
	// A second conversion into the same, now full, folder is refused and leaves it intact.
	if err := Convert(ckpt, tok, out); err == nil {
		t.Fatal("converted over an existing model")
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Fatalf("left temporary folders: %v", entries)
	}
}

func TestConvertFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.bin")
	os.WriteFile(bad, i32s(nil, 64, 172, 5, 8, 4, 512, 512), 0o644) // header only: truncated
	tok := filepath.Join(dir, "tok.bin")
	os.WriteFile(tok, []byte("x"), 0o644)
	out := filepath.Join(dir, "out")
	err := Convert(bad, tok, out)
	var le *Error
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("output folder created for a failed conversion")
	}
}
