package multimodal

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/rpiq/rpiq/models/quant"
)

// Quantizer is the optional capability of a vision-language model that `rpiq quantize`
// quantizes part by part (differentiated RPIQ: language model, vision encoder, connector and
// head each at their own bits), with the architecture's own sequential driver. rpiq quantize
// lays the calibration records out through Model (PreprocessImage, Prompt) and hands them over;
// it knows no architecture.
type Quantizer interface {
	Model
	// Quantize quantizes the model on samples and writes the GPTQ checkpoint of srcDir (the
	// folder the model was opened from) into outDir.
	Quantize(srcDir, outDir string, samples []Sample, o QuantOptions) (*QuantSummary, error)
}

// Sample is one calibration record laid out as the model reads it: the prompt about the
// picture followed by the answer's tokens (Input.IDs), and the picture preprocessed but not
// encoded (the driver runs and quantizes the vision encoder itself).
type Sample struct {
	Input
}

// QuantOptions are rpiq quantize's settings. Bits of 16 keep a part unquantized; an
// architecture refuses the widths it cannot take (naming the flag).
type QuantOptions struct {
	Method      string // quant.MethodRTN, MethodGPTQ or MethodRPIQ
	Bits        int    // the language model (--bits)
	VisionBits  int    // the vision encoder (--vision-bits)
	AdapterBits int    // the connector / adapter (--adapter-bits)
	HeadBits    int    // lm_head (--head-bits)
	Stage1      quant.Config
	Stage2      quant.Stage2Config
	Log         *slog.Logger
	// Calib, Seed are recorded in the checkpoint's quantization settings.
	Calib string
	Seed  int64
	// Resume continues an interrupted run in outDir from its per-block checkpoints (the same
	// result as an uninterrupted run); an architecture without them returns a *NoResume.
	Resume bool
	// ActMemory bounds the calibration activations kept in memory (bytes); an architecture that
	// can spill the rest to files under outDir does so (CogVLM2), others ignore it. 0: no bound.
	ActMemory int64
}

// NoResume is the error of an architecture that cannot resume (bad use: exit status 2).
type NoResume struct{ Arch string }

func (e *NoResume) Error() string {
	return fmt.Sprintf("quantize: --resume is not implemented for %s checkpoints", e.Arch)
}
func (e *NoResume) BadInput() bool { return true }

// QuantSummary is what rpiq quantize prints: the widths used (in words) and the modules'
// mean relative output error.
type QuantSummary struct {
	Model   string // the architecture in words, "CogVLM2"
	Parts   string // e.g. "LM 4-bit, vision 8, adapter 16, head 16"
	Modules int
	MeanErr float64
}

// BadBits is a bit width a part cannot take (bad input: exit status 2).
type BadBits struct {
	Flag string
	Bits int
	Want string
}

func (e *BadBits) Error() string  { return fmt.Sprintf("%s %d: want %s", e.Flag, e.Bits, e.Want) }
func (e *BadBits) BadInput() bool { return true }

// CheckBits returns a *BadBits for the first of bits (flag name → width) not among allowed.
func CheckBits(allowed []int, want string, flags ...FlagBits) error {
	for _, f := range flags {
		if !slices.Contains(allowed, f.Bits) {
			return &BadBits{Flag: f.Flag, Bits: f.Bits, Want: want}
		}
	}
	return nil
}

// FlagBits is one part's width as the user gave it.
type FlagBits struct {
	Flag string
	Bits int
}
