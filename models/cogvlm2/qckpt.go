package cogvlm2

// The quantized CogVLM2 checkpoint: GPTQ-packed modules with different bit widths per part.
// quantization_config carries the language model's bits as "bits" and the other parts' in a
// GPTQModel-style "dynamic" table ({"+:REGEX": {"bits": 8}}), which GPTQModel reads too.

import "github.com/rpiq/rpiq/models/quant"

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
	v2 := !o.Stage1.Sym
	mods := make([]quant.PackedModule, len(res.Modules))
	for i, m := range res.Modules {
		mods[i] = quant.PackedModule{Name: m.Name, Q: m.Q}
	}
	if err := quant.WritePacked("cogvlm2", srcDir, outDir, mods, res.Packed, v2); err != nil {
		return err
	}
	format := quant.CheckpointFormat(v2)
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
	return quant.WriteConfig(srcDir, outDir, qc)
}
