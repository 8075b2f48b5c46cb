package gguf

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/runtime/backend"
)

// llama.cpp divides pair i's frequency by rope_freqs[i]; HF's llama3 rule (runtime/backend,
// written from transformers' _compute_llama3_parameters) scales it. The two must agree: the
// unscaled frequency over the scaled one is the factor.
func checkAgainstHF(t *testing.T, theta float64, hd int, s *hf.RopeScaling, got []float32) {
	t.Helper()
	plain := backend.InvFreq(theta, hd, nil)
	scaled := backend.InvFreq(theta, hd, &backend.RopeScaling{Type: "llama3", Factor: s.Factor, LowFreqFactor: s.LowFreqFactor,
		HighFreqFactor: s.HighFreqFactor, OriginalMaxPositions: s.OriginalMaxPositions})
	if len(got) != hd/2 {
		t.Fatalf("%d factors, want %d", len(got), hd/2)
	}
	for i := range got {
		want := float64(plain[i]) / float64(scaled[i])
		if math.Abs(float64(got[i])-want) > 2e-6*want {
			t.Errorf("pair %d: factor %.9g, HF's rule gives %.9g", i, got[i], want)
		}
	}
}

// Llama-3.1-8B's config (rope_theta 500000, head_dim 128, factor 8, low 1, high 4, 8192).
func TestLlama3RopeFactorsLlama31(t *testing.T) {
	s := &hf.RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192}
	f := Llama3RopeFactors(500000, 128, s)
	checkAgainstHF(t, 500000, 128, s, f)
	ones, eights := 0, 0
	for i, v := range f {
		switch {
		case v == 1:
			ones++
		case v == 8:
			eights++
		case v < 1 || v > 8 || (i > 0 && v < f[i-1]):
			t.Errorf("pair %d: %g is not between 1 and 8 or not rising", i, v)
		}
	}
	// By hand: 2π·500000^(i/64) < 2048 ⇔ i < 64·ln(325.95)/ln(500000) = 28.2, so pairs 0-28 keep
	// their frequency; > 8192 ⇔ i > 64·ln(1303.8)/ln(500000) = 35.0, so pairs 35-63 are divided
	// by 8; pairs 29-34 are smoothed.
	if ones != 29 || eights != 29 {
		t.Errorf("%d ones and %d eights, want 29 and 29", ones, eights)
	}
}

// Issue 14: `rpiq export --gguf` refused every Llama-3.1/3.2 checkpoint. It now writes
// rope_freqs.weight (F32, head_dim/2, first, as the converter yields it) and nothing else changes.
func TestExportLlama3RopeScaling(t *testing.T) {
	src, _ := stories(t)
	dir := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
		b, _ := os.ReadFile(filepath.Join(src, f))
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	var cfg map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	json.Unmarshal(b, &cfg)
	// head_dim 8, θ 10000: wavelengths 6.3, 63, 628, 6283 against 256 and 1024 → 1, 1, smooth, factor
	rs := map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 1024}
	cfg["rope_scaling"] = rs
	hf.WriteJSON(filepath.Join(dir, "config.json"), cfg)
	c, err := hf.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, rep := exportAndRead(t, dir, ExportOptions{})
	plain, _ := exportAndRead(t, src, ExportOptions{})
	rf := f.Tensors[0]
	if rf.Name != "rope_freqs.weight" || rf.Type != F32 || len(rf.Dims) != 1 || rf.Dims[0] != 4 || rep.Tensors[0].Rule != "computed" {
		t.Fatalf("first tensor %s %v %v (%s), want rope_freqs.weight F32 [4]", rf.Name, rf.Type, rf.Dims, rep.Tensors[0].Rule)
	}
	got := make([]float32, 4)
	for i := range got {
		got[i] = math.Float32frombits(uint32(rf.Data[4*i]) | uint32(rf.Data[4*i+1])<<8 | uint32(rf.Data[4*i+2])<<16 | uint32(rf.Data[4*i+3])<<24)
	}
	if got[0] != 1 || got[1] != 1 || !(got[2] > 1 && got[2] < 8) || got[3] != 8 {
		t.Fatalf("factors %v, want 1, 1, between 1 and 8, 8", got)
	}
	checkAgainstHF(t, c.RopeTheta, c.HeadDim, c.RopeScaling, got)
	if len(f.Tensors) != len(plain.Tensors)+1 {
		t.Fatalf("%d tensors, want the %d of the unscaled export + 1", len(f.Tensors), len(plain.Tensors))
	}
	for i, tn := range plain.Tensors {
		if o := f.Tensors[i+1]; o.Name != tn.Name || string(o.Data) != string(tn.Data) {
			t.Fatalf("tensor %s differs from the unscaled export", tn.Name)
		}
	}
}
