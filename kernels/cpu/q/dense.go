package q

import (
	"fmt"
	"math"

	"github.com/rpiq/rpiq/kernels/cpu"
	"github.com/rpiq/rpiq/kernels/half"
)

// FromRows quantizes a dense [out][in] weight straight into the kernel layout by round-to-nearest
// with an asymmetric min/max grid per group (group inputs of one row; -1 = the whole row):
//
//	s = (max − min)/(2^bits − 1),  z = clamp(round(−min/s)),  q = clamp(round(w/s) + z)
//
// so every weight is off by at most s/2. row(dst, n) writes row n as float32 into dst (In
// values); done(lo, hi), when not nil, is called after rows lo..hi-1 have been read (in chunks of
// 16384 rows, so a caller can drop a memory-mapped source from resident memory as it goes). It is how a tied embedding becomes a quantized LM head at load: the head is the
// largest matrix a small model reads per token (Llama-3.2-1B: 128256×2048), and in 16 bits it
// costs as much bandwidth as all the 4-bit layers together. bits is 4 or 8; group is -1 or a
// multiple of 8 that divides in.
func FromRows(in, out, bits, group int, row func(dst []float32, n int), p *cpu.Pool, done func(lo, hi int)) (*Matrix, error) {
	if in <= 0 || out <= 0 {
		return nil, fmt.Errorf("q: FromRows of a %d×%d matrix", out, in)
	}
	if bits != 4 && bits != 8 {
		return nil, fmt.Errorf("q: FromRows with %d bits, want 4 or 8", bits)
	}
	if group <= 0 {
		group = -1
	} else if group%8 != 0 || in%group != 0 {
		return nil, fmt.Errorf("q: FromRows group %d: want -1 or a multiple of 8 that divides in = %d", group, in)
	}
	m := &Matrix{In: in, Out: out, Bits: bits, GroupSize: group, codeBits: bits, blk: maxBlock}
	if group > 0 && group < maxBlock {
		m.blk = group
	}
	if group > maxBlock && group%maxBlock != 0 {
		m.blk = 8 // rare: keep blocks inside groups
		for b := maxBlock; b >= 8; b -= 8 {
			if group%b == 0 {
				m.blk = b
				break
			}
		}
	}
	m.nb = ceilDiv(in, m.blk) // groups divide in and blocks divide groups: padding only at the end
	m.kp = m.nb * m.blk
	m.nrb = ceilDiv(out, rows)
	m.w = weightBytes(m, m.nrb*m.rbBytes())
	m.sm = weightBytes(m, m.nrb*m.nb*m.meta())
	gs := group
	if gs < 0 {
		gs = in
	}
	levels := float64(int(1)<<bits - 1)
	if p == nil {
		p = cpu.Default()
	}
	const chunk = 1024 // row blocks per pass
	for c0 := 0; c0 < m.nrb; c0 += chunk {
		c1 := min(c0+chunk, m.nrb)
		m.fromRows(c0, c1, gs, levels, row, p)
		if done != nil {
			done(c0*rows, min(c1*rows, out))
		}
	}
	return m, nil
}

// fromRows quantizes row blocks c0..c1-1 (FromRows).
func (m *Matrix) fromRows(c0, c1, gs int, levels float64, row func(dst []float32, n int), p *cpu.Pool) {
	in, out, bits := m.In, m.Out, m.codeBits
	p.Run(c1-c0, 1, func(lo, hi int) {
		lo, hi = lo+c0, hi+c0
		w := make([]float32, in)
		for n := lo * rows; n < min(hi*rows, out); n++ {
			row(w, n)
			rb, r := n/rows, n%rows
			base := rb * m.rbBytes()
			for g0 := 0; g0 < in; g0 += gs {
				g := w[g0 : g0+gs]
				lo32, hi32 := g[0], g[0]
				for _, v := range g[1:] { // plain compares: this loop reads the whole head at load
					if v < lo32 {
						lo32 = v
					}
					if v > hi32 {
						hi32 = v
					}
				}
				lo, hi := float64(lo32), float64(hi32)
				s := (hi - lo) / levels
				if !(s > 0) || math.IsInf(s, 0) {
					s = math.Max(math.Abs(lo), 1) // a constant group: its one code then is z or z−1
				}
				if math.IsNaN(s) || math.IsInf(s, 0) {
					s = 1 // non-finite weights: any codes, but no NaN scale in the kernels
				}
				sb := f16AtLeast(s)
				s = float64(half.F16ToF32(sb))
				z := math.Min(math.Max(math.Round(-lo/s), 0), levels)
				inv := 1 / s
				for k := g0; k < g0+gs; k++ {
					// round(w/s) + z, clamped: floor(x + 0.5) differs from round only on exact ties
					t := float64(w[k])*inv + z + 0.5
					c := byte(0)
					if t >= levels {
						c = byte(levels)
					} else if t >= 1 {
						c = byte(int(t))
					}
					if bits == 8 {
						m.w[base+(k/4)*64+r*4+k%4] = c
					} else if j, i := k/8, k%8; i < 4 {
						m.w[base+j*64+r*4+i] |= c
					} else {
						m.w[base+j*64+r*4+i-4] |= c << 4
					}
				}
				for b := g0 / m.blk; b < (g0+gs+m.blk-1)/m.blk; b++ {
					m.setMeta(rb, b, r, sb, int(z))
				}
			}
		}
	})
}

// f16AtLeast is the fp16 bits of the smallest fp16 value ≥ s (s > 0), within fp16's finite,
// non-zero range: the layout stores scales in fp16, and rounding the range's scale up keeps every
// weight of the group on the grid, each within s/2 of its code.
func f16AtLeast(s float64) uint16 {
	if s >= 65504 {
		return half.F32ToF16(65504)
	}
	b := half.F32ToF16(float32(s))
	if float64(half.F16ToF32(b)) < s {
		b++ // the next fp16 up (positive values order like their bits)
	}
	if b == 0 {
		b = 1 // the smallest subnormal, 2^-24
	}
	return b
}
