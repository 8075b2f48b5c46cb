// Package cpubackend is the CPU implementation of backend.Backend over kernels/cpu: tensors are
// plain []float32, float32 weights can point straight into a memory-mapped safetensors file, and
// bfloat16/half weights are used as stored (see docs/DESIGN.md for the measurement behind that).
package cpubackend

import (
	"fmt"
	"math"

	"github.com/rpiq/rpiq/kernels/cpu"
	"github.com/rpiq/rpiq/kernels/cpu/q"
	"github.com/rpiq/rpiq/runtime/backend"
)

// CPU is the CPU backend; its ops run on a persistent worker pool.
type CPU struct {
	pool    *cpu.Pool
	scratch slab      // scratch.go
	rope    ropeTable // rope.go
}

// New returns a CPU backend with the given number of threads (<= 0: cpu.DefaultThreads()).
func New(threads int) *CPU {
	if threads <= 0 || threads == cpu.DefaultThreads() {
		return &CPU{pool: cpu.Default()}
	}
	return &CPU{pool: cpu.NewPool(threads)}
}

// Pool is the worker pool the backend runs on (quantized kernels share it).
func (c *CPU) Pool() *cpu.Pool { return c.pool }

func (c *CPU) Name() string {
	return fmt.Sprintf("cpu (%d threads, dense %s, quantized %s)", c.pool.Threads(), cpu.Accelerated(), q.Active())
}

// Tensor is the CPU tensor: Data holds Rows×Cols values row-major.
type Tensor struct {
	Data       []float32
	rows, cols int
}

func (t *Tensor) Rows() int { return t.rows }
func (t *Tensor) Cols() int { return t.cols }

// Row is row i of t.
func (t *Tensor) Row(i int) []float32 { return t.Data[i*t.cols : (i+1)*t.cols] }

// Wrap makes a tensor that uses data (rows*cols values) as its storage.
func Wrap(data []float32, rows, cols int) *Tensor {
	if len(data) < rows*cols {
		panic(fmt.Sprintf("cpubackend: Wrap of %d values as %d×%d", len(data), rows, cols))
	}
	return &Tensor{Data: data[:rows*cols], rows: rows, cols: cols}
}

func (c *CPU) NewTensor(rows, cols int) backend.Tensor {
	if c.scratch.on {
		return &Tensor{Data: c.scratch.take(rows * cols), rows: rows, cols: cols}
	}
	return &Tensor{Data: make([]float32, rows*cols), rows: rows, cols: cols}
}

func (c *CPU) Upload(t backend.Tensor, src []float32) {
	d := ten(t).Data
	if len(src) != len(d) {
		panic(fmt.Sprintf("cpubackend: Upload of %d values into %d×%d", len(src), t.Rows(), t.Cols()))
	}
	copy(d, src)
}

func (c *CPU) Download(dst []float32, t backend.Tensor) {
	d := ten(t).Data
	if len(dst) != len(d) {
		panic(fmt.Sprintf("cpubackend: Download of %d×%d into %d values", t.Rows(), t.Cols(), len(dst)))
	}
	copy(dst, d)
}

func (c *CPU) Rows(t backend.Tensor, lo, hi int) backend.Tensor {
	x := ten(t)
	if lo < 0 || hi > x.rows || lo > hi {
		panic(fmt.Sprintf("cpubackend: Rows(%d, %d) of %d rows", lo, hi, x.rows))
	}
	return &Tensor{Data: x.Data[lo*x.cols : hi*x.cols], rows: hi - lo, cols: x.cols}
}

func ten(t backend.Tensor) *Tensor {
	x, ok := t.(*Tensor)
	if !ok {
		panic(fmt.Sprintf("cpubackend: tensor of type %T is not a CPU tensor", t))
	}
	return x
}

func same(op string, a, b backend.Tensor) {
	if a.Rows() != b.Rows() || a.Cols() != b.Cols() {
		panic(fmt.Sprintf("cpubackend: %s of %d×%d and %d×%d", op, a.Rows(), a.Cols(), b.Rows(), b.Cols()))
	}
}

// MatMul sets dst = x·wᵀ; w must be a cpubackend Linear (every weight this backend makes is one,
// and quantized formats plug in by implementing it).
func (c *CPU) MatMul(dst, x backend.Tensor, w backend.Weight) {
	l, ok := w.(Linear)
	if !ok {
		panic(fmt.Sprintf("cpubackend: weight of type %T cannot multiply on the CPU", w))
	}
	d, xx := ten(dst), ten(x)
	if xx.cols != w.Cols() || d.rows != xx.rows || d.cols != w.Rows() {
		panic(fmt.Sprintf("cpubackend: MatMul dst %d×%d = x %d×%d · (w %d×%d)ᵀ", d.rows, d.cols, xx.rows, xx.cols, w.Rows(), w.Cols()))
	}
	l.MatMul(c.pool, d.Data, xx.Data, xx.rows)
}

