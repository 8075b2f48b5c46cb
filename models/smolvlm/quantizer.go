package smolvlm

import (
	"fmt"

	"github.com/rpiq/rpiq/models/multimodal"
)

var _ multimodal.Quantizer = (*VLM)(nil)

// Quantize is rpiq quantize for SmolVLM (multimodal.Quantizer): the decoder at Bits, the vision
// encoder at VisionBits, the connector at AdapterBits and lm_head at HeadBits (kept when tied to
// the embedding), by this package's driver; then the GPTQ checkpoint into outDir.
func (t *VLM) Quantize(srcDir, outDir string, samples []multimodal.Sample, o multimodal.QuantOptions) (*multimodal.QuantSummary, error) {
	if err := multimodal.CheckBits([]int{2, 3, 4, 8, 16}, "2, 3, 4, 8 or 16",
		multimodal.FlagBits{Flag: "--bits", Bits: o.Bits}, multimodal.FlagBits{Flag: "--vision-bits", Bits: o.VisionBits},
		multimodal.FlagBits{Flag: "--adapter-bits", Bits: o.AdapterBits}, multimodal.FlagBits{Flag: "--head-bits", Bits: o.HeadBits}); err != nil {
		return nil, err
	}
	if o.Resume {
		return nil, &multimodal.NoResume{Arch: "SmolVLM"}
	}
	cs := make([]CalibSample, len(samples))
	for i, s := range samples {
		im := s.Image
		if im == nil || len(im.Shape) == 0 || im.Shape[0] <= 0 {
			return nil, fmt.Errorf("smolvlm: calibration sample %d has no image", i)
		}
		per := len(im.Pixels) / im.Shape[0]
		var tiles [][]float32
		for k := 0; k < im.Shape[0]; k++ {
			tiles = append(tiles, im.Pixels[k*per:(k+1)*per])
		}
		cs[i] = CalibSample{Tiles: tiles, IDs: s.IDs}
	}
	bits := Bits{Decoder: o.Bits, Vision: o.VisionBits, Connector: o.AdapterBits, Head: o.HeadBits}
	if t.M.Config().TieWordEmbeddings {
		bits.Head = 16 // the head is the embedding table
	}
	res, err := Quantize(t.M, cs, QuantOptions{Method: o.Method, Bits: bits, Stage1: o.Stage1, Stage2: o.Stage2, Log: o.Log})
	if err != nil {
		return nil, err
	}
	if err := WriteQuantized(srcDir, outDir, res, QuantSettings{Calib: o.Calib, Samples: len(samples), Seed: o.Seed}); err != nil {
		return nil, err
	}
	sum := &multimodal.QuantSummary{Model: "SmolVLM", Modules: len(res.Modules),
		Parts: fmt.Sprintf("decoder %d-bit, vision %d, connector %d, head %d", bits.Decoder, bits.Vision, bits.Connector, bits.Head)}
	for _, m := range res.Modules {
		sum.MeanErr += m.Err / float64(len(res.Modules))
	}
	return sum, nil
}
