package cudabackend

import (
	"fmt"

	"github.com/rpiq/rpiq/device/cuda"
	"github.com/rpiq/rpiq/runtime/backend"
)

// kvCache holds K and V of every layer on the device: [maxSeq][kvDim] each, f16 unless the
// backend was opened with CacheF32.
type kvCache struct {
	k, v       []*buffer
	n, max, kv int
	f16        bool
}

func (c *kvCache) Len() int { return c.n }
func (c *kvCache) Cap() int { return c.max }
func (c *kvCache) SetLen(n int) {
	if n < 0 || n > c.max {
		panic(fmt.Sprintf("cudabackend: cache length %d outside [0, %d]", n, c.max))
	}
	c.n = n
}

// Bytes is the cache's device memory.
func (c *kvCache) Bytes() int64 {
	if len(c.k) == 0 {
		return 0
	}
	return int64(len(c.k)) * 2 * int64(c.k[0].bytes)
}

func (b *Backend) NewCache(layers, maxSeq, kvDim int) backend.Cache {
	c := &kvCache{max: maxSeq, kv: kvDim, f16: !b.opts.CacheF32}
	elem := 2
	if !c.f16 {
		elem = 4
	}
	bytes := max(maxSeq*kvDim*elem, 4)
	for range layers {
		for _, dst := range []*[]*buffer{&c.k, &c.v} {
			buf := b.alloc(bytes)
			b.run(func(cx *cuda.Ctx) error { return cx.Memset32Async(buf.ptr, 0, bytes/4, b.stream) })
			*dst = append(*dst, buf)
		}
	}
	return c
}

// position is what kernels get for a host position: itself, or inside a captured step, 0 plus
// the step's device position (written before each replay).
func (b *Backend) position(pos int) (int, cuda.DevPtr) {
	if b.step != nil {
		return 0, b.step.pos.ptr
	}
	return pos, 0
}

const (
	faRows = 16
	faKeys = 32
)

func (b *Backend) Attention(dst, q, k, v backend.Tensor, kc backend.Cache, layer, pos int, a backend.Attn) {
	c, ok := kc.(*kvCache)
	if !ok {
		panic(fmt.Sprintf("cudabackend: cache of type %T is not a CUDA cache", kc))
	}
	d, qq, kk, vv := ten(dst), ten(q), ten(k), ten(v)
	n, hd, kvDim := qq.rows, a.HeadDim, a.KVHeads*a.HeadDim
	switch {
	case a.Heads <= 0 || a.KVHeads <= 0 || a.Heads%a.KVHeads != 0:
		panic(fmt.Sprintf("cudabackend: Attention with %d heads and %d kv heads", a.Heads, a.KVHeads))
	case hd <= 0 || hd > 256:
		panic(fmt.Sprintf("cudabackend: Attention head_dim %d (the kernels take 1..256)", hd))
	case qq.cols != a.Heads*hd || d.cols != qq.cols || d.rows != n:
		panic(fmt.Sprintf("cudabackend: Attention q %d×%d dst %d×%d for %d heads of %d", n, qq.cols, d.rows, d.cols, a.Heads, hd))
	case kk.cols != kvDim || vv.cols != kvDim || kk.rows != n || vv.rows != n || kvDim != c.kv:
		panic(fmt.Sprintf("cudabackend: Attention k %d×%d v %d×%d, want %d×%d (cache %d)", kk.rows, kk.cols, vv.rows, vv.cols, n, kvDim, c.kv))
	case layer < 0 || layer >= len(c.k) || pos < 0 || pos+n > c.max:
		panic(fmt.Sprintf("cudabackend: Attention layer %d positions %d..%d in a cache of %d layers × %d", layer, pos, pos+n, len(c.k), c.max))
	case b.step != nil && n != 1:
		panic("cudabackend: a captured step attends one token")
	}
	suffix := "f32"
	if c.f16 {
		suffix = "f16"
	}
	kbuf, vbuf := c.k[layer].ptr, c.v[layer].ptr
	pos0, posDev := b.position(pos)
	b.launch("kv_store_"+suffix, b.grid1(n*kvDim), cuda.D1(256), 0, cuda.Ptr(kk.ptr), cuda.Ptr(vv.ptr),
		cuda.Ptr(kbuf), cuda.Ptr(vbuf), cuda.I32(n), cuda.I32(kvDim), cuda.I32(pos0), cuda.Ptr(posDev))
	if n == 1 {
		seq := pos + 1
		if b.step != nil {
			seq = c.max // the replayed position is not known here: size for the whole cache
		}
		if seq > b.splitAbove {
			// Long context: split the positions over more blocks (and keep shared memory small),
			// then merge the splits' softmax statistics.
			chunk := b.splitChunk
			splits := (seq + chunk - 1) / chunk
			part := b.alloc(a.Heads * splits * (hd + 2) * 4)
			b.launch("attention_decode_part_"+suffix, cuda.D2(a.Heads, splits), cuda.D1(256), (32+hd+256+chunk)*4,
				cuda.Ptr(qq.ptr), cuda.Ptr(kbuf), cuda.Ptr(vbuf), cuda.Ptr(part.ptr), cuda.I32(a.Heads), cuda.I32(a.KVHeads),
				cuda.I32(hd), cuda.F32(a.Scale), cuda.I32(pos0), cuda.Ptr(posDev), cuda.I32(chunk))
			b.launch("attention_decode_combine", cuda.D1(a.Heads), cuda.D1(threadsFor(hd)), 0,
				cuda.Ptr(part.ptr), cuda.Ptr(d.ptr), cuda.I32(splits), cuda.I32(hd))
			return
		}
		shared := (32 + hd + 256 + seq) * 4
		b.checkShared("attention_decode", shared, c.max)
		b.launch("attention_decode_"+suffix, cuda.D1(a.Heads), cuda.D1(256), shared, cuda.Ptr(qq.ptr), cuda.Ptr(kbuf),
			cuda.Ptr(vbuf), cuda.Ptr(d.ptr), cuda.I32(a.Heads), cuda.I32(a.KVHeads), cuda.I32(hd), cuda.F32(a.Scale),
			cuda.I32(pos0), cuda.Ptr(posDev))
		return
	}
	shared := (faRows*hd + faKeys*(hd+1) + faKeys*hd) * 4
	b.checkShared("attention_prefill", shared, c.max)
	b.launch("attention_prefill_"+suffix, cuda.D2((n+faRows-1)/faRows, a.Heads), cuda.D1(128), shared,
		cuda.Ptr(qq.ptr), cuda.Ptr(kbuf), cuda.Ptr(vbuf), cuda.Ptr(d.ptr), cuda.I32(n), cuda.I32(a.Heads),
		cuda.I32(a.KVHeads), cuda.I32(hd), cuda.F32(a.Scale), cuda.I32(pos), cuda.I32(0), cuda.I32(1))
}

