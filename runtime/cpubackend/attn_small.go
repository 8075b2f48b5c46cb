package cpubackend

import (
	"github.com/rpiq/rpiq/kernels/cpu"
	"github.com/rpiq/rpiq/runtime/backend"
)

// smallHead is the widest head that attentionSmallHead takes: below it a query·key dot is too
// short for vector code (stories260K's heads are 8 wide), so the keys and values are turned
// to head-major rows and the work runs along the positions instead.
const smallHead = 16

// attentionSmallHead is Attention for heads of at most smallHead values: per kv head, K and V
// of positions 0..pos+n-1 transposed to hd rows of positions; a query's scores are hd AXPYs
// along the positions, its output hd dot products along them. Same formulas as Attention, the
// sums in another order.
func (c *CPU) attentionSmallHead(d, qq *Tensor, K, V []float32, n, pos int, a backend.Attn) {
	hd, kvDim := a.HeadDim, a.KVHeads*a.HeadDim
	T := pos + n
	kt := c.floats(kvDim * T) // row j = feature j of K over positions
	vt := c.floats(kvDim * T)
	c.pool.Run(kvDim, 1, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			kr, vr := kt[j*T:(j+1)*T], vt[j*T:(j+1)*T]
			for p := range T {
				kr[p], vr[p] = K[p*kvDim+j], V[p*kvDim+j]
			}
		}
	})
	group := a.Heads / a.KVHeads
	c.pool.Run(n*a.Heads, 1, func(lo, hi int) {
		scores := make([]float32, T)
		for it := lo; it < hi; it++ {
			r, h := it/a.Heads, it%a.Heads
			i := r / 2 // cheap and costly rows alternate, as in Attention
			if r%2 == 1 {
				i = n - 1 - r/2
			}
			qh := qq.Data[i*qq.cols+h*hd : i*qq.cols+(h+1)*hd]
			off := (h / group) * hd
			t := pos + i + 1
			s := scores[:t]
			cpu.AXPYRows(s, qh, kt[off*T:], T) // = clear + one AXPY per feature, y written once
			cpu.ScaleF32(s, a.Scale)
			cpu.Softmax(s)
			out := d.Data[i*d.cols+h*hd : i*d.cols+(h+1)*hd]
			for e := range out {
				out[e] = cpu.DotF32(s, vt[(off+e)*T:(off+e)*T+t])
			}
		}
	})
}
