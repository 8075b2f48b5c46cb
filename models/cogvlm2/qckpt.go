package cogvlm2

// The quantized CogVLM2 checkpoint: GPTQ-packed modules with different bit widths per part.
// quantization_config carries the language model's bits as "bits" and the other parts' in a
// GPTQModel-style "dynamic" table ({"+:REGEX": {"bits": 8}}), which GPTQModel reads too.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/quant"
)

// partPatterns are the module-name patterns of the parts quantized apart from the LM.
var partPatterns = []struct {
	part Part
	re   string
}{
	{PartVision, `^model\.vision\.(transformer\.|conv$)`},
	{PartAdapter, `^model\.vision\.linear_proj\.`},
	{PartHead, `^lm_head$`},
}

// QuantSettings are recorded in the checkpoint's rpiq block.
type QuantSettings struct {
	Calib   string `json:"calibration_file"`
	Samples int    `json:"samples"`
	Seed    int64  `json:"seed"`
}

// WriteQuantized writes the quantized checkpoint of srcDir into outDir (atomic files):
// model.safetensors with every quantized module packed and the rest copied, config.json with
// quantization_config, quantize_config.json, and srcDir's tokenizer and generation files.
func WriteQuantized(srcDir, outDir string, res *QuantResult, s QuantSettings) error {
	o := res.Options
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	ck, err := hf.OpenCheckpoint(srcDir)
	if err != nil {
		return err
	}
	defer ck.Close()
	v2 := !o.Stage1.Sym
	byWeight := map[string]*QuantModule{}
	for _, m := range res.Modules {
		byWeight[m.Name+".weight"] = m
		if _, ok := ck.Info(m.Name + ".weight"); !ok {
			return fmt.Errorf("cogvlm2: quantized module %s is not in %s", m.Name, srcDir)
		}
	}
	var ts []safetensors.Tensor
	for _, name := range ck.Names() {
		if m, ok := byWeight[name]; ok {
			if m.Q == nil { // streamed: the packed tensors are in the per-block checkpoint
				if res.Packed == nil {
					return fmt.Errorf("cogvlm2: %s: quantized weights dropped and no per-block checkpoint given", m.Name)
				}
				for _, suf := range []string{".qweight", ".qzeros", ".scales", ".g_idx"} {
					info, data, err := res.Packed.Raw(m.Name + suf)
					if err != nil {
						return err
					}
					ts = append(ts, safetensors.Tensor{Name: m.Name + suf, DType: info.DType, Shape: info.Shape, Data: data})
				}
				continue
			}
			p, err := quant.Pack(m.Q, v2)
			if err != nil {
				return fmt.Errorf("cogvlm2: packing %s: %w", m.Name, err)
			}
			ts = append(ts, p.Tensors(m.Name, nil)...)
			continue
		}
		info, data, err := ck.Raw(name)
		if err != nil {
			return err
		}
		ts = append(ts, safetensors.Tensor{Name: name, DType: info.DType, Shape: info.Shape, Data: data})
	}
	if err := quant.UnloadOutput(outDir); err != nil { // config.json comes back last
		return err
	}
	if err := hf.WriteCheckpoint(outDir, ts, map[string]string{"format": "pt", "quantizer": "rpiq"}, 0); err != nil {
		return err
	}
	format := "gptq"
	if v2 {
		format = "gptq_v2"
	}
	dynamic := map[string]any{}
	bitsOf := map[Part]int{PartVision: o.VisionBits, PartAdapter: o.AdapterBits, PartHead: o.HeadBits}
	for _, pp := range partPatterns {
		if b := bitsOf[pp.part]; b < 16 && b != o.Bits {
			dynamic["+:"+pp.re] = map[string]any{"bits": b}
		}
	}
	modErr := map[string]any{}
	for _, m := range res.Modules {
		modErr[m.Name] = map[string]any{"bits": m.Bits, "method": m.Method, "tokens": m.Tokens, "rel_error_last_sample": m.Err}
	}
	qc := map[string]any{
		"quant_method": "gptq", "bits": o.Bits, "group_size": o.Stage1.GroupSize, "damp_percent": o.Stage1.Damp,
		"desc_act": o.Stage1.ActOrder, "static_groups": o.Stage1.StaticGroups, "sym": o.Stage1.Sym, "true_sequential": false,
		"checkpoint_format": format, "pack_dtype": "int32", "lm_head": o.HeadBits < 16, "dynamic": dynamic,
		"meta": map[string]any{"quantizer": "rpiq"},
		"rpiq": map[string]any{"method": o.Method, "bits": map[string]int{"lm": o.Bits, "vision": o.VisionBits, "adapter": o.AdapterBits, "head": o.HeadBits},
			"rpiq_iters": o.Stage2.Iters, "rpiq_reading": o.Stage2.Reading.String(), "settings": s, "module_errors": modErr, "seconds": res.Seconds},
	}
	raw, err := os.ReadFile(filepath.Join(srcDir, hf.ConfigFile))
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("%s: %v", filepath.Join(srcDir, hf.ConfigFile), err)
	}
	cfg["quantization_config"] = qc
	if err := hf.WriteJSON(filepath.Join(outDir, hf.QuantizeConfigFile), qc); err != nil {
		return err
	}
	if err := quant.CopyCompanions(srcDir, outDir); err != nil {
		return err
	}
	return hf.WriteJSON(filepath.Join(outDir, hf.ConfigFile), cfg) // last: the folder loads from now on
}
