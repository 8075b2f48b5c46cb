package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/hfmodel"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func convertStories(t *testing.T) string {
	t.Helper()
	ckpt := shareddata.Path(t, "llama2c/stories260K.bin")
	tok := shareddata.Path(t, "llama2c/tok512.bin")
	out := filepath.Join(t.TempDir(), "stories260K")
	code, stdout, stderr := runCLI("convert", "--from", "llama2c", ckpt, "--tokenizer", tok, "--out", out)
	if code != 0 {
		t.Fatalf("convert: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "260.0K parameters") {
		t.Fatalf("convert output: %q", stdout)
	}
	return out
}

func inspectJSON(t *testing.T, dir string) modelReport {
	t.Helper()
	code, stdout, stderr := runCLI("inspect", dir, "--json")
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, stderr)
	}
	var r modelReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, stdout)
	}
	return r
}

func TestInspectConvertedStories(t *testing.T) {
	dir := convertStories(t)
	r := inspectJSON(t, dir)
	if r.Architecture != "LlamaForCausalLM" || r.Parameters != 260032 || r.ParametersSource != "headers" || r.Tensors != 47 ||
		r.DTypes["F32"] == nil || r.DTypes["F32"].Bytes != 4*260032 || r.Quantization != nil {
		t.Fatalf("report: %+v", r)
	}
	code, stdout, _ := runCLI("inspect", dir)
	if code != 0 || !strings.Contains(stdout, "LlamaForCausalLM") || !strings.Contains(stdout, "260032") {
		t.Fatalf("text report (exit %d):\n%s", code, stdout)
	}
	// Without the weights, inspect still works from config.json, estimating the same count.
	os.Remove(filepath.Join(dir, hf.SingleFile))
	r = inspectJSON(t, dir)
	if r.Parameters != 260032 || r.ParametersSource != "config" {
		t.Fatalf("config-only report: %+v", r)
	}
}

// tinyHF writes a checkpoint with the tensor names and shapes of HF's modules (zero data),
// so the config-only estimate can be checked against the real count.
func tinyHF(t *testing.T, config string, shapes map[string][]int) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, hf.ConfigFile), []byte(config), 0o644)
	var ts []safetensors.Tensor
	for name, s := range shapes {
		n := 1
		for _, d := range s {
			n *= d
		}
		ts = append(ts, safetensors.Tensor{Name: name, DType: safetensors.BF16, Shape: s, Data: make([]byte, 2*n)})
	}
	if err := hf.WriteCheckpoint(dir, ts, nil, 4096); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestInspectEstimateMatchesHeaders(t *testing.T) {
	const H, I, V, hd, nh, nkv = 16, 24, 40, 8, 4, 2
	qwen3 := map[string][]int{"model.embed_tokens.weight": {V, H}, "model.norm.weight": {H}}
	opt := map[string][]int{"model.decoder.embed_tokens.weight": {V, 8}, "model.decoder.embed_positions.weight": {32 + 2, H},
		"model.decoder.project_in.weight": {H, 8}, "model.decoder.project_out.weight": {8, H}}
	for l := 0; l < 2; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		for k, s := range map[string][]int{"self_attn.q_proj.weight": {nh * hd, H}, "self_attn.k_proj.weight": {nkv * hd, H},
			"self_attn.v_proj.weight": {nkv * hd, H}, "self_attn.o_proj.weight": {H, nh * hd}, "self_attn.q_norm.weight": {hd},
			"self_attn.k_norm.weight": {hd}, "mlp.gate_proj.weight": {I, H}, "mlp.up_proj.weight": {I, H}, "mlp.down_proj.weight": {H, I},
			"input_layernorm.weight": {H}, "post_attention_layernorm.weight": {H}} {
			qwen3[p+k] = s
		}
		p = fmt.Sprintf("model.decoder.layers.%d.", l)
		for _, proj := range []string{"q_proj", "k_proj", "v_proj", "out_proj"} {
			opt[p+"self_attn."+proj+".weight"], opt[p+"self_attn."+proj+".bias"] = []int{H, H}, []int{H}
		}
		opt[p+"fc1.weight"], opt[p+"fc1.bias"], opt[p+"fc2.weight"], opt[p+"fc2.bias"] = []int{I, H}, []int{I}, []int{H, I}, []int{H}
		for _, ln := range []string{"self_attn_layer_norm", "final_layer_norm"} {
			opt[p+ln+".weight"], opt[p+ln+".bias"] = []int{H}, []int{H}
		}
	}
	opt["model.decoder.final_layer_norm.weight"], opt["model.decoder.final_layer_norm.bias"] = []int{H}, []int{H}
	for name, c := range map[string]struct {
		config string
		shapes map[string][]int
	}{
		"qwen3": {fmt.Sprintf(`{"architectures":["Qwen3ForCausalLM"],"hidden_size":%d,"intermediate_size":%d,"num_hidden_layers":2,
			"num_attention_heads":%d,"num_key_value_heads":%d,"head_dim":%d,"vocab_size":%d,"tie_word_embeddings":true}`, H, I, nh, nkv, hd, V), qwen3},
		"opt": {fmt.Sprintf(`{"architectures":["OPTForCausalLM"],"hidden_size":%d,"ffn_dim":%d,"num_hidden_layers":2,
			"num_attention_heads":%d,"vocab_size":%d,"max_position_embeddings":32,"word_embed_proj_dim":8}`, H, I, nh, V), opt},
	} {
		t.Run(name, func(t *testing.T) {
			dir := tinyHF(t, c.config, c.shapes)
			full := inspectJSON(t, dir)
			cfg, err := hf.LoadConfig(dir)
			if err != nil {
				t.Fatal(err)
			}
			est, err := hfmodel.Inspect(cfg, 0)
			if err != nil || est == nil || est.Parameters != full.Parameters || full.ParametersSource != "headers" {
				t.Fatalf("estimate %+v (%v), headers %d (%s)", est, err, full.Parameters, full.ParametersSource)
			}
			// Remove one shard: the report falls back to the index and the estimate.
			ix, _ := hf.ReadIndex(filepath.Join(dir, hf.IndexFile))
			os.Remove(filepath.Join(dir, ix.Files()[0]))
			r := inspectJSON(t, dir)
			if r.ParametersSource != "config" || r.Parameters != full.Parameters || len(r.MissingFiles) != 1 || r.Bytes != full.Bytes {
				t.Fatalf("without a shard: %+v", r)
			}
		})
	}
}

