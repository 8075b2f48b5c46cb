package cogvlm2

import (
	"fmt"
	"os"

	"github.com/rpiq/rpiq/models/hf"

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
	qo := QuantOptions{Method: o.Method, Bits: o.Bits, VisionBits: o.VisionBits,
		AdapterBits: o.AdapterBits, HeadBits: o.HeadBits, Stage1: o.Stage1, Stage2: o.Stage2, Log: o.Log}
	// Per-block checkpoints in outDir/.rpiq-partial: the result keeps no quantized weights
	// (streamed to disk block by block), and --resume reuses the finished blocks.
	qs := QuantSettings{Calib: o.Calib, Samples: len(samples), Seed: o.Seed}
	key := map[string]any{"calibration": qs, "method": o.Method,
		"bits":   map[string]int{"lm": o.Bits, "vision": o.VisionBits, "adapter": o.AdapterBits, "head": o.HeadBits},
		"stage1": o.Stage1, "rpiq_reading": o.Stage2.Reading.String(), "rpiq_iters": o.Stage2.Iters, "rpiq_block": o.Stage2.BlockSize,
		"rpiq_min_gain": o.Stage2.MinGain, "rpiq_no_safeguard": o.Stage2.NoSafeguard, "rpiq_no_instance_guard": o.Stage2.NoInstanceGuard}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	if o.Resume {
		done, err := LoadBlocks(outDir, qo, key)
		if err != nil {
			return nil, &resumeError{err}
		}
		qo.Done = done
		if o.Log != nil {
			o.Log.Info("resuming", "blocks_done", len(done))
		}
	}
	save, err := BlockCheckpointer(outDir, qo, key)
	if err != nil {
		return nil, err
	}
	qo.OnBlock = save
	qo.ActBudget, qo.SpillDir = o.ActMemory, PartialDir(outDir)
	for _, f := range spillFiles(qo.SpillDir) { // an interrupted run's
		os.Remove(f)
	}
	res, err := Quantize(t.M, cs, qo)
	if err != nil {
		return nil, err
	}
	packed, err := hf.OpenCheckpoint(PartialDir(outDir))
	if err != nil {
		return nil, err
	}
	res.Packed = packed
	err = WriteQuantized(srcDir, outDir, res, qs)
	packed.Close()
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(PartialDir(outDir)); err != nil {
		return nil, err
	}
	sum := &multimodal.QuantSummary{Model: "CogVLM2", Modules: len(res.Modules),
		Parts: fmt.Sprintf("LM %d-bit, vision %d, adapter %d, head %d", o.Bits, o.VisionBits, o.AdapterBits, o.HeadBits)}
	for _, m := range res.Modules {
		sum.MeanErr += m.Err / float64(len(res.Modules))
	}
	return sum, nil
}

// resumeError is a --resume that cannot continue (other settings, unreadable checkpoints): bad
// use, exit status 2.
type resumeError struct{ err error }

func (e *resumeError) Error() string  { return e.err.Error() }
func (e *resumeError) Unwrap() error  { return e.err }
func (e *resumeError) BadInput() bool { return true }