func (c *CPU) AddBias(x, b backend.Tensor) {
	xx, bb := ten(x), ten(b)
	if bb.rows != 1 || bb.cols != xx.cols {
		panic(fmt.Sprintf("cpubackend: AddBias of %d×%d to %d×%d", bb.rows, bb.cols, xx.rows, xx.cols))
	}
	for i := 0; i < xx.rows; i++ {
		r := xx.Row(i)
		cpu.Add(r, r, bb.Data)
	}
}

func (c *CPU) Add(dst, a, b backend.Tensor) {
	same("Add", a, b)
	same("Add", dst, a)
	cpu.Add(ten(dst).Data, ten(a).Data, ten(b).Data)
}

func (c *CPU) Copy(dst, src backend.Tensor) {
	same("Copy", dst, src)
	copy(ten(dst).Data, ten(src).Data)
}

func (c *CPU) RMSNorm(dst, x, w backend.Tensor, eps float32) {
	same("RMSNorm", dst, x)
	d, xx, ww := ten(dst), ten(x), ten(w)
	g := ww.cols
	if ww.rows != 1 || g == 0 || xx.cols%g != 0 {
		panic(fmt.Sprintf("cpubackend: RMSNorm weight 1×%d does not divide rows of %d", g, xx.cols))
	}
	for i := 0; i < len(xx.Data); i += g {
		cpu.RMSNorm(d.Data[i:i+g], xx.Data[i:i+g], ww.Data, eps)
	}
}

func (c *CPU) LayerNorm(dst, x, w, b backend.Tensor, eps float32) {
	same("LayerNorm", dst, x)
	d, xx, ww, bb := ten(dst), ten(x), ten(w), ten(b)
	if ww.cols != xx.cols || bb.cols != xx.cols {
		panic(fmt.Sprintf("cpubackend: LayerNorm weight %d / bias %d for rows of %d", ww.cols, bb.cols, xx.cols))
	}
	for i := 0; i < xx.rows; i++ {
		cpu.LayerNorm(d.Row(i), xx.Row(i), ww.Data, bb.Data, eps)
	}
}

func (c *CPU) RoPE(x backend.Tensor, headDim, pos int, invFreq []float32) {
	xx := ten(x)
	if headDim <= 0 || xx.cols%headDim != 0 || len(invFreq) != headDim/2 || headDim%2 != 0 {
		panic(fmt.Sprintf("cpubackend: RoPE head_dim %d with %d frequencies on rows of %d", headDim, len(invFreq), xx.cols))
	}
	h := headDim / 2
	tab := c.rope.angles(pos, xx.rows, invFreq)
	cs := make([]float32, 2*h)
	for i := 0; i < xx.rows; i++ { // the angles once per position, not once per head
		if tab != nil {
			cs = tab[2*h*i : 2*h*(i+1)]
		} else {
			cpu.RoPEAngles(cs[:h], cs[h:], pos+i, invFreq)
		}
		r := xx.Row(i)
		for o := 0; o < len(r); o += headDim {
			cpu.RoPEWith(r[o:o+headDim], cs[:h], cs[h:])
		}
	}
}

func (c *CPU) SwiGLU(dst, gate, up backend.Tensor) {
	same("SwiGLU", gate, up)
	same("SwiGLU", dst, gate)
	d, g, u := ten(dst).Data, ten(gate).Data, ten(up).Data
	c.pool.Run(len(d), 64, func(lo, hi int) { cpu.SwiGLU(d[lo:hi], g[lo:hi], u[lo:hi]) })
}

func (c *CPU) ReLU(x backend.Tensor) { cpu.ReLU(ten(x).Data) }

func (c *CPU) GELU(x backend.Tensor) {
	d := ten(x).Data
	c.pool.Run(len(d), 64, func(lo, hi int) { cpu.GELU(d[lo:hi]) })
}

// cache is the CPU KV cache: per layer, K and V of maxSeq positions × kvDim.
type cache struct {
	k, v       [][]float32
	n, max, kv int
}

func (c *CPU) NewCache(layers, maxSeq, kvDim int) backend.Cache {
	kc := &cache{max: maxSeq, kv: kvDim}
	mk := func() []float32 { return make([]float32, maxSeq*kvDim) }
	if c.scratch.on {
		mk = func() []float32 { return c.scratch.take(maxSeq * kvDim) }
	}
	for range layers {
		kc.k = append(kc.k, mk())
		kc.v = append(kc.v, mk())
	}
	return kc
}

func (k *cache) Len() int { return k.n }
func (k *cache) Cap() int { return k.max }
func (k *cache) SetLen(n int) {
	if n < 0 || n > k.max {
		panic(fmt.Sprintf("cpubackend: cache length %d outside [0, %d]", n, k.max))
	}
	k.n = n
}

// Bytes is the cache's memory.
func (k *cache) Bytes() int64 { return int64(len(k.k)) * 2 * int64(k.max*k.kv) * 4 }

