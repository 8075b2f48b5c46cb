package hfmodel

import (
	"fmt"
	"os"

	"github.com/rpiq/rpiq/models/quant"
	"github.com/rpiq/rpiq/runtime/backend"
)

// GPTQRepacker is a backend that runs GPTQ linears in a quantized layout of its own (the CPU
// backend over kernels/cpu/q): Weights hands it the checkpoint's tensors instead of a float32
// dequantization. RPIQ_GPTQ=dequant turns it off (the float path, for comparisons).
type GPTQRepacker interface {
	RepackGPTQ(qweight, qzeros []uint32, scales []uint16, gIdx []int32,
		in, out, bits, groupSize int, sym, v2 bool) (backend.Weight, error)
}

// gptqWeight binds the GPTQ module prefix through the backend's repacking. ok is false when the
// backend has none (the caller dequantizes); on an error it records it and returns nil, true.
func (w *Weights) gptqWeight(prefix string, rows, cols int) (wt backend.Weight, ok bool) {
	r, can := w.Backend.(GPTQRepacker)
	if !can || os.Getenv("RPIQ_GPTQ") == "dequant" {
		return nil, false
	}
	f, err := quant.FormatOf(w.Quant)
	if err != nil {
		w.fail(err)
		return nil, true
	}
	p, err := quant.ReadPacked(w.Checkpoint, prefix, f)
	if err != nil {
		w.fail(err)
		return nil, true
	}
	if p.Out != rows || p.In != cols {
		w.fail(&Error{Msg: fmt.Sprintf("%s: GPTQ module %s is %d×%d, want %d×%d", w.Checkpoint.Dir(), prefix, p.Out, p.In, rows, cols)})
		return nil, true
	}
	wt, err = r.RepackGPTQ(p.QWeight, p.QZeros, p.Scales, p.GIdx, p.In, p.Out, p.Bits, p.GroupSize, w.Quant.Sym, p.V2)
	if err != nil {
		file, _ := w.Checkpoint.File(prefix + ".qweight")
		w.fail(&Error{Msg: fmt.Sprintf("%s: GPTQ module %s: %v", file, prefix, err)})
		return nil, true
	}
	for _, suffix := range []string{".qweight", ".qzeros", ".scales", ".g_idx"} {
		if info, ok := w.Checkpoint.Info(prefix + suffix); ok {
			w.Bytes += info.Bytes()
			w.release(prefix+suffix, 0, -1) // repacked: the file's pages are not needed any more
		}
	}
	return wt, true
}
