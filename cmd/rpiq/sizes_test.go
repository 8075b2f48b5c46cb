package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rpiq/rpiq/internal/shareddata"
	"github.com/rpiq/rpiq/models/hf"
)

// tinyLlamaShapes is every tensor of a LLaMA checkpoint with hidden 16, FFN 24, 2 layers,
// 4 heads of 4 (2 KV heads), vocabulary 40.
func tinyLlamaShapes() map[string][]int {
	s := map[string][]int{"model.embed_tokens.weight": {40, 16}, "model.norm.weight": {16}, "lm_head.weight": {40, 16}}
	for i := 0; i < 2; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		for n, sh := range map[string][]int{"input_layernorm.weight": {16}, "post_attention_layernorm.weight": {16},
			"self_attn.q_proj.weight": {16, 16}, "self_attn.k_proj.weight": {8, 16}, "self_attn.v_proj.weight": {8, 16},
			"self_attn.o_proj.weight": {16, 16}, "mlp.gate_proj.weight": {24, 16}, "mlp.up_proj.weight": {24, 16},
			"mlp.down_proj.weight": {16, 24}} {
			s[p+n] = sh
		}
	}
	return s
}

func tinyLlamaConfig(override string) string {
	c := `"architectures":["LlamaForCausalLM"],"hidden_size":16,"intermediate_size":24,"num_hidden_layers":2,` +
		`"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":40,"max_position_embeddings":64,"rms_norm_eps":1e-5`
	if override != "" {
		c += "," + override // a repeated key: encoding/json keeps the last, as Python's json does
	}
	return "{" + c + "}"
}

// Issue 14: a config.json whose sizes do not describe the files (num_hidden_layers 2e9,
// vocab_size 4e9, hidden_size 999999999999) made `rpiq generate` allocate for minutes and
// `rpiq inspect` report the numbers with exit 0. Both now name config.json and the field at once.
func TestConfigSizesCheckedAgainstTensors(t *testing.T) {
	if code, stdout, stderr := runCLI("inspect", tinyHF(t, tinyLlamaConfig(""), tinyLlamaShapes())); code != 0 {
		t.Fatalf("the consistent checkpoint: exit %d: %s%s", code, stdout, stderr)
	}
	wrongFFN := tinyLlamaShapes()
	wrongFFN["model.layers.1.mlp.up_proj.weight"] = []int{20, 16}
	cases := []struct {
		name, override string
		shapes         map[string][]int
		field          string
	}{
		{"layers 2e9", `"num_hidden_layers":2000000000`, nil, "num_hidden_layers"},
		{"layers 3", `"num_hidden_layers":3`, nil, "num_hidden_layers"},
		{"vocab 4e9", `"vocab_size":4000000000`, nil, "vocab_size"},
		{"hidden 999999999999", `"hidden_size":999999999999`, nil, "hidden_size"},
		{"heads", `"num_key_value_heads":4`, nil, "num_key_value_heads"},
		{"one tensor's shape", "", wrongFFN, "model.layers.1.mlp.up_proj.weight"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			shapes := c.shapes
			if shapes == nil {
				shapes = tinyLlamaShapes()
			}
			dir := tinyHF(t, tinyLlamaConfig(c.override), shapes)
			cfgPath := filepath.Join(dir, hf.ConfigFile)
			for _, args := range [][]string{{"inspect", dir}, {"inspect", dir, "--json"}, {"generate", "--model", dir, "--max-tokens", "1", "--device", "cpu"}} {
				type result struct {
					code           int
					stdout, stderr string
				}
				done := make(chan result, 1)
				go func() {
					code, stdout, stderr := runCLI(args...)
					done <- result{code, stdout, stderr}
				}()
				select {
				case r := <-done:
					if r.code != 2 || !strings.Contains(r.stderr, cfgPath) || !strings.Contains(r.stderr, c.field) {
						t.Errorf("%v: exit %d, stderr %q; want 2 naming %s and %s", args[0], r.code, r.stderr, cfgPath, c.field)
					}
				case <-time.After(20 * time.Second):
					t.Fatalf("%v: still running after 20 s", args)
				}
			}
		})
	}
}

// Issue 14: inspect checks the tokenizer: one that does not parse, or that has more tokens than
// the embedding has rows, is a problem (exit 2).
func TestInspectChecksTokenizer(t *testing.T) {
	dir := tinyHF(t, tinyLlamaConfig(""), tinyLlamaShapes())
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(`{"model": {"type": "BPE", "vocab": `), 0o644)
	if code, _, stderr := runCLI("inspect", dir); code != 2 || !strings.Contains(stderr, filepath.Join(dir, "tokenizer.json")) {
		t.Errorf("invalid tokenizer.json: exit %d, stderr %q", code, stderr)
	}
	big, err := os.ReadFile(shareddata.Path(t, "tokenizers/mistral7b/tokenizer.json")) // 32000 tokens
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), big, 0o644)
	if code, _, stderr := runCLI("inspect", dir); code != 2 || !strings.Contains(stderr, "vocab_size: 40, but the tokenizer has 32000 tokens") {
		t.Errorf("tokenizer larger than the vocabulary: exit %d, stderr %q", code, stderr)
	}
}

// The registry path (rpiq vqa → multimodal.Open → hfmodel.Open) checks the vision tower's sizes
// too: a vision_config.num_hidden_layers of 2e9 is a named error at once, not minutes of
// allocation.
func TestVQAChecksVisionSizes(t *testing.T) {
	dir, img := tinyCogVLM(t)
	var cfg map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	json.Unmarshal(b, &cfg)
	cfg["vision_config"].(map[string]any)["num_hidden_layers"] = 2000000000
	b, _ = json.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, _, stderr := runCLI("vqa", "--model", dir, "--image", img, "--question", "q", "--device", "cpu")
		done <- result{code, stderr}
	}()
	select {
	case r := <-done:
		if r.code != 2 || !strings.Contains(r.stderr, "vision_config.num_hidden_layers") {
			t.Fatalf("exit %d, stderr %q; want 2 naming vision_config.num_hidden_layers", r.code, r.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("rpiq vqa still running after 20 s")
	}
}
