package smolvlm

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/rpiq/rpiq/kernels/cpu"
	"github.com/rpiq/rpiq/kernels/cpu/q"
	"github.com/rpiq/rpiq/kernels/half"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/sample"
)

// BenchBits is the storage the benchmarks run: decoder 4-bit, vision encoder, connector and
// head 8-bit, group 128 (embeddings, norms, biases and the patch embedding stay 16/32-bit).
var BenchBits = Bits{Decoder: 4, Vision: 8, Connector: 8, Head: 8, GroupSize: 128}

// RandomGPTQ is a checkpoint of cfg whose linears are GPTQ-packed with bits (random codes,
// symmetric zeros, fp16 scales about 1/(8·√in) so activations stay O(1); speed does not depend
// on values), the embeddings BF16 and the rest F32, with the quantization_config (per-part bits
// in "dynamic") that binds it. Each tensor is drawn when it is read, so building a model from it
// holds one packed tensor at a time beside the bound weights (the 2.2B shape would otherwise
// need its packed copy and its repacked copy at once).
func RandomGPTQ(cfg *Config, bits Bits, seed uint64) (hfmodel.Tensors, *hf.QuantizationConfig) {
	lt := &lazyTensors{info: map[string]safetensors.TensorInfo{}, gen: map[string]func() []byte{}}
	qc := &hf.QuantizationConfig{Method: "gptq", Bits: bits.Decoder, GroupSize: bits.GroupSize, Sym: true,
		CheckpointFormat: "gptq", LMHead: bits.Head < 16, Source: "(random)", Raw: map[string]any{}}
	dyn := map[string]any{}
	for _, p := range partPatterns {
		if b := bits.Of(p.part); b < 16 {
			dyn["+:"+p.re] = map[string]any{"bits": json.Number(strconv.Itoa(b))}
		}
	}
	qc.Raw["dynamic"] = dyn
	add := func(name string, dt safetensors.DType, shape []int, gen func(r *rand.Rand) []byte) {
		es, _ := dt.Size()
		n := int64(es)
		for _, d := range shape {
			n *= int64(d)
		}
		lt.info[name] = safetensors.TensorInfo{Name: name, DType: dt, Shape: shape, End: n}
		h := seed
		for _, c := range name {
			h = h*1099511628211 ^ uint64(c)
		}
		lt.gen[name] = func() []byte { return gen(rand.New(rand.NewPCG(h, seed))) }
	}
	words := func(n int) func(r *rand.Rand) []byte {
		return func(r *rand.Rand) []byte {
			b := make([]byte, 4*n)
			for i := 0; i+8 <= len(b); i += 8 {
				binary.LittleEndian.PutUint64(b[i:], r.Uint64())
			}
			return b
		}
	}
	for _, ts := range cfg.Tensors() {
		b := bits.Of(PartOf(ts))
		name, shape := ts.Name, ts.Shape
		n := int(ts.Numel())
		if b >= 16 {
			if strings.Contains(name, "embed_tokens") {
				add(name, safetensors.BF16, shape, func(r *rand.Rand) []byte {
					e := make([]byte, 2*n)
					for i := 0; i < n; i++ {
						binary.LittleEndian.PutUint16(e[2*i:], half.F32ToBF16(float32(r.NormFloat64())))
					}
					return e
				})
				continue
			}
			fan := 1
			if len(shape) > 1 {
				fan = n / shape[0]
			}
			add(name, safetensors.F32, shape, func(r *rand.Rand) []byte {
				v := make([]float32, n)
				for i := range v {
					switch {
					case strings.Contains(name, "norm") && strings.HasSuffix(name, ".weight"):
						v[i] = 1
					case strings.HasSuffix(name, ".bias"):
					default:
						v[i] = float32(r.NormFloat64() / math.Sqrt(float64(fan)))
					}
				}
				return f32bytes(v)
			})
			continue
		}
		out, in := shape[0], shape[1]
		groups := 1
		if bits.GroupSize > 0 {
			groups = (in + bits.GroupSize - 1) / bits.GroupSize
		}
		prefix := strings.TrimSuffix(name, ".weight")
		z := uint32(0x77777777) // v1 symmetric 4-bit: stored zero−1 = 7 in every nibble
		scale := float32(1 / (8 * math.Sqrt(float64(in))))
		if b == 8 {
			z, scale = 0x7f7f7f7f, scale/16
		}
		zcols := (out*b + 31) / 32
		add(prefix+".qweight", safetensors.I32, []int{in * b / 32, out}, words((in*b/32)*out))
		add(prefix+".qzeros", safetensors.I32, []int{groups, zcols}, func(*rand.Rand) []byte {
			zw := make([]byte, 4*groups*zcols)
			for i := 0; i < len(zw); i += 4 {
				binary.LittleEndian.PutUint32(zw[i:], z)
			}
			return zw
		})
		add(prefix+".scales", safetensors.F16, []int{groups, out}, func(*rand.Rand) []byte {
			sc := make([]byte, 2*groups*out)
			h := half.F32ToF16(scale)
			for i := 0; i < len(sc); i += 2 {
				binary.LittleEndian.PutUint16(sc[i:], h)
			}
			return sc
		})
	}
	return lt, qc
}

