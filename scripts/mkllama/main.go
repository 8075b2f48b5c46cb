// Command mkllama writes a deterministic random LLaMA checkpoint in the Hugging Face layout
// (config.json, model.safetensors in BF16, and the tokenizer files copied from --tokenizer), by
// default of Llama-3.2-1B's shape: hidden 2048, 16 layers, 32/8 heads, FFN 8192, vocabulary
// 128256, tied embeddings, llama3 rope scaling. scripts/race-llamacpp.sh races rpiq against
// llama.cpp on it; nothing is downloaded. The same flags give the same bytes on every machine.
//
//	go run ./scripts/mkllama --out DIR --tokenizer ../shared/data/tokenizers/llama3
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/rpiq/rpiq/models/hf/safetensors"
)

type shape struct {
	hidden, inter, layers, heads, kvHeads, vocab int
}

func main() {
	out := flag.String("out", "", "output directory (created)")
	tok := flag.String("tokenizer", "", "directory with tokenizer.json (and tokenizer_config.json) to copy; a Llama 3 tokenizer for the default vocabulary")
	s := shape{}
	flag.IntVar(&s.hidden, "hidden", 2048, "hidden size")
	flag.IntVar(&s.inter, "inter", 8192, "FFN intermediate size")
	flag.IntVar(&s.layers, "layers", 16, "decoder layers")
	flag.IntVar(&s.heads, "heads", 32, "attention heads")
	flag.IntVar(&s.kvHeads, "kv-heads", 8, "key/value heads")
	flag.IntVar(&s.vocab, "vocab", 128256, "vocabulary size")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: mkllama --out DIR [--tokenizer DIR] [--hidden N --inter N --layers N --heads N --kv-heads N --vocab N --seed N]")
		os.Exit(2)
	}
	if s.hidden <= 0 || s.inter <= 0 || s.layers <= 0 || s.heads <= 0 || s.kvHeads <= 0 || s.vocab <= 0 ||
		s.hidden%s.heads != 0 || s.heads%s.kvHeads != 0 || (s.hidden/s.heads)%2 != 0 {
		fmt.Fprintf(os.Stderr, "mkllama: shape %+v: want positive sizes, hidden divisible by heads into an even head_dim, heads by kv-heads\n", s)
		os.Exit(2)
	}
	if err := run(*out, *tok, s, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "mkllama:", err)
		os.Exit(1)
	}
}

func run(dir, tok string, s shape, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if tok != "" {
		if err := copyFile(filepath.Join(tok, "tokenizer.json"), filepath.Join(dir, "tokenizer.json")); err != nil {
			return err
		}
		if err := copyFile(filepath.Join(tok, "tokenizer_config.json"), filepath.Join(dir, "tokenizer_config.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	hd := s.hidden / s.heads
	cfg := map[string]any{
		"architectures":           []string{"LlamaForCausalLM"},
		"model_type":              "llama",
		"hidden_size":             s.hidden,
		"intermediate_size":       s.inter,
		"num_hidden_layers":       s.layers,
		"num_attention_heads":     s.heads,
		"num_key_value_heads":     s.kvHeads,
		"head_dim":                hd,
		"vocab_size":              s.vocab,
		"max_position_embeddings": 131072,
		"rms_norm_eps":            1e-5,
		"rope_theta":              500000.0,
		"rope_scaling": map[string]any{"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
			"high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
		"hidden_act":          "silu",
		"tie_word_embeddings": true,
		"attention_bias":      false,
		"mlp_bias":            false,
		"bos_token_id":        128000,
		"eos_token_id":        128001,
		"torch_dtype":         "bfloat16",
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := safetensors.WriteFileAtomic(filepath.Join(dir, "config.json"), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}); err != nil {
		return err
	}

	var src []safetensors.Source
	n := uint64(0)
	// Random weights with the spread of a trained model's (std ≈ 0.02 for the embedding, about
	// 1/sqrt(fan-in) for the projections, so activations neither vanish nor blow up).
	matrix := func(name string, rows, cols int) {
		n++
		sd, scale := seed*1000003+n, float32(1/math.Sqrt(float64(cols)))
		if name == "model.embed_tokens.weight" {
			scale = 0.02
		}
		src = append(src, safetensors.Source{Name: name, DType: safetensors.BF16, Shape: []int{rows, cols},
			Fill: func(w io.Writer) error { return fillBF16(w, rows*cols, sd, scale) }})
	}
	ones := func(name string, k int) {
		src = append(src, safetensors.Source{Name: name, DType: safetensors.BF16, Shape: []int{k},
			Fill: func(w io.Writer) error {
				buf := make([]byte, 2*k)
				for i := 0; i < k; i++ {
					buf[2*i], buf[2*i+1] = 0x80, 0x3f // bf16 1.0
				}
				_, err := w.Write(buf)
				return err
			}})
	}
	matrix("model.embed_tokens.weight", s.vocab, s.hidden)
	for i := 0; i < s.layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		ones(p+"input_layernorm.weight", s.hidden)
		ones(p+"post_attention_layernorm.weight", s.hidden)
		matrix(p+"self_attn.q_proj.weight", s.heads*hd, s.hidden)
		matrix(p+"self_attn.k_proj.weight", s.kvHeads*hd, s.hidden)
		matrix(p+"self_attn.v_proj.weight", s.kvHeads*hd, s.hidden)
		matrix(p+"self_attn.o_proj.weight", s.hidden, s.heads*hd)
		matrix(p+"mlp.gate_proj.weight", s.inter, s.hidden)
		matrix(p+"mlp.up_proj.weight", s.inter, s.hidden)
		matrix(p+"mlp.down_proj.weight", s.hidden, s.inter)
	}
	ones("model.norm.weight", s.hidden)
	return safetensors.WriteFrom(filepath.Join(dir, "model.safetensors"), src, map[string]string{"format": "pt"})
}

// fillBF16 writes n bfloat16 values uniform in [−scale·√3, scale·√3) (standard deviation scale)
// from a xorshift stream seeded by seed, in 1 MiB chunks.
func fillBF16(w io.Writer, n int, seed uint64, scale float32) error {
	x := seed*0x9e3779b97f4a7c15 | 1
	buf := make([]byte, 1<<20)
	a := scale * float32(math.Sqrt(3))
	for n > 0 {
		k := min(n, len(buf)/2)
		for i := 0; i < k; i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			v := (float32(x>>40)/(1<<24)*2 - 1) * a
			u := math.Float32bits(v)
			u += 0x7fff + (u>>16)&1 // round to nearest even
			buf[2*i], buf[2*i+1] = byte(u>>16), byte(u>>24)
		}
		if _, err := w.Write(buf[:2*k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return safetensors.WriteFileAtomic(to, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}
