package bench

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/rpiq/rpiq/kernels/cpu"
	"github.com/rpiq/rpiq/kernels/cpu/q"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/models/smolvlm"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/sample"
)

// SmolVLMOptions select what SmolVLM runs.
type SmolVLMOptions struct {
	Sizes       []smolvlm.Sizes // default 256M and 500M, plus 2.2B when the filter names it
	Threads     int             // default cpu.DefaultThreads()
	DecodeSteps int             // default 32
	TextTokens  int             // prompt tokens besides the image's (default 16: chat template + question)
	Filter      func(name string) bool
}

// SmolVLMResult is one `rpiq bench` entry (its --json result format).
type SmolVLMResult struct {
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

func (r SmolVLMResult) String() string {
	return fmt.Sprintf("%-14s threads=%d image→first token %8.1f ms (CPU %.0f ms; preprocess %.0f, vision %.0f/tile, prefill %d tokens %.0f ms)  decode %6.1f tok/s (CPU %.1f ms/token)  resident %.0f MB (heap %.0f)  | Orin Nano bound: %.0f ms, %.0f tok/s  %s",
		r.Name, r.Threads, r.ImageToFirstToken, r.ImageToFirstTokenCPUMs, r.PreprocessMs, r.VisionMsPerTile, r.PromptTokens, r.PrefillMs, r.DecodeTokS, r.DecodeCPUMsPerToken, r.ResidentMB, r.HeapMB, r.OrinImageToFirstTokenMs, r.OrinDecodeTokS, r.Note)
}

// SmolVLM measures each size with random weights at smolvlm.BenchBits: one image of one tile (the
// encoder's side, 512 px for 256M/500M) from pixels to the first answer token (preprocess,
// encode, prefill of the image and TextTokens more, the first argmax; best of 2), then
// DecodeSteps decode steps, the live heap with the model and KV cache, and the Orin Nano
// roofline of the same question.
func SmolVLM(o SmolVLMOptions) ([]SmolVLMResult, error) {
	want := func(n string) bool { return o.Filter == nil || o.Filter(n) }
	if o.Sizes == nil {
		o.Sizes = []smolvlm.Sizes{smolvlm.Sizes256M, smolvlm.Sizes500M}
		if o.Filter != nil && o.Filter(smolvlm.Sizes2B.Name) {
			o.Sizes = append(o.Sizes, smolvlm.Sizes2B)
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
	var out []SmolVLMResult
	for _, s := range o.Sizes {
		if !want(s.Name) {
			continue
		}
		r, err := smolvlmOne(s, o)
		if err != nil {
			return out, fmt.Errorf("%s: %w", s.Name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func smolvlmOne(s smolvlm.Sizes, o SmolVLMOptions) (SmolVLMResult, error) {
	cfg, err := s.Config()
	if err != nil {
		return SmolVLMResult{}, err
	}
	mem, qc := smolvlm.RandomGPTQ(cfg, smolvlm.BenchBits, 1)
	cfg.Quantization, cfg.Text.Quantization = qc, qc
	be := cpubackend.New(o.Threads)
	m, err := smolvlm.New(cfg, &hfmodel.Weights{Checkpoint: mem, Backend: be})
	if err != nil {
		return SmolVLMResult{}, err
	}
	mem = nil
	T := cfg.Vision.ImageSize
	pc := smolvlm.DefaultProcessorConfig(T)
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
	res := SmolVLMResult{Name: s.Name, Kernel: q.Active(), Threads: o.Threads, ImagePx: T}
	maxSeq := 0
	var seq *smolvlm.Sequence
	best := math.Inf(1)
	var next int32
	for try := 0; try < 2; try++ {
		c0 := processCPU()
		t0 := time.Now()
		px, err := smolvlm.Preprocess("bench", img, pc)
		if err != nil {
			return res, err
		}
		t1 := time.Now()
		emb, err := m.EncodeTile(px.Tiles[0])
		if err != nil {
			return res, err
		}
		t2 := time.Now()
		ids := smolvlmIDs(cfg, text)
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
	k := cfg.QuestionCost(1, o.TextTokens, o.DecodeSteps, smolvlm.BenchBits)
	res.VisionGFLOPs = k.TileFLOPs / (res.VisionMsPerTile / 1000) / 1e9
	e := k.On(smolvlm.JetsonOrinNano8GB)
	res.OrinTileMs = 1000 * e.TileSec
	res.OrinImageToFirstTokenMs = 1000 * e.FirstTokenSec(1)
	res.OrinDecodeTokS = 1 / e.DecodeSecPerToken
	// The published default: longest edge 4·T, so a square photo is 4×4 tiles + the global one.
	res.FullSplitTiles = 17
	full := cfg.QuestionCost(17, o.TextTokens, o.DecodeSteps, smolvlm.BenchBits)
	prefillRate := k.PrefillFLOPs / (res.PrefillMs / 1000) // FLOP/s measured on the 1-tile prompt
	res.FullSplitFirstMs = 17*res.VisionMsPerTile + 1000*full.PrefillFLOPs/prefillRate
	res.Note = fmt.Sprintf("random weights, decoder 4-bit, vision/connector/head 8-bit, g128; %s; Orin Nano: %.0f GB/s, %.0f TFLOP/s", k, smolvlm.JetsonOrinNano8GB.BytesS/1e9, smolvlm.JetsonOrinNano8GB.FLOPs/1e12)
	return res, nil
}

// smolvlmIDs is the prompt of one single-tile image and text: <fake><global-img> the image
// tokens <fake>, then text (standing for the chat template and the question).
func smolvlmIDs(cfg *smolvlm.Config, text []int32) []int32 {
	ids := []int32{1, 11, 12} // <|im_start|>User:
	ids = append(ids, 13, 14)
	for range cfg.ImageSeqLen() {
		ids = append(ids, int32(cfg.ImageTokenID))
	}
	ids = append(ids, 13)
	return append(ids, text...)
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
