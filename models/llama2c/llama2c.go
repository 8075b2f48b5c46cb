// Package llama2c reads karpathy/llama2.c checkpoints and converts them into Hugging Face LLaMA
// folders, so that one loader serves every model afterwards.
//
// Three file versions exist (llama2.c export.py): the legacy v0 (a 7×int32 header, then float32
// weights grouped by kind across layers, a negative vocab_size meaning an unshared classifier),
// and the "ak42" v1 (float32) and v2 (Q8_0 int8 groups plus float32 scales) with a 256-byte
// header. All three are read; v2 weights are dequantized to float32.
package llama2c

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
)

// Magic is the first uint32 of a versioned (v1, v2) export: "ak42".
const Magic = 0x616b3432

// versionedHeaderSize is the padded header of v1/v2 files.
const versionedHeaderSize = 256

// legacyHeaderSize is the 7 int32 of the legacy format.
const legacyHeaderSize = 28

// Config is the model shape from a checkpoint header.
type Config struct {
	Dim              int // transformer width
	HiddenDim        int // FFN width
	NumLayers        int
	NumHeads         int
	NumKVHeads       int
	VocabSize        int // always positive here
	SeqLen           int // maximum sequence length
	SharedClassifier bool
	Version          int // 0 legacy, 1 float32 "ak42", 2 Q8_0 "ak42"
	GroupSize        int // v2 only: quantization group size
}

// HeadSize is Dim/NumHeads.
func (c Config) HeadSize() int { return c.Dim / c.NumHeads }

// KVDim is the width of the keys and values: Dim*NumKVHeads/NumHeads.
func (c Config) KVDim() int { return c.Dim * c.NumKVHeads / c.NumHeads }

// Error is a problem with a llama2.c file's content; it marks bad input for the CLI.
type Error struct {
	File    string
	Field   string
	Problem string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.File + ": " + e.Problem
	}
	return e.File + ": " + e.Field + ": " + e.Problem
}

// BadInput reports that the error comes from the input's content (CLI exit status 2).
func (e *Error) BadInput() bool { return true }

func errf(file, field, format string, a ...any) *Error {
	return &Error{File: file, Field: field, Problem: fmt.Sprintf(format, a...)}
}

// ParseHeader decodes and validates a checkpoint header from the file's first bytes (at least
// 256 bytes, or the whole file when shorter). It returns the config and the header's size.
func ParseHeader(file string, b []byte) (Config, int, error) {
	if len(b) < legacyHeaderSize {
		return Config{}, 0, errf(file, "header", "file of %d bytes is shorter than the %d-byte header", len(b), legacyHeaderSize)
	}
	i32 := func(off int) int { return int(int32(binary.LittleEndian.Uint32(b[off:]))) }
	var c Config
	var off, size int
	if binary.LittleEndian.Uint32(b) == Magic {
		if len(b) < versionedHeaderSize {
			return Config{}, 0, errf(file, "header", "file of %d bytes is shorter than the %d-byte \"ak42\" header", len(b), versionedHeaderSize)
		}
		c.Version = i32(4)
		if c.Version != 1 && c.Version != 2 {
			return Config{}, 0, errf(file, "version", "unsupported \"ak42\" export version %d (want 1 or 2)", c.Version)
		}
		off, size = 8, versionedHeaderSize
		switch b[36] {
		case 0, 1:
			c.SharedClassifier = b[36] == 1
		default:
			return Config{}, 0, errf(file, "shared_classifier", "want 0 or 1, got %d", b[36])
		}
		if c.Version == 2 {
			c.GroupSize = i32(37)
		}
	} else {
		off, size = 0, legacyHeaderSize
	}
	c.Dim, c.HiddenDim, c.NumLayers = i32(off), i32(off+4), i32(off+8)
	c.NumHeads, c.NumKVHeads, c.VocabSize, c.SeqLen = i32(off+12), i32(off+16), i32(off+20), i32(off+24)
	if c.Version == 0 {
		c.SharedClassifier = c.VocabSize > 0
		if c.VocabSize < 0 {
			c.VocabSize = -c.VocabSize
		}
	}
	if err := c.validate(file); err != nil {
		return Config{}, 0, err
	}
	return c, size, nil
}

