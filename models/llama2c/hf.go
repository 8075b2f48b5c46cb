package llama2c

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/rpiq/rpiq/internal/tempfiles"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/tokenizer"
)

// PermuteRotary reorders the rows of a q or k projection from llama2.c's rotary layout to HF's.
// llama2.c rotates interleaved pairs (2i, 2i+1) of each head; HF rotates halves (i, i+hd/2).
// Row 2i+h of a head (h = 0, 1) moves to row h*hd/2 + i, exactly as HF's
// convert_llama_weights_to_hf.py permute(): w.view(heads, hd/2, 2, cols).transpose(1, 2).
// w is [heads*headDim, cols], row-major; the result is a new slice.
func PermuteRotary(w []float32, heads, headDim, cols int) []float32 {
	out := make([]float32, len(w))
	half := headDim / 2
	for hd := 0; hd < heads; hd++ {
		base := hd * headDim
		for i := 0; i < half; i++ {
			for h := 0; h < 2; h++ {
				src := (base + 2*i + h) * cols
				dst := (base + h*half + i) * cols
				copy(out[dst:dst+cols], w[src:src+cols])
			}
		}
	}
	return out
}

// HFConfig returns the config.json of the converted model.
func (ck *Checkpoint) HFConfig() map[string]any {
	c := ck.Config
	return map[string]any{
		"architectures":           []string{"LlamaForCausalLM"},
		"model_type":              "llama",
		"hidden_size":             c.Dim,
		"intermediate_size":       c.HiddenDim,
		"num_hidden_layers":       c.NumLayers,
		"num_attention_heads":     c.NumHeads,
		"num_key_value_heads":     c.NumKVHeads,
		"head_dim":                c.HeadSize(),
		"vocab_size":              c.VocabSize,
		"max_position_embeddings": c.SeqLen,
		"rms_norm_eps":            1e-5, // run.c's rmsnorm
		"rope_theta":              10000.0,
		"hidden_act":              "silu",
		"tie_word_embeddings":     c.SharedClassifier,
		"attention_bias":          false,
		"mlp_bias":                false,
		"bos_token_id":            1,
		"eos_token_id":            2,
		"torch_dtype":             "float32",
	}
}

// HFGenerationConfig returns generation_config.json: llama2.c run.c's sampling defaults
// (temperature 1, top-p 0.9) and its sequence length.
func (ck *Checkpoint) HFGenerationConfig() map[string]any {
	return map[string]any{
		"bos_token_id": 1,
		"eos_token_id": 2,
		"do_sample":    true,
		"temperature":  1.0,
		"top_p":        0.9,
		"max_length":   ck.SeqLen,
	}
}

// HFTensors returns the weights under HF LLaMA names, F32, with q and k rows permuted to HF's
// rotary layout.
func (ck *Checkpoint) HFTensors() []safetensors.Tensor {
	c := ck.Config
	d, kv, h, hs := c.Dim, c.KVDim(), c.HiddenDim, c.HeadSize()
	var ts []safetensors.Tensor
	add := func(name string, data []float32, shape ...int) {
		ts = append(ts, safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: shape, Data: f32Bytes(data)})
	}
	add("model.embed_tokens.weight", ck.TokenEmbedding, c.VocabSize, d)
	for l := 0; l < c.NumLayers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		add(p+"input_layernorm.weight", ck.RMSAtt[l*d:(l+1)*d], d)
		add(p+"self_attn.q_proj.weight", PermuteRotary(ck.WQ[l*d*d:(l+1)*d*d], c.NumHeads, hs, d), d, d)
		add(p+"self_attn.k_proj.weight", PermuteRotary(ck.WK[l*kv*d:(l+1)*kv*d], c.NumKVHeads, hs, d), kv, d)
		add(p+"self_attn.v_proj.weight", ck.WV[l*kv*d:(l+1)*kv*d], kv, d)
		add(p+"self_attn.o_proj.weight", ck.WO[l*d*d:(l+1)*d*d], d, d)
		add(p+"post_attention_layernorm.weight", ck.RMSFFN[l*d:(l+1)*d], d)
		add(p+"mlp.gate_proj.weight", ck.W1[l*h*d:(l+1)*h*d], h, d)
		add(p+"mlp.down_proj.weight", ck.W2[l*d*h:(l+1)*d*h], d, h)
		add(p+"mlp.up_proj.weight", ck.W3[l*h*d:(l+1)*h*d], h, d)
	}
	add("model.norm.weight", ck.RMSFinal, d)
	if !c.SharedClassifier {
		add("lm_head.weight", ck.WCls, c.VocabSize, d)
	}
	return ts
}

func f32Bytes(f []float32) []byte {
	b := make([]byte, 4*len(f))
	for i, x := range f {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// WriteHF writes the converted model into dir (which must exist): config.json,
// generation_config.json, model.safetensors and, from tokenizerPath (a llama2.c tokenizer.bin),
// the tokenizer files.
func (ck *Checkpoint) WriteHF(dir, tokenizerPath string) error {
	if err := safetensors.Write(filepath.Join(dir, hf.SingleFile), ck.HFTensors(), map[string]string{"format": "pt"}); err != nil {
		return err
	}
	if err := hf.WriteJSON(filepath.Join(dir, hf.ConfigFile), ck.HFConfig()); err != nil {
		return err
	}
	if err := hf.WriteJSON(filepath.Join(dir, hf.GenerationConfigFile), ck.HFGenerationConfig()); err != nil {
		return err
	}
	return writeTokenizer(tokenizerPath, dir)
}

// writeTokenizer writes the HF tokenizer files (tokenizer.json, tokenizer_config.json) through
// models/tokenizer, and keeps a copy of the original as tokenizer.bin for llama2.c tools.
func writeTokenizer(tokenizerPath, dir string) error {
	if err := tokenizer.WriteLlama2cAsHF(tokenizerPath, dir); err != nil {
		return err
	}
	b, err := os.ReadFile(tokenizerPath)
	if err != nil {
		return err
	}
	return safetensors.WriteFileAtomic(filepath.Join(dir, "tokenizer.bin"), func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// Convert turns a llama2.c checkpoint and its tokenizer.bin into an HF LLaMA folder at outDir,
// atomically: everything is written into a temporary folder beside outDir, which is renamed
// into place at the end. outDir must not exist yet (or be an empty folder).
func Convert(ckptPath, tokenizerPath, outDir string) (err error) {
	ck, err := Read(ckptPath)
	if err != nil {
		return err
	}
	if _, err := os.Stat(tokenizerPath); err != nil {
		return err
	}
	if st, err := os.Stat(outDir); err == nil {
		entries, rerr := os.ReadDir(outDir)
		if !st.IsDir() || rerr != nil || len(entries) > 0 {
			return &Error{File: outDir, Problem: "output exists and is not an empty folder"}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	tmp, release, err := tempfiles.Dir(outDir) // removed if the job is interrupted; tempfiles.Sweep after a SIGKILL
	if err != nil {
		return err
	}
	defer release()
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err = ck.WriteHF(tmp, tokenizerPath); err != nil {
		return err
	}
	if err = os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	return tempfiles.Commit(func() error {
		os.Remove(outDir) // an empty folder may be replaced
		return os.Rename(tmp, outDir)
	})
}
