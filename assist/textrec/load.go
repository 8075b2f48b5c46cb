package textrec

import (
	"fmt"
	"os"

	"github.com/rpiq/rpiq/assist/netimage"
	"github.com/rpiq/rpiq/runtime/onnx"
)

// Load reads the recogniser's ONNX file and its dictionary and runs it with the project's ONNX
// interpreter (runtime/onnx). Errors name the file.
func Load(modelPath, dictPath string) (*Recognizer, error) {
	d, err := os.ReadFile(dictPath)
	if err != nil {
		return nil, fmt.Errorf("textrec: %w", err)
	}
	keys, err := ParseDict(dictPath, d)
	if err != nil {
		return nil, err
	}
	m, err := onnx.Load(modelPath)
	if err != nil {
		return nil, fmt.Errorf("textrec: %s: %w", modelPath, err)
	}
	if len(m.Inputs()) != 1 || len(m.Outputs()) < 1 {
		return nil, fmt.Errorf("textrec: %s: the network has %d inputs and %d outputs; a text recogniser has one input picture and one output", modelPath, len(m.Inputs()), len(m.Outputs()))
	}
	return New(netimage.Runner{M: m}, keys, modelPath), nil
}