// Field limits keep every tensor size product far from overflow; they are well above any
// llama2.c model (llama-2-7b: dim 4096, hidden 11008, 32 layers, vocab 32000).
var fieldLimits = map[string]int{"dim": 1 << 16, "hidden_dim": 1 << 20, "n_layers": 1 << 12, "n_heads": 1 << 16,
	"n_kv_heads": 1 << 16, "vocab_size": 1 << 24, "seq_len": 1 << 24}

func (c Config) validate(file string) error {
	for _, f := range []struct {
		name string
		v    int
	}{{"dim", c.Dim}, {"hidden_dim", c.HiddenDim}, {"n_layers", c.NumLayers}, {"n_heads", c.NumHeads},
		{"n_kv_heads", c.NumKVHeads}, {"vocab_size", c.VocabSize}, {"seq_len", c.SeqLen}} {
		if f.v <= 0 || f.v > fieldLimits[f.name] {
			return errf(file, f.name, "want 1..%d, got %d", fieldLimits[f.name], f.v)
		}
	}
	switch {
	case c.Dim%c.NumHeads != 0:
		return errf(file, "n_heads", "%d heads do not divide dim %d", c.NumHeads, c.Dim)
	case c.NumKVHeads > c.NumHeads || c.NumHeads%c.NumKVHeads != 0:
		return errf(file, "n_kv_heads", "%d key/value heads do not divide %d heads", c.NumKVHeads, c.NumHeads)
	case c.HeadSize()%2 != 0:
		return errf(file, "n_heads", "head size %d is odd; rotary embeddings need pairs", c.HeadSize())
	case c.Version == 2 && (c.GroupSize <= 0 || c.Dim%c.GroupSize != 0):
		return errf(file, "group_size", "want a positive divisor of dim %d, got %d", c.Dim, c.GroupSize)
	}
	if c.Version == 2 && c.HiddenDim%c.GroupSize != 0 {
		return errf(file, "group_size", "%d does not divide hidden_dim %d", c.GroupSize, c.HiddenDim)
	}
	return nil
}

// Checkpoint is a llama2.c model in float32, each tensor concatenated over layers as in the file
// (layer l of WQ is WQ[l*Dim*Dim : (l+1)*Dim*Dim], rows are output features).
type Checkpoint struct {
	Config
	TokenEmbedding []float32 // [vocab, dim]
	RMSAtt         []float32 // [layers, dim]
	WQ             []float32 // [layers, dim, dim]
	WK             []float32 // [layers, kv_dim, dim]
	WV             []float32 // [layers, kv_dim, dim]
	WO             []float32 // [layers, dim, dim]
	RMSFFN         []float32 // [layers, dim]
	W1             []float32 // [layers, hidden, dim]  (gate)
	W2             []float32 // [layers, dim, hidden]  (down)
	W3             []float32 // [layers, hidden, dim]  (up)
	RMSFinal       []float32 // [dim]
	WCls           []float32 // [vocab, dim]; nil when the classifier is the embedding
}

type part struct {
	name string
	dst  *[]float32
	n    int64
}

// parts lists the weights in file order (for v0 and v1; v2 differs, see readQ8).
func (ck *Checkpoint) parts() []part {
	c := ck.Config
	L, d, kv, h, v := int64(c.NumLayers), int64(c.Dim), int64(c.KVDim()), int64(c.HiddenDim), int64(c.VocabSize)
	emb := part{"token_embedding", &ck.TokenEmbedding, v * d}
	att := []part{{"rms_att", &ck.RMSAtt, L * d}, {"wq", &ck.WQ, L * d * d}, {"wk", &ck.WK, L * kv * d}, {"wv", &ck.WV, L * kv * d}, {"wo", &ck.WO, L * d * d}}
	ffn := []part{{"rms_ffn", &ck.RMSFFN, L * d}, {"w1", &ck.W1, L * h * d}, {"w2", &ck.W2, L * d * h}, {"w3", &ck.W3, L * h * d}}
	final := part{"rms_final", &ck.RMSFinal, d}
	var out []part
	if c.Version == 0 {
		out = append(out, emb)
		out = append(out, att...)
		out = append(out, ffn...)
		out = append(out, final,
			part{"freq_cis_real", nil, int64(c.SeqLen) * int64(c.HeadSize()) / 2},
			part{"freq_cis_imag", nil, int64(c.SeqLen) * int64(c.HeadSize()) / 2})
	} else {
		out = append(out, att[0], ffn[0], final, emb, att[1], att[2], att[3], att[4], ffn[1], ffn[2], ffn[3])
	}
	if !c.SharedClassifier {
		out = append(out, part{"wcls", &ck.WCls, v * d})
	}
	return out
}