// lazyTensors is a checkpoint whose tensors are generated when read.
type lazyTensors struct {
	info map[string]safetensors.TensorInfo
	gen  map[string]func() []byte
}

func (l *lazyTensors) Dir() string { return "(random)" }

func (l *lazyTensors) Info(name string) (safetensors.TensorInfo, bool) {
	i, ok := l.info[name]
	return i, ok
}

func (l *lazyTensors) File(name string) (string, bool) { _, ok := l.info[name]; return "(random)", ok }

func (l *lazyTensors) Raw(name string) (safetensors.TensorInfo, []byte, error) {
	i, ok := l.info[name]
	if !ok {
		return i, nil, fmt.Errorf("(random): tensor %q: not in the checkpoint", name)
	}
	return i, l.gen[name](), nil
}

func (l *lazyTensors) CheckShape(name string, shape ...int) error {
	i, ok := l.info[name]
	if !ok {
		return fmt.Errorf("(random): tensor %q: not in the checkpoint", name)
	}
	if len(i.Shape) != len(shape) {
		return fmt.Errorf("(random): tensor %q: shape is %v, want %v", name, i.Shape, shape)
	}
	for k := range shape {
		if i.Shape[k] != shape[k] {
			return fmt.Errorf("(random): tensor %q: shape is %v, want %v", name, i.Shape, shape)
		}
	}
	return nil
}

func (l *lazyTensors) Float32(name string, shape ...int) ([]float32, error) {
	if len(shape) > 0 {
		if err := l.CheckShape(name, shape...); err != nil {
			return nil, err
		}
	}
	i, b, err := l.Raw(name)
	if err != nil {
		return nil, err
	}
	es, _ := i.DType.Size()
	out := make([]float32, len(b)/es)
	switch i.DType {
	case safetensors.F32:
		for k := range out {
			out[k] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*k:]))
		}
	case safetensors.BF16:
		half.BF16SliceToF32(out, b)
	default:
		return nil, fmt.Errorf("(random): tensor %q: dtype %s", name, i.DType)
	}
	return out, nil
}

// BenchOptions select what Bench runs.
type BenchOptions struct {
	Sizes       []Sizes // default 256M and 500M, plus 2.2B when the filter names it
	Threads     int     // default cpu.DefaultThreads()
	DecodeSteps int     // default 32
	TextTokens  int     // prompt tokens besides the image's (default 16: chat template + question)
	Filter      func(name string) bool
}

// BenchResult is one `rpiq bench` entry (its --json result format).
type BenchResult struct {
	Name              string  `json:"name"`
	Kernel            string  `json:"kernel"`
	Threads           int     `json:"threads"`
	Ms                float64 `json:"ms"` // = image_to_first_token_ms
	ImageToFirstToken float64 `json:"image_to_first_token_ms"`
	ImagePx           int     `json:"image_px"`
	Tiles             int     `json:"tiles"`
	PreprocessMs      float64 `json:"preprocess_ms"`
	VisionMsPerTile   float64 `json:"vision_ms_per_tile"`
	VisionGFLOPs      float64 `json:"vision_gflop_s"`
	PrefillMs         float64 `json:"prefill_ms"`
	PromptTokens      int     `json:"prompt_tokens"`
	DecodeTokS        float64 `json:"decode_tok_s"`
	ResidentMB        float64 `json:"resident_mb"` // process RSS with the model and KV cache loaded, after a GC
	HeapMB            float64 `json:"heap_mb"`     // the live Go heap then (weights, KV cache)
	WeightsMB         float64 `json:"weights_mb"`
	// Projected on a Jetson Orin Nano 8GB (roofline: ideal efficiency).
	OrinTileMs              float64 `json:"orin_nano_vision_ms_per_tile"`
	OrinImageToFirstTokenMs float64 `json:"orin_nano_image_to_first_token_ms"`
	OrinDecodeTokS          float64 `json:"orin_nano_decode_tok_s"`
	// With the published processor default (longest edge 4 tiles: a square photo is 4×4 + 1
	// tiles), from the measured per-tile time and prefill rate.
	// CPU time (user + system, all threads) of the same phases: on a shared machine,
	// cpu_ms / threads is what the phase would take with the CPUs to itself (if it scales).
	ImageToFirstTokenCPUMs float64 `json:"image_to_first_token_cpu_ms"`
	DecodeCPUMsPerToken    float64 `json:"decode_cpu_ms_per_token"`
	FullSplitTiles         int     `json:"full_split_tiles"`
	FullSplitFirstMs       float64 `json:"full_split_image_to_first_token_ms_est"`
	Note                   string  `json:"note,omitempty"`
}

