package smolvlm

// The quantized SmolVLM checkpoint: GPTQ-packed modules with a bit width per part.
// quantization_config carries the decoder's bits as "bits" and the other parts' in a
// GPTQModel-style "dynamic" table ({"+:REGEX": {"bits": 8}}), which the loader (binder) and
// GPTQModel read.

import (
	"fmt"

	"github.com/rpiq/rpiq/models/quant"
)

// partPatterns are the module-name patterns of the parts quantized apart from the decoder;
// they are disjoint, so the order rules are tried in does not matter.
var partPatterns = []struct {
	part Part
	re   string
}{
	{PartVision, `^model\.vision_model\.`},
	{PartConnector, `^model\.connector\.`},
	{PartHead, `^lm_head$`},
}

// QuantSettings are recorded in the checkpoint's rpiq block.
type QuantSettings struct {
	Calib   string `json:"calibration_file"`
	Samples int    `json:"samples"`
	Seed    int64  `json:"seed"`
}

// WriteQuantized writes the quantized checkpoint of srcDir into outDir: model.safetensors with
// every quantized module packed and the rest copied, config.json with quantization_config,
// quantize_config.json, and srcDir's tokenizer, processor and generation files.
func WriteQuantized(srcDir, outDir string, res *QuantResult, s QuantSettings) error {
	o := res.Options
	if o.Bits.Decoder >= 16 {
		return fmt.Errorf("smolvlm: the decoder is kept at 16 bits: nothing for a GPTQ checkpoint's \"bits\"")
	}
	v2 := !o.Stage1.Sym
	mods := make([]quant.PackedModule, len(res.Modules))
	for i, m := range res.Modules {
		mods[i] = quant.PackedModule{Name: m.Name, Q: m.Q}
	}
	if err := quant.WritePacked("smolvlm", srcDir, outDir, mods, nil, v2); err != nil {
		return err
	}
	format := quant.CheckpointFormat(v2)
	dynamic := map[string]any{}
	for _, pp := range partPatterns {
		if b := o.Bits.Of(pp.part); b < 16 && b != o.Bits.Decoder {
			dynamic["+:"+pp.re] = map[string]any{"bits": b}
		} else if b >= 16 {
			dynamic["-:"+pp.re] = map[string]any{}
		}
	}
	modErr := map[string]any{}
	for _, m := range res.Modules {
		modErr[m.Name] = map[string]any{"bits": m.Q.Grid.Bits, "method": m.Method, "tokens": m.Tokens, "rel_error_last_sample": m.Err}
	}
	qc := map[string]any{
		"quant_method": "gptq", "bits": o.Bits.Decoder, "group_size": o.Stage1.GroupSize, "damp_percent": o.Stage1.Damp,
		"desc_act": o.Stage1.ActOrder, "static_groups": o.Stage1.StaticGroups, "sym": o.Stage1.Sym, "true_sequential": false,
		"checkpoint_format": format, "pack_dtype": "int32", "lm_head": o.Bits.Head < 16, "dynamic": dynamic,
		"meta": map[string]any{"quantizer": "rpiq"},
		"rpiq": map[string]any{"method": o.Method,
			"bits":       map[string]int{"decoder": o.Bits.Decoder, "vision": o.Bits.Vision, "connector": o.Bits.Connector, "head": o.Bits.Head},
			"rpiq_iters": o.Stage2.Iters, "rpiq_reading": o.Stage2.Reading.String(), "settings": s, "module_errors": modErr, "seconds": res.Seconds},
	}
	return quant.WriteConfig(srcDir, outDir, qc)
}