func TestInspectGPTQ(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, hf.ConfigFile), []byte(`{"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":128,
		"num_hidden_layers":1,"num_attention_heads":4,"vocab_size":32,
		"quantization_config":{"quant_method":"gptq","bits":4,"group_size":32,"desc_act":false,"sym":true,"checkpoint_format":"gptq","rpiq":{"iters":2}}}`), 0o644)
	ts := []safetensors.Tensor{
		{Name: "model.layers.0.mlp.up_proj.qweight", DType: safetensors.I32, Shape: []int{64 / 8, 128}, Data: make([]byte, 4*8*128)},
		{Name: "model.layers.0.mlp.up_proj.qzeros", DType: safetensors.I32, Shape: []int{2, 128 / 8}, Data: make([]byte, 4*2*16)},
		{Name: "model.layers.0.mlp.up_proj.scales", DType: safetensors.F16, Shape: []int{2, 128}, Data: make([]byte, 2*2*128)},
		{Name: "model.layers.0.mlp.up_proj.g_idx", DType: safetensors.I32, Shape: []int{64}, Data: make([]byte, 4*64)},
		{Name: "model.norm.weight", DType: safetensors.F16, Shape: []int{64}, Data: make([]byte, 128)},
	}
	if err := hf.WriteCheckpoint(dir, ts, nil, 0); err != nil {
		t.Fatal(err)
	}
	r := inspectJSON(t, dir)
	q := r.Quantization
	if q == nil || q.Bits != 4 || q.GroupSize != 32 || q.Method != "gptq" || q.CheckpointFormat != "gptq" || q.QuantizedLayers != 1 || q.RPIQ == nil {
		t.Fatalf("quantization: %+v", q)
	}
	if r.Parameters != 64*128+64 {
		t.Fatalf("parameters %d, want %d", r.Parameters, 64*128+64)
	}
	if _, stdout, _ := runCLI("inspect", dir); !strings.Contains(stdout, "gptq 4-bit, group size 32") {
		t.Fatalf("text: %s", stdout)
	}
}

// Each bad input of issue 2 exits with status 2 and a message naming the file and the problem.
func TestBadInputExitStatus(t *testing.T) {
	goodConfig := `{"architectures":["LlamaForCausalLM"],"hidden_size":4,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":4}`
	raw := func(header string, data int) []byte {
		b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
		return append(append(b, header...), make([]byte, data)...)
	}
	longHeader := binary.LittleEndian.AppendUint64(nil, 1000)
	cases := []struct {
		name, config string
		weights      []byte
		file, want   string
	}{
		{"truncated safetensors", goodConfig, raw(`{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, 10), hf.SingleFile, "truncated"},
		{"header longer than file", goodConfig, append(longHeader, "{}"...), hf.SingleFile, "longer than the file"},
		{"overlapping offsets", goodConfig, raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12), hf.SingleFile, "overlap"},
		{"out-of-range offsets", goodConfig, raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4), hf.SingleFile, "truncated"},
		{"dtype/shape mismatch", goodConfig, raw(`{"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,16]}}`, 16), hf.SingleFile, "needs 8"},
		{"config missing a field", `{"architectures":["LlamaForCausalLM"],"hidden_size":4}`, nil, hf.ConfigFile, "intermediate_size: missing required field"},
		{"unknown architecture", `{"architectures":["MambaForCausalLM"]}`, nil, hf.ConfigFile, "unknown architecture"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, hf.ConfigFile), []byte(c.config), 0o644)
			if c.weights != nil {
				os.WriteFile(filepath.Join(dir, hf.SingleFile), c.weights, 0o644)
			}
			code, stdout, stderr := runCLI("inspect", dir)
			if code != 2 || stdout != "" || !strings.Contains(stderr, filepath.Join(dir, c.file)) || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2 and a message naming %s and %q", code, stdout, stderr, c.file, c.want)
			}
		})
	}
	t.Run("not a model folder", func(t *testing.T) {
		if code, _, stderr := runCLI("inspect", t.TempDir()); code != 2 || !strings.Contains(stderr, "config.json") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
	t.Run("usage", func(t *testing.T) {
		if code, _, _ := runCLI("inspect"); code != 2 {
			t.Fatalf("exit %d", code)
		}
	})
}
