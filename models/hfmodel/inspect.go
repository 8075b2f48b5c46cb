package hfmodel

import (
	"io"

	"github.com/rpiq/rpiq/models/hf"
)

// Inspection is what an architecture adds to `rpiq inspect`, from config.json alone (no
// weights are read).
type Inspection struct {
	// Parameters counts the weights config.json implies, for folders whose shards are absent
	// (0: unknown).
	Parameters int64
	// Key names Report in `rpiq inspect --json` ("cogvlm"); Report is any JSON value (vision
	// tower, memory table under the bit widths) and Print its text form. Both may be empty.
	Key    string
	Report any
	Print  func(w io.Writer)
}

// InspectFunc makes an architecture's Inspection. storedBytes is the bytes of an unquantized
// checkpoint's tensors (from the headers, or the index's total_size when shards are absent), so
// a report can compare them with what config.json implies; 0 when unknown or quantized.
type InspectFunc func(c *hf.Config, storedBytes int64) (*Inspection, error)

// Inspect is the registered architecture's Inspection of c, or nil when it registered none.
func Inspect(c *hf.Config, storedBytes int64) (*Inspection, error) {
	mu.Lock()
	a, ok := archs[c.Architecture]
	mu.Unlock()
	if !ok || a.Inspect == nil {
		return nil, nil
	}
	return a.Inspect(c, storedBytes)
}
