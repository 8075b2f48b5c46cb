package hfmodel

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/rpiq/rpiq/models/hf"
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

// gptqWeights binds the GPTQ module prefix (rows×cols, quantized as qc) through the backend's
// repacking, one weight per block of output rows in parts. ok is false when the backend has none
// (RPIQ_GPTQ=dequant turns it off too) or the split cannot be done on packed words (3-bit
// zeros): the caller dequantizes. On an error it records it and returns nil, true.
func (w *Weights) gptqWeights(prefix string, qc *hf.QuantizationConfig, rows, cols int, parts []int) (ws []backend.Weight, ok bool) {
	r, can := w.Backend.(GPTQRepacker)
	if !can || os.Getenv("RPIQ_GPTQ") == "dequant" {
		return nil, false
	}
	f, err := quant.FormatOf(qc)
	if err != nil {
		w.fail(err)
		return nil, true
	}
	if len(parts) > 1 && 32%f.Bits != 0 {
		return nil, false
	}
	names := partNames(prefix, parts)
	if ws, ok := w.pack.lookup(names, parts, cols); ok {
		w.countPacked(prefix) // the checkpoint's tensors are never read
		return ws, true
	}
	w.pack.miss()
	p, err := quant.ReadPacked(w.Checkpoint, prefix, f)
	if err != nil {
		w.fail(err)
		return nil, true
	}
	if p.Out != rows || p.In != cols {
		w.fail(&Error{Msg: fmt.Sprintf("%s: GPTQ module %s is %d×%d, want %d×%d", w.Checkpoint.Dir(), prefix, p.Out, p.In, rows, cols)})
		return nil, true
	}
	lo := 0
	for _, n := range parts {
		s := p
		if len(parts) > 1 {
			s = slicePacked(p, lo, lo+n)
		}
		wt, err := r.RepackGPTQ(s.QWeight, s.QZeros, s.Scales, s.GIdx, s.In, s.Out, s.Bits, s.GroupSize, qc.Sym, s.V2)
		if err != nil {
			file, _ := w.Checkpoint.File(prefix + ".qweight")
			w.fail(&Error{Msg: fmt.Sprintf("%s: GPTQ module %s: %v", file, prefix, err)})
			return nil, true
		}
		ws = append(ws, wt)
		lo += n
	}
	w.pack.record(names, ws)
	w.countPacked(prefix)
	for _, suffix := range []string{".qweight", ".qzeros", ".scales", ".g_idx"} {
		if _, ok := w.Checkpoint.Info(prefix + suffix); ok {
			w.release(prefix+suffix, 0, -1) // repacked: the file's pages are not needed any more
		}
	}
	return ws, true
}

// slicePacked is output rows [lo, hi) of a packed module (bits dividing 32): qweight and scales
// columns, qzeros re-packed.
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

// ModuleQuant is the quantization config of one packed module: the checkpoint's, with bits and
// group_size replaced by the first GPTQModel-style "dynamic" rule ("+:REGEX" or "REGEX"; "-:"
// rules, which exclude modules, are skipped here) whose pattern matches the module name.
func ModuleQuant(qc *hf.QuantizationConfig, prefix string) (*hf.QuantizationConfig, error) {
	dyn, _ := qc.Raw["dynamic"].(map[string]any)
	for _, key := range sortedKeys(dyn) {
		v := dyn[key]
		pat, ok := strings.CutPrefix(key, "+:")
		if !ok {
			if strings.HasPrefix(key, "-:") {
				continue
			}
			pat = key
		}
		re, err := regexp.Compile(pat)
		if err != nil {
			return nil, &hf.Error{File: qc.Source, Field: "dynamic", Problem: fmt.Sprintf("pattern %q: %v", key, err)}
		}
		if !re.MatchString(prefix) {
			continue
		}
		rule, _ := v.(map[string]any)
		c := *qc
		for field, dst := range map[string]*int{"bits": &c.Bits, "group_size": &c.GroupSize} {
			switch n := rule[field].(type) {
			case json.Number:
				i, err := n.Int64()
				if err != nil {
					return nil, &hf.Error{File: qc.Source, Field: "dynamic." + key + "." + field, Problem: "want an integer"}
				}
				*dst = int(i)
			case float64:
				*dst = int(n)
			}
		}
		return &c, nil
	}
	return qc, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
