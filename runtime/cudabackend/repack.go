package cudabackend

import (
	"fmt"
	"sort"

	cudakernels "github.com/rpiq/rpiq/kernels/cuda"
	"github.com/rpiq/rpiq/runtime/backend"
)

// RepackGPTQ implements models/hfmodel's GPTQRepacker, so a GPTQ checkpoint's linear layers reach
// the GPU kernels as stored: qweight/qzeros/scales uploaded once, act-order rows sorted by group
// once (the kernel reads x through the permutation). Layouts the kernels cannot take (2/3 bits,
// in or out features that are not whole packed words or a multiple of 8, groups that are not
// whole words) are dequantized on the host to a dense F32 weight instead of failing the load.
func (b *Backend) RepackGPTQ(qweight, qzeros []uint32, scales []uint16, gIdx []int32,
	in, out, bits, groupSize int, sym, v2 bool) (backend.Weight, error) {
	if groupSize <= 0 {
		groupSize = in
	}
	offset := 1 // checkpoint_format gptq stores zero-1
	if v2 {
		offset = 0
	}
	if bits == 4 || bits == 8 {
		pack := 32 / bits
		if in%pack == 0 && out%8 == 0 && groupSize%pack == 0 {
			q := &cudakernels.GPTQ{Bits: bits, K: in, N: out, GroupSize: groupSize, ZeroOffset: offset,
				Qweight: qweight, Qzeros: qzeros, Scales: scales}
			if perm, ok := groupOrder(gIdx, groupSize); !ok {
				goto dense
			} else if perm != nil {
				q.Qweight, q.Perm = reorderRows(qweight, perm, bits, in, out), perm
			}
			return b.NewGPTQWeight(q, nil)
		}
	}
dense:
	w, err := DequantizeGPTQ(qweight, qzeros, scales, gIdx, in, out, bits, groupSize, offset)
	if err != nil {
		return nil, err
	}
	return b.NewWeightF32(out, in, w), nil
}

// groupOrder returns the input order that makes every group contiguous (nil when g_idx is
// already input/groupSize), and false when g_idx cannot be laid out as whole groups.
func groupOrder(gIdx []int32, groupSize int) ([]int32, bool) {
	monotone := true
	for i, g := range gIdx {
		if int(g) != i/groupSize {
			monotone = false
			break
		}
	}
	if monotone {
		return nil, true
	}
	perm := make([]int32, len(gIdx))
	for i := range perm {
		perm[i] = int32(i)
	}
	sort.SliceStable(perm, func(a, b int) bool { return gIdx[perm[a]] < gIdx[perm[b]] })
	for k, i := range perm {
		if int(gIdx[i]) != k/groupSize {
			return nil, false
		}
	}
	return perm, true
}

// reorderRows packs row k of the result from input perm[k] of qweight ([in/pack][out] words).
func reorderRows(qweight []uint32, perm []int32, bits, in, out int) []uint32 {
	pack := 32 / bits
	mask := uint32(1)<<bits - 1
	dst := make([]uint32, len(qweight))
	for k, i := range perm {
		src, sh := int(i)/pack*out, uint(int(i)%pack*bits)
		row, dsh := k/pack*out, uint(k%pack*bits)
		for n := 0; n < out; n++ {
			dst[row+n] |= (qweight[src+n] >> sh & mask) << dsh
		}
	}
	return dst
}

// DequantizeGPTQ expands a 2-, 4- or 8-bit GPTQ layer (words packed LSB-first along in for
// qweight and along out for qzeros, rows padded to whole words) to float32 [out][in]:
// w = scale·(code − (zero + offset)).
func DequantizeGPTQ(qweight, qzeros []uint32, scales []uint16, gIdx []int32, in, out, bits, groupSize, offset int) ([]float32, error) {
	if bits != 2 && bits != 4 && bits != 8 {
		return nil, fmt.Errorf("cudabackend: %d-bit GPTQ layers are not supported on CUDA (2, 4 and 8 are)", bits)
	}
	pack := 32 / bits
	groups := (in + groupSize - 1) / groupSize
	zStride := (out + pack - 1) / pack
	switch {
	case len(qweight) != (in+pack-1)/pack*out:
		return nil, fmt.Errorf("cudabackend: GPTQ qweight has %d words, want %d", len(qweight), (in+pack-1)/pack*out)
	case gIdx != nil && len(gIdx) != in:
		return nil, fmt.Errorf("cudabackend: GPTQ g_idx has %d entries, want %d", len(gIdx), in)
	}
	if gIdx != nil {
		groups = 0
		for _, g := range gIdx {
			if g < 0 {
				return nil, fmt.Errorf("cudabackend: GPTQ g_idx entry %d is negative", g)
			}
			groups = max(groups, int(g)+1)
		}
	}
	if len(qzeros) < groups*zStride || len(scales) < groups*out {
		return nil, fmt.Errorf("cudabackend: GPTQ qzeros/scales hold %d/%d values, want %d/%d for %d groups", len(qzeros), len(scales), groups*zStride, groups*out, groups)
	}
	mask := uint32(1)<<bits - 1
	w := make([]float32, in*out)
	for i := 0; i < in; i++ {
		g := i / groupSize
		if gIdx != nil {
			g = int(gIdx[i])
		}
		row, sh := i/pack*out, uint(i%pack*bits)
		for n := 0; n < out; n++ {
			code := int(qweight[row+n] >> sh & mask)
			zero := int(qzeros[g*zStride+n/pack]>>uint(n%pack*bits)&mask) + offset
			w[n*in+i] = cudakernels.F16ToF32(scales[g*out+n]) * float32(code-zero)
		}
	}
	return w, nil
}