// Read loads a llama2.c checkpoint, checking its size against the header before reading.
func Read(path string) (*Checkpoint, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes a whole checkpoint file's bytes; file names it in errors.
func Parse(file string, data []byte) (*Checkpoint, error) {
	head := data
	if len(head) > versionedHeaderSize {
		head = head[:versionedHeaderSize]
	}
	c, off, err := ParseHeader(file, head)
	if err != nil {
		return nil, err
	}
	ck := &Checkpoint{Config: c}
	if c.Version == 2 {
		return ck, ck.readQ8(file, data, off)
	}
	parts := ck.parts()
	want := int64(off)
	for _, p := range parts {
		want += 4 * p.n
	}
	if int64(len(data)) != want {
		return nil, sizeError(file, c, int64(len(data)), want)
	}
	pos := int64(off)
	for _, p := range parts {
		if p.dst != nil {
			*p.dst = floats(data[pos : pos+4*p.n])
		}
		pos += 4 * p.n
	}
	return ck, nil
}

func sizeError(file string, c Config, have, want int64) error {
	what := "truncated"
	if have > want {
		what = "longer than expected"
	}
	return errf(file, "", "%s: the header (dim %d, hidden %d, %d layers, %d heads, %d kv heads, vocab %d, seq_len %d, shared classifier %v, version %d) needs %d bytes, the file has %d",
		what, c.Dim, c.HiddenDim, c.NumLayers, c.NumHeads, c.NumKVHeads, c.VocabSize, c.SeqLen, c.SharedClassifier, c.Version, want, have)
}

// readQ8 reads a v2 file: float32 norms, then every matrix as int8 groups, then all scales.
func (ck *Checkpoint) readQ8(file string, data []byte, off int) error {
	c := ck.Config
	L, d, kv, h, v := int64(c.NumLayers), int64(c.Dim), int64(c.KVDim()), int64(c.HiddenDim), int64(c.VocabSize)
	norms := []part{{"rms_att", &ck.RMSAtt, L * d}, {"rms_ffn", &ck.RMSFFN, L * d}, {"rms_final", &ck.RMSFinal, d}}
	mats := []part{{"token_embedding", &ck.TokenEmbedding, v * d}, {"wq", &ck.WQ, L * d * d}, {"wk", &ck.WK, L * kv * d},
		{"wv", &ck.WV, L * kv * d}, {"wo", &ck.WO, L * d * d}, {"w1", &ck.W1, L * h * d}, {"w2", &ck.W2, L * d * h}, {"w3", &ck.W3, L * h * d}}
	if !c.SharedClassifier {
		mats = append(mats, part{"wcls", &ck.WCls, v * d})
	}
	g := int64(c.GroupSize)
	want := int64(off)
	for _, p := range norms {
		want += 4 * p.n
	}
	for _, p := range mats {
		want += p.n + 4*(p.n/g)
	}
	if int64(len(data)) != want {
		return sizeError(file, c, int64(len(data)), want)
	}
	pos := int64(off)
	for _, p := range norms {
		*p.dst = floats(data[pos : pos+4*p.n])
		pos += 4 * p.n
	}
	qpos := pos
	spos := pos
	for _, p := range mats {
		spos += p.n
	}
	for _, p := range mats {
		q := data[qpos : qpos+p.n]
		s := floats(data[spos : spos+4*(p.n/g)])
		out := make([]float32, p.n)
		for i := range out {
			out[i] = float32(int8(q[i])) * s[int64(i)/g]
		}
		*p.dst = out
		qpos += p.n
		spos += 4 * (p.n / g)
	}
	return nil
}

func floats(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}