func (c *CPU) Attention(dst, q, k, v backend.Tensor, kc backend.Cache, layer, pos int, a backend.Attn) {
	cc, ok := kc.(*cache)
	if !ok {
		panic(fmt.Sprintf("cpubackend: cache of type %T is not a CPU cache", kc))
	}
	d, qq, kk, vv := ten(dst), ten(q), ten(k), ten(v)
	n, hd, kvDim := qq.rows, a.HeadDim, a.KVHeads*a.HeadDim
	switch {
	case a.Heads <= 0 || a.KVHeads <= 0 || a.Heads%a.KVHeads != 0:
		panic(fmt.Sprintf("cpubackend: Attention with %d heads and %d kv heads", a.Heads, a.KVHeads))
	case qq.cols != a.Heads*hd || d.cols != qq.cols || d.rows != n:
		panic(fmt.Sprintf("cpubackend: Attention q %d×%d dst %d×%d for %d heads of %d", n, qq.cols, d.rows, d.cols, a.Heads, hd))
	case kk.cols != kvDim || vv.cols != kvDim || kk.rows != n || vv.rows != n || kvDim != cc.kv:
		panic(fmt.Sprintf("cpubackend: Attention k %d×%d v %d×%d, want %d×%d (cache %d)", kk.rows, kk.cols, vv.rows, vv.cols, n, kvDim, cc.kv))
	case layer < 0 || layer >= len(cc.k) || pos < 0 || pos+n > cc.max:
		panic(fmt.Sprintf("cpubackend: Attention layer %d positions %d..%d in a cache of %d layers × %d", layer, pos, pos+n, len(cc.k), cc.max))
	}
	K, V := cc.k[layer], cc.v[layer]
	copy(K[pos*kvDim:(pos+n)*kvDim], kk.Data)
	copy(V[pos*kvDim:(pos+n)*kvDim], vv.Data)
	if hd <= smallHead {
		c.attentionSmallHead(d, qq, K, V, n, pos, a) // attn_small.go
		return
	}
	group := a.Heads / a.KVHeads
	// One work item per (row, key/value head): the group query heads that share it go together,
	// so each key and value row is read once for all of them (4 with Llama-3's 32/8 heads).
	// Row r of the work order is query row r/2 or n-1-r/2 alternately, so the contiguous ranges
	// the pool hands out mix cheap early rows with costly late ones (causal attention).
	c.pool.Run(n*a.KVHeads, 1, func(lo, hi int) {
		scores := make([]float32, group*(pos+n))
		for it := lo; it < hi; it++ {
			r, kh := it/a.KVHeads, it%a.KVHeads
			i := r / 2
			if r%2 == 1 {
				i = n - 1 - r/2
			}
			off := kh * hd
			t := pos + i + 1
			qg := qq.Data[i*qq.cols+kh*group*hd : i*qq.cols+(kh+1)*group*hd] // the group's query heads, contiguous
			j := 0
			var four [4]float32
			for ; j+4 <= group; j += 4 { // the hot loop of attention: four query heads per key
				for p := 0; p < t; p++ {
					cpu.Dot1x4F32(K[p*kvDim+off:p*kvDim+off+hd], qg[j*hd:], hd, &four)
					for u := 0; u < 4; u++ {
						scores[(j+u)*t+p] = four[u] * a.Scale
					}
				}
			}
			for ; j < group; j++ {
				qh := qg[j*hd : (j+1)*hd]
				for p := 0; p < t; p++ {
					scores[j*t+p] = cpu.DotF32(qh, K[p*kvDim+off:p*kvDim+off+hd]) * a.Scale
				}
			}
			outs := d.Data[i*d.cols+kh*group*hd : i*d.cols+(kh+1)*group*hd] // the group's outputs, contiguous
			clear(outs)
			for j := 0; j < group; j++ {
				cpu.Softmax(scores[j*t : (j+1)*t])
			}
			for p := 0; p < t; p++ { // each value row once for the group
				v := V[p*kvDim+off : p*kvDim+off+hd]
				for j := 0; j < group; j++ {
					cpu.AXPY(outs[j*hd:(j+1)*hd], scores[j*t+p], v)
				}
			}
		}
	})
}

func (c *CPU) Embed(dst backend.Tensor, table backend.Weight, ids []int32) {
	d := ten(dst)
	if d.rows != len(ids) || d.cols != table.Cols() {
		panic(fmt.Sprintf("cpubackend: Embed of %d ids into %d×%d from a table of width %d", len(ids), d.rows, d.cols, table.Cols()))
	}
	l, ok := table.(Linear)
	if !ok {
		panic(fmt.Sprintf("cpubackend: embedding table of type %T", table))
	}
	for i, id := range ids {
		if id < 0 || int(id) >= table.Rows() {
			panic(fmt.Sprintf("cpubackend: token id %d outside the table of %d rows", id, table.Rows()))
		}
		l.Row(d.Row(i), int(id))
	}
}

// InvSqrt is 1/sqrt(x) as float32, the usual attention scale.
func InvSqrt(x int) float32 { return float32(1 / math.Sqrt(float64(x))) }
