package cogvlm2

import (
	"fmt"

	"github.com/rpiq/rpiq/models/multimodal"
)

var _ multimodal.Quantizer = (*VLM)(nil)

// Quantize is rpiq quantize for CogVLM2 (multimodal.Quantizer): both experts of the language
// model at Bits, the vision tower at VisionBits (8 or 16), the adapter and the head at theirs,
// by this package's sequential driver; then the GPTQ checkpoint into outDir.
func (t *VLM) Quantize(srcDir, outDir string, samples []multimodal.Sample, o multimodal.QuantOptions) (*multimodal.QuantSummary, error) {
	if err := multimodal.CheckBits([]int{2, 3, 4, 8, 16}, "2, 3, 4, 8 or 16",
		multimodal.FlagBits{Flag: "--adapter-bits", Bits: o.AdapterBits}, multimodal.FlagBits{Flag: "--head-bits", Bits: o.HeadBits}); err != nil {
		return nil, err
	}
	if err := multimodal.CheckBits([]int{8, 16}, "8 or 16", multimodal.FlagBits{Flag: "--vision-bits", Bits: o.VisionBits}); err != nil {
		return nil, err
	}
	cs := make([]CalibSample, len(samples))
	for i, s := range samples {
		if s.Image == nil || len(s.ImageAt) == 0 {
			return nil, fmt.Errorf("cogvlm2: calibration sample %d has no image", i)
		}
		// [BOS, image..., text]: the driver lays the image out itself.
		cs[i] = CalibSample{Image: s.Image.Pixels, Text: s.IDs[s.ImageAt[len(s.ImageAt)-1]+1:]}
	}
	res, err := Quantize(t.M, cs, QuantOptions{Method: o.Method, Bits: o.Bits, VisionBits: o.VisionBits,
		AdapterBits: o.AdapterBits, HeadBits: o.HeadBits, Stage1: o.Stage1, Stage2: o.Stage2, Log: o.Log})
	if err != nil {
		return nil, err
	}
	if err := WriteQuantized(srcDir, outDir, res, QuantSettings{Calib: o.Calib, Samples: len(samples), Seed: o.Seed}); err != nil {
		return nil, err
	}
	sum := &multimodal.QuantSummary{Model: "CogVLM2", Modules: len(res.Modules),
		Parts: fmt.Sprintf("LM %d-bit, vision %d, adapter %d, head %d", o.Bits, o.VisionBits, o.AdapterBits, o.HeadBits)}
	for _, m := range res.Modules {
		sum.MeanErr += m.Err / float64(len(res.Modules))
	}
	return sum, nil
}
