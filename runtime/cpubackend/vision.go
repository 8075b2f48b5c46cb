package cpubackend

// The ops a vision-language model adds (CogVLM2): per-row RoPE positions, bidirectional
// attention without a cache (the ViT), and the patch gather that turns a stride-k convolution
// into one MatMul.

import (
	"fmt"

	"github.com/rpiq/rpiq/kernels/cpu"
	"github.com/rpiq/rpiq/runtime/backend"
)

func (c *CPU) RoPEAt(x backend.Tensor, headDim int, pos []int32, invFreq []float32) {
	xx := ten(x)
	if headDim <= 0 || headDim%2 != 0 || xx.cols%headDim != 0 || len(invFreq) != headDim/2 || len(pos) != xx.rows {
		panic(fmt.Sprintf("cpubackend: RoPEAt head_dim %d with %d frequencies and %d positions on %d×%d", headDim, len(invFreq), len(pos), xx.rows, xx.cols))
	}
	for i := 0; i < xx.rows; i++ {
		r := xx.Row(i)
		for h := 0; h < len(r); h += headDim {
			cpu.RoPE(r[h:h+headDim], int(pos[i]), invFreq)
		}
	}
}

func (c *CPU) AttentionFull(dst, q, k, v backend.Tensor, a backend.Attn) {
	d, qq, kk, vv := ten(dst), ten(q), ten(k), ten(v)
	n, m, hd, kvDim := qq.rows, kk.rows, a.HeadDim, a.KVHeads*a.HeadDim
	switch {
	case a.Heads <= 0 || a.KVHeads <= 0 || a.Heads%a.KVHeads != 0 || hd <= 0:
		panic(fmt.Sprintf("cpubackend: AttentionFull with %d heads, %d kv heads of %d", a.Heads, a.KVHeads, hd))
	case qq.cols != a.Heads*hd || d.cols != qq.cols || d.rows != n:
		panic(fmt.Sprintf("cpubackend: AttentionFull q %d×%d dst %d×%d for %d heads of %d", n, qq.cols, d.rows, d.cols, a.Heads, hd))
	case kk.cols != kvDim || vv.cols != kvDim || vv.rows != m || m == 0:
		panic(fmt.Sprintf("cpubackend: AttentionFull k %d×%d v %d×%d, want m×%d with m > 0", kk.rows, kk.cols, vv.rows, vv.cols, kvDim))
	}
	group := a.Heads / a.KVHeads
	// The hot loop: one work item per (row, head): scores over all m keys, softmax, weighted sum.
	c.pool.Run(n*a.Heads, 1, func(lo, hi int) {
		scores := make([]float32, m)
		for it := lo; it < hi; it++ {
			i, h := it/a.Heads, it%a.Heads
			qh := qq.Data[i*qq.cols+h*hd : i*qq.cols+(h+1)*hd]
			off := (h / group) * hd
			for p := range scores {
				scores[p] = cpu.DotF32(qh, kk.Data[p*kvDim+off:p*kvDim+off+hd]) * a.Scale
			}
			cpu.Softmax(scores)
			out := d.Data[i*d.cols+h*hd : i*d.cols+(h+1)*hd]
			clear(out)
			for p, w := range scores {
				cpu.AXPY(out, w, vv.Data[p*kvDim+off:p*kvDim+off+hd])
			}
		}
	})
}

func (c *CPU) Im2Col(dst, x backend.Tensor, gh, gw, k int) {
	d, xx := ten(dst), ten(x)
	C := xx.cols
	if k <= 0 || gh%k != 0 || gw%k != 0 || xx.rows != gh*gw || d.rows != (gh/k)*(gw/k) || d.cols != C*k*k {
		panic(fmt.Sprintf("cpubackend: Im2Col of %d×%d as a %d×%d grid with %d×%d patches into %d×%d", xx.rows, xx.cols, gh, gw, k, k, d.rows, d.cols))
	}
	ow := gw / k
	c.pool.Run(d.rows, 1, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			oy, ox := o/ow, o%ow
			out := d.Row(o)
			for dy := 0; dy < k; dy++ {
				for dx := 0; dx < k; dx++ {
					in := xx.Row((oy*k+dy)*gw + ox*k + dx)
					j := dy*k + dx
					for ch, val := range in {
						out[ch*k*k+j] = val
					}
				}
			}
		}
	})
}
