package cogvlm2

import (
	"fmt"
	"os"

	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/models/quant"
	"github.com/rpiq/rpiq/runtime/backend"
)

// repacked binds the GPTQ module prefix (rows×cols, stored with its own bits: moduleQuant) in
// the backend's quantized layout, one weight per block of output rows in parts (the fused
// query_key_value split into q, k, v). ok is false when the backend has no quantized layout
// (RPIQ_GPTQ=dequant turns it off too) or the split cannot be done on packed words (3-bit
// zeros): the caller dequantizes instead.
func (w binder) repacked(prefix string, rows, cols int, parts ...int) (ws []backend.Weight, ok bool) {
	r, can := w.Backend.(hfmodel.GPTQRepacker)
	if !can || os.Getenv("RPIQ_GPTQ") == "dequant" {
		return nil, false
	}
	qc, err := moduleQuant(w.Quant, prefix)
	if err != nil {
		w.Err = err
		return nil, true
	}
	f, err := quant.FormatOf(qc)
	if err != nil {
		w.Err = err
		return nil, true
	}
	if len(parts) > 1 && 32%f.Bits != 0 {
		return nil, false
	}
	p, err := quant.ReadPacked(w.Checkpoint, prefix, f)
	if err != nil {
		w.Err = err
		return nil, true
	}
	if p.Out != rows || p.In != cols {
		w.Err = &hfmodel.Error{Msg: fmt.Sprintf("%s: GPTQ module %s is %d×%d, want %d×%d", w.Checkpoint.Dir(), prefix, p.Out, p.In, rows, cols)}
		return nil, true
	}
	if len(parts) == 0 {
		parts = []int{rows}
	}
	lo := 0
	for _, n := range parts {
		s := p
		if len(parts) > 1 {
			s = slicePacked(p, lo, lo+n)
		}
		wt, err := r.RepackGPTQ(s.QWeight, s.QZeros, s.Scales, s.GIdx, s.In, s.Out, s.Bits, s.GroupSize, qc.Sym, s.V2)
		if err != nil {
			w.Err = &hfmodel.Error{Msg: fmt.Sprintf("%s: GPTQ module %s: %v", w.Checkpoint.Dir(), prefix, err)}
			return nil, true
		}
		ws = append(ws, wt)
		lo += n
	}
	for _, suffix := range []string{".qweight", ".qzeros", ".scales", ".g_idx"} {
		if info, ok := w.Checkpoint.Info(prefix + suffix); ok {
			w.Bytes += info.Bytes()
		}
	}
	return ws, true
}

// slicePacked is output rows [lo, hi) of a packed module (bits dividing 32).
func slicePacked(p *quant.Packed, lo, hi int) *quant.Packed {
	n := hi - lo
	kw := quant.PackedLen(p.In, p.Bits)
	s := &quant.Packed{In: p.In, Out: n, Bits: p.Bits, Groups: p.Groups, GroupSize: p.GroupSize, GIdx: p.GIdx, V2: p.V2,
		QWeight: make([]uint32, kw*n), Scales: make([]uint16, p.Groups*n)}
	for r := 0; r < kw; r++ {
		copy(s.QWeight[r*n:(r+1)*n], p.QWeight[r*p.Out+lo:r*p.Out+hi])
	}
	for g := 0; g < p.Groups; g++ {
		copy(s.Scales[g*n:(g+1)*n], p.Scales[g*p.Out+lo:g*p.Out+hi])
	}
	zw, nzw := quant.PackedLen(p.Out, p.Bits), quant.PackedLen(n, p.Bits)
	s.QZeros = make([]uint32, p.Groups*nzw)
	per, mask := 32/p.Bits, uint32(1)<<p.Bits-1
	for g := 0; g < p.Groups; g++ {
		for o := lo; o < hi; o++ {
			z := p.QZeros[g*zw+o/per] >> (uint(o%per) * uint(p.Bits)) & mask
			i := o - lo
			s.QZeros[g*nzw+i/per] |= z << (uint(i%per) * uint(p.Bits))
		}
	}
	return s
}