func (b *Backend) AttentionFull(dst, q, k, v backend.Tensor, a backend.Attn) {
	d, qq, kk, vv := ten(dst), ten(q), ten(k), ten(v)
	n, m, hd, kvDim := qq.rows, kk.rows, a.HeadDim, a.KVHeads*a.HeadDim
	switch {
	case a.Heads <= 0 || a.KVHeads <= 0 || a.Heads%a.KVHeads != 0 || hd <= 0 || hd > 256:
		panic(fmt.Sprintf("cudabackend: AttentionFull with %d heads, %d kv heads of %d", a.Heads, a.KVHeads, hd))
	case qq.cols != a.Heads*hd || d.cols != qq.cols || d.rows != n:
		panic(fmt.Sprintf("cudabackend: AttentionFull q %d×%d dst %d×%d for %d heads of %d", n, qq.cols, d.rows, d.cols, a.Heads, hd))
	case kk.cols != kvDim || vv.cols != kvDim || vv.rows != m || m == 0:
		panic(fmt.Sprintf("cudabackend: AttentionFull k %d×%d v %d×%d, want m×%d with m > 0", kk.rows, kk.cols, vv.rows, vv.cols, kvDim))
	}
	shared := (faRows*hd + faKeys*(hd+1) + faKeys*hd) * 4
	b.checkShared("attention_prefill", shared, m)
	b.launch("attention_prefill_f32", cuda.D2((n+faRows-1)/faRows, a.Heads), cuda.D1(128), shared,
		cuda.Ptr(qq.ptr), cuda.Ptr(kk.ptr), cuda.Ptr(vv.ptr), cuda.Ptr(d.ptr), cuda.I32(n), cuda.I32(a.Heads),
		cuda.I32(a.KVHeads), cuda.I32(hd), cuda.F32(a.Scale), cuda.I32(0), cuda.I32(m), cuda.I32(0))
}

func (b *Backend) checkShared(op string, bytes, maxSeq int) {
	limit := b.sharedLimit
	if bytes > limit {
		panic(fmt.Sprintf("cudabackend: %s needs %d bytes of shared memory (cache of %d positions); this GPU allows %d", op, bytes, maxSeq, limit))
	}
}
