package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
)

// TestGenerateChildProcess is not a test: it is the child process of
// TestGeneratePeakMemory, running `rpiq generate` in a fresh process so its peak RSS can be read.
func TestGenerateChildProcess(t *testing.T) {
	args := os.Getenv("RPIQ_GENERATE_CHILD_ARGS")
	if args == "" {
		t.Skip("helper process for TestGeneratePeakMemory")
	}
	code := run(strings.Split(args, "\x1f"), os.Stdout, os.Stderr)
	// The peak is read here, from this process's own memory map: the rusage maxrss a parent
	// gets from wait4 also counts the parent's own high-water mark, which Linux carries across
	// the vfork+exec Go uses to start children.
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			os.WriteFile(os.Getenv("RPIQ_GENERATE_CHILD_PEAK"), []byte(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))), 0o644)
		}
	}
	os.Exit(code)
}

// Peak memory of `rpiq generate` must stay within 1.1× the weight bytes plus the KV cache:
// float32 weights are used in place from the memory-mapped safetensors file.
func TestGeneratePeakMemory(t *testing.T) {
	tok := shareddata.Path(t, "llama2c/tok512.bin")
	const H, I, L, V = 1024, 4096, 8, 512 // ≈ 135M parameters, 540 MB of float32 (runtime overhead ~20 MB)
	dir := t.TempDir()
	var ts []safetensors.Tensor
	var weightBytes int64
	x := uint32(1)
	add := func(name string, ones bool, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		b := make([]byte, 4*n)
		for i := 0; i < n; i++ {
			v := float32(1)
			if !ones {
				x = x*1664525 + 1013904223
				v = (float32(x>>8)/(1<<24) - 0.5) * 0.05
			}
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		ts = append(ts, safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: shape, Data: b})
		weightBytes += int64(len(b))
	}
	add("model.embed_tokens.weight", false, V, H)
	for i := 0; i < L; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		add(p+"input_layernorm.weight", true, H)
		add(p+"post_attention_layernorm.weight", true, H)
		for _, n := range []string{"q_proj", "k_proj", "v_proj", "o_proj"} {
			add(p+"self_attn."+n+".weight", false, H, H)
		}
		add(p+"mlp.gate_proj.weight", false, I, H)
		add(p+"mlp.up_proj.weight", false, I, H)
		add(p+"mlp.down_proj.weight", false, H, I)
	}
	add("model.norm.weight", true, H)
	add("lm_head.weight", false, V, H)
	if err := hf.WriteCheckpoint(dir, ts, nil, 0); err != nil {
		t.Fatal(err)
	}
	ts = nil
	cfg := map[string]any{"architectures": []string{"LlamaForCausalLM"}, "hidden_size": H, "intermediate_size": I,
		"num_hidden_layers": L, "num_attention_heads": 16, "vocab_size": V, "max_position_embeddings": 512}
	if err := hf.WriteJSON(filepath.Join(dir, "config.json"), cfg); err != nil {
		t.Fatal(err)
	}
	tb, err := os.ReadFile(tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.bin"), tb, 0o644); err != nil {
		t.Fatal(err)
	}
	const newTokens = 32
	args := []string{"generate", "--model", dir, "--temperature", "0", "--max-tokens", fmt.Sprint(newTokens), "--threads", "2"}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGenerateChildProcess$")
	peakFile := filepath.Join(t.TempDir(), "peak")
	cmd.Env = append(os.Environ(), "RPIQ_GENERATE_CHILD_ARGS="+strings.Join(args, "\x1f"), "RPIQ_GENERATE_CHILD_PEAK="+peakFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("generate: %v\n%s", err, stderr.String())
	}
	hwm, err := os.ReadFile(peakFile)
	if err != nil {
		t.Fatalf("the child did not report its peak: %v\n%s", err, stderr.String())
	}
	var kib int64
	if _, err := fmt.Sscanf(string(hwm), "%d kB", &kib); err != nil {
		t.Fatalf("VmHWM %q: %v", hwm, err)
	}
	peak := kib * 1024
	kv := int64(2 * L * H * 4 * (1 + newTokens))
	limit := float64(weightBytes+kv) * 1.1
	t.Logf("peak RSS %.1f MB; weights %.1f MB + KV %.2f MB; limit %.1f MB", float64(peak)/1e6, float64(weightBytes)/1e6, float64(kv)/1e6, limit/1e6)
	if float64(peak) > limit {
		t.Fatalf("peak RSS %d bytes exceeds 1.1 × (weights %d + KV cache %d)", peak, weightBytes, kv)
	}
	if peak < weightBytes {
		t.Fatalf("peak RSS %d is below the weight bytes %d: the model cannot have run", peak, weightBytes)
	}
}