func (r BenchResult) String() string {
	return fmt.Sprintf("%-14s threads=%d image→first token %8.1f ms (CPU %.0f ms; preprocess %.0f, vision %.0f/tile, prefill %d tokens %.0f ms)  decode %6.1f tok/s (CPU %.1f ms/token)  resident %.0f MB (heap %.0f)  | Orin Nano bound: %.0f ms, %.0f tok/s  %s",
		r.Name, r.Threads, r.ImageToFirstToken, r.ImageToFirstTokenCPUMs, r.PreprocessMs, r.VisionMsPerTile, r.PromptTokens, r.PrefillMs, r.DecodeTokS, r.DecodeCPUMsPerToken, r.ResidentMB, r.HeapMB, r.OrinImageToFirstTokenMs, r.OrinDecodeTokS, r.Note)
}

// Bench measures each size with random weights at BenchBits: one image of one tile (the
// encoder's side, 512 px for 256M/500M) from pixels to the first answer token (preprocess,
// encode, prefill of the image and TextTokens more, the first argmax; best of 2), then
// DecodeSteps decode steps, the live heap with the model and KV cache, and the Orin Nano
// roofline of the same question.
func Bench(o BenchOptions) ([]BenchResult, error) {
	want := func(n string) bool { return o.Filter == nil || o.Filter(n) }
	if o.Sizes == nil {
		o.Sizes = []Sizes{Sizes256M, Sizes500M}
		if o.Filter != nil && o.Filter(Sizes2B.Name) {
			o.Sizes = append(o.Sizes, Sizes2B)
		}
	}
	if o.Threads <= 0 {
		o.Threads = cpu.DefaultThreads()
	}
	if o.DecodeSteps <= 0 {
		o.DecodeSteps = 32
	}
	if o.TextTokens <= 0 {
		o.TextTokens = 16
	}
	var out []BenchResult
	for _, s := range o.Sizes {
		if !want(s.Name) {
			continue
		}
		r, err := benchOne(s, o)
		if err != nil {
			return out, fmt.Errorf("%s: %w", s.Name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func benchOne(s Sizes, o BenchOptions) (BenchResult, error) {
	cfg, err := s.Config()
	if err != nil {
		return BenchResult{}, err
	}
	mem, qc := RandomGPTQ(cfg, BenchBits, 1)
	cfg.Quantization, cfg.Text.Quantization = qc, qc
	be := cpubackend.New(o.Threads)
	m, err := New(cfg, &hfmodel.Weights{Checkpoint: mem, Backend: be})
	if err != nil {
		return BenchResult{}, err
	}
	mem = nil
	T := cfg.Vision.ImageSize
	pc := DefaultProcessorConfig(T)
	pc.LongestEdge = T // one tile: the image at the encoder's side
	img := image.NewRGBA(image.Rect(0, 0, T, T))
	rr := rand.New(rand.NewPCG(5, 6))
	for i := range img.Pix {
		img.Pix[i] = uint8(rr.IntN(256))
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	text := make([]int32, o.TextTokens)
	for i := range text {
		text[i] = int32(100 + rr.IntN(cfg.ImageTokenID-100))
	}
	res := BenchResult{Name: s.Name, Kernel: q.Active(), Threads: o.Threads, ImagePx: T}
	maxSeq := 0
	var seq *Sequence
	best := math.Inf(1)
	var next int32
	for try := 0; try < 2; try++ {
		c0 := processCPU()
		t0 := time.Now()
		px, err := Preprocess("bench", img, pc)
		if err != nil {
			return res, err
		}
		t1 := time.Now()
		emb, err := m.EncodeTile(px.Tiles[0])
		if err != nil {
			return res, err
		}
		t2 := time.Now()
		ids := benchIDs(cfg, text)
		maxSeq = len(ids) + o.DecodeSteps + 1
		seq = m.NewSequence(maxSeq)
		logits, err := m.Forward(seq, ids, emb)
		if err != nil {
			return res, err
		}
		next = int32(sample.Argmax(logits))
		t3 := time.Now()
		if tot := t3.Sub(t0).Seconds(); tot < best {
			best = tot
			res.ImageToFirstTokenCPUMs = 1000 * (processCPU() - c0)
			res.Tiles = len(px.Tiles)
			res.PreprocessMs, res.VisionMsPerTile, res.PrefillMs = ms(t1.Sub(t0)), ms(t2.Sub(t1)), ms(t3.Sub(t2))
			res.PromptTokens = len(ids)
		}
	}
	res.ImageToFirstToken = 1000 * best
	res.Ms = res.ImageToFirstToken
	c0 := processCPU()
	t := time.Now()
	for i := 0; i < o.DecodeSteps; i++ {
		l, err := m.Forward(seq, []int32{next}, nil)
		if err != nil {
			return res, err
		}
		next = int32(sample.Argmax(l))
	}
	res.DecodeTokS = float64(o.DecodeSteps) / time.Since(t).Seconds()
	res.DecodeCPUMsPerToken = 1000 * (processCPU() - c0) / float64(o.DecodeSteps)
	runtime.GC()
	debug.FreeOSMemory() // return the in-memory checkpoint's pages, so RSS is what stays
	res.HeapMB = float64(heapBytes()) / 1e6
	res.ResidentMB = processRSS() / 1e6
	res.WeightsMB = float64(m.ResidentWeightBytes()) / 1e6
	k := cfg.QuestionCost(1, o.TextTokens, o.DecodeSteps, BenchBits)
	res.VisionGFLOPs = k.TileFLOPs / (res.VisionMsPerTile / 1000) / 1e9
	e := k.On(JetsonOrinNano8GB)
	res.OrinTileMs = 1000 * e.TileSec
	res.OrinImageToFirstTokenMs = 1000 * e.FirstTokenSec(1)
	res.OrinDecodeTokS = 1 / e.DecodeSecPerToken
	// The published default: longest edge 4·T, so a square photo is 4×4 tiles + the global one.
	res.FullSplitTiles = 17
	full := cfg.QuestionCost(17, o.TextTokens, o.DecodeSteps, BenchBits)
	prefillRate := k.PrefillFLOPs / (res.PrefillMs / 1000) // FLOP/s measured on the 1-tile prompt
	res.FullSplitFirstMs = 17*res.VisionMsPerTile + 1000*full.PrefillFLOPs/prefillRate
	res.Note = fmt.Sprintf("random weights, decoder 4-bit, vision/connector/head 8-bit, g128; %s; Orin Nano: %.0f GB/s, %.0f TFLOP/s", k, JetsonOrinNano8GB.BytesS/1e9, JetsonOrinNano8GB.FLOPs/1e12)
	return res, nil
}

// benchIDs is the prompt of one single-tile image and text: <fake><global-img> the image
// tokens <fake>, then text (standing for the chat template and the question).
func benchIDs(cfg *Config, text []int32) []int32 {
	ids := []int32{1, 11, 12} // <|im_start|>User:
	ids = append(ids, 13, 14)
	for range cfg.ImageSeqLen() {
		ids = append(ids, int32(cfg.ImageTokenID))
	}
	ids = append(ids, 13)
	return append(ids, text...)
}

// ResidentWeightBytes is the memory the bound weights take in the backend's layouts
// (repacked quantized matrices; dense ones as stored).
func (m *Model) ResidentWeightBytes() int64 {
	n := int64(0)
	for _, l := range m.Linears() {
		n += weightBytes(l.W)
		if l.B != nil {
			n += int64(4 * l.B.Cols())
		}
	}
	n += weightBytes(m.embed) + weightBytes(m.patch.W)
	return n
}

func weightBytes(w backend.Weight) int64 {
	if g, ok := w.(*cpubackend.GPTQ); ok {
		return int64(g.Bytes())
	}
	return int64(w.Rows()*w.Cols()) * int64(w.DType().Size())
}

func heapBytes() int64 {
	s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	rtmetrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// processRSS is VmRSS from /proc/self/status (0 where there is none).
func processRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb * 1024
		}
	}
	return 0
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
