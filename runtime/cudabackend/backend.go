// Package cudabackend is the CUDA implementation of backend.Backend: the kernels of kernels/cuda,
// compiled by NVRTC for the GPU at hand (cached on disk), driven through device/cuda's purego
// bindings. Activations are float32 device tensors; dense weights stay in their stored type;
// GPTQ weights are used in their checkpoint layout; the KV cache is f16 by default.
//
// Every op is enqueued on one stream without host synchronisation; Download (and host-to-device
// copies, which must not overtake pending kernels) wait for it. A decode step can also be
// captured once as a CUDA graph and replayed per token (see Step). Without a driver or a GPU,
// New fails with an error wrapping cuda.ErrNoDriver or cuda.ErrNoDevice, and OpenOrCPU falls
// back to the CPU backend with one log line.
//
// The interface has no error returns, so a failing GPU call panics with the CUDA error; shape
// mismatches panic as in the CPU backend.
package cudabackend

import (
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/rpiq/rpiq/device/cuda"
	"github.com/rpiq/rpiq/kernels/half"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/cpubackend"
)

// Options configure New.
type Options struct {
	Device int // ordinal
	// CacheF32 keeps the KV cache in float32 instead of f16 (twice the bytes per token; used by the
	// conformance suite, whose attention tolerance is float32's).
	CacheF32 bool
	// KernelCache is where compiled kernels are kept; the zero value means cuda.DefaultCache().
	KernelCache cuda.Cache
}

// Backend is a GPU.
type Backend struct {
	dev    *cuda.Device
	info   cuda.Info
	k      *Kernels
	stream cuda.Stream
	opts   Options

	mu       sync.Mutex
	invFreqs map[*float32]cuda.DevPtr // RoPE tables, uploaded once per slice the model passes
	ids      cuda.DevPtr              // scratch for Embed's token ids
	idsCap   int

	sharedLimit int // dynamic shared memory the attention kernels may use
	// Decode attention over more than splitAbove positions is split into chunks of splitChunk
	// positions (flash-decoding); tests lower both to exercise the path.
	splitAbove, splitChunk int

	step     *stepState // non-nil while a decode step is being captured
	captured []*buffer  // buffers allocated during a capture: the graph owns them
	keep     []any      // device buffers that live as long as the backend

	token, rng, scratch *buffer // the sampler's output, draw counter and work space

	qmu   sync.Mutex
	queue []func(c *cuda.Ctx) error // launches not yet handed to the device thread
}

var _ backend.Backend = (*Backend)(nil)

// New opens the GPU, compiles (or loads from the cache) every kernel and makes a stream.
func New(o Options) (*Backend, error) {
	drv, err := cuda.LoadDriver()
	if err != nil {
		return nil, err
	}
	return NewWith(drv, o)
}

// NewWith is New through a given driver (the tests pass the CPU emulator of kernels/cuda/emu).
func NewWith(drv *cuda.Driver, o Options) (*Backend, error) {
	dev, err := cuda.OpenWith(drv, o.Device)
	if err != nil {
		return nil, err
	}
	nv, err := cuda.LoadNVRTC()
	if err != nil {
		dev.Close()
		return nil, err
	}
	cache := o.KernelCache
	if cache.Dir == "" {
		if cache, err = cuda.DefaultCache(); err != nil {
			dev.Close()
			return nil, err
		}
	}
	b := &Backend{dev: dev, info: dev.Info(), opts: o, invFreqs: map[*float32]cuda.DevPtr{}, splitAbove: 512, splitChunk: 256}
	err = dev.Run(func(c *cuda.Ctx) error {
		k, err := LoadKernels(c, nv, cache, b.info)
		if err != nil {
			return err
		}
		b.k = k
		// Attention keeps scores (decode) or tiles (prefill) in dynamic shared memory; allow the
		// device's opt-in maximum so long contexts and head_dim 256 fit.
		// A refusal is not fatal: the kernels then keep the default 48 KiB (checkShared knows).
		b.sharedLimit = 48 << 10
		if b.info.MaxSharedPerBlock > b.sharedLimit {
			ok := true
			for _, name := range []string{"attention_decode_f16", "attention_decode_f32", "attention_prefill_f16", "attention_prefill_f32"} {
				ok = ok && c.SetMaxDynamicShared(k.Get(name), b.info.MaxSharedPerBlock) == nil
			}
			if ok {
				b.sharedLimit = b.info.MaxSharedPerBlock
			}
		}
		b.stream, err = c.NewStream()
		return err
	})
	if err != nil {
		dev.Close()
		return nil, err
	}
	return b, nil
}

// OpenOrCPU returns the CUDA backend when a GPU is usable, else the CPU backend with threads
// threads, saying so in one log line.
func OpenOrCPU(o Options, threads int, log *slog.Logger) backend.Backend {
	b, err := New(o)
	if err == nil {
		return b
	}
	if log == nil {
		log = slog.Default()
	}
	log.Info("CUDA backend unavailable; using the CPU backend", "reason", err.Error())
	return cpubackend.New(threads)
}

// Close releases the GPU after the queued launches. Tensors and weights must not be used
// afterwards.
func (b *Backend) Close() error {
	err := b.do(nil)
	if cerr := b.dev.Close(); err == nil {
		err = cerr
	}
	return err
}

// Info describes the GPU.
func (b *Backend) Info() cuda.Info { return b.info }

func (b *Backend) Name() string {
	return fmt.Sprintf("cuda (%s, sm_%d, %d SMs)", b.info.Name, b.info.Arch(), b.info.Multiprocessors)
}

// Kernel launches are queued on the host and handed to the device thread in batches: a round
// trip to that thread costs microseconds (a thread wake-up), a launch a fraction of that. Every
// other stream operation goes through do, which first flushes the queue, so the stream sees
// exactly the program order. A failing launch is reported (as a panic naming the kernel) at the
// next flush.
const maxQueued = 64

// do runs fn on the device thread after the queued launches and returns its error.
func (b *Backend) do(fn func(c *cuda.Ctx) error) error {
	b.qmu.Lock()
	queued := b.queue
	b.queue = nil
	b.qmu.Unlock()
	return b.dev.Run(func(c *cuda.Ctx) error {
		for _, q := range queued {
			if err := q(c); err != nil {
				return err
			}
		}
		if fn == nil {
			return nil
		}
		return fn(c)
	})
}

// run is do for the interface's methods, which have no error return: a CUDA failure panics with
// the error naming the call.
func (b *Backend) run(fn func(c *cuda.Ctx) error) {
	if err := b.do(fn); err != nil {
		panic(fmt.Sprintf("cudabackend: %v", err))
	}
}

// Flush hands every queued launch to the GPU (they are otherwise sent in batches, or before the
// next copy, allocation or synchronisation).
func (b *Backend) Flush() { b.run(nil) }

func (b *Backend) launch(name string, grid, block cuda.Dim3, shared int, args ...uint64) {
	f := b.k.Get(name)
	b.qmu.Lock()
	b.queue = append(b.queue, func(c *cuda.Ctx) error { return c.Launch(f, grid, block, shared, b.stream, args...) })
	full := len(b.queue) >= maxQueued
	b.qmu.Unlock()
	if full {
		b.run(nil)
	}
}

// grid1 is a grid-stride launch size for n elements: enough blocks to fill the GPU, no more.
func (b *Backend) grid1(n int) cuda.Dim3 {
	blocks := (n + 255) / 256
	if lim := b.info.Multiprocessors * 8; lim > 0 && blocks > lim {
		blocks = lim
	}
	if blocks < 1 {
		blocks = 1
	}
	return cuda.D1(blocks)
}

// ---- device memory, freed when its Go owner is collected ----

type buffer struct {
	ptr   cuda.DevPtr
	bytes int
}

func (b *Backend) alloc(bytes int) *buffer {
	buf := &buffer{bytes: bytes}
	b.run(func(c *cuda.Ctx) error {
		p, err := c.Alloc(bytes)
		buf.ptr = p
		return err
	})
	if b.step != nil {
		b.captured = append(b.captured, buf)
	}
	dev := b.dev
	runtime.AddCleanup(buf, func(p cuda.DevPtr) {
		_ = dev.Run(func(c *cuda.Ctx) error { return c.Free(p) }) // after Close: nothing to free
	}, buf.ptr)
	return buf
}

// Tensor is a float32 matrix in device memory (or a view of rows of one).
type Tensor struct {
	buf        *buffer // keeps the storage alive for views
	ptr        cuda.DevPtr
	rows, cols int
}

func (t *Tensor) Rows() int { return t.rows }
func (t *Tensor) Cols() int { return t.cols }

// Ptr is the device address of the first value.
func (t *Tensor) Ptr() cuda.DevPtr { return t.ptr }

func ten(t backend.Tensor) *Tensor {
	g, ok := t.(*Tensor)
	if !ok {
		panic(fmt.Sprintf("cudabackend: tensor of type %T is not a CUDA tensor", t))
	}
	return g
}

func (b *Backend) NewTensor(rows, cols int) backend.Tensor {
	n := rows * cols * 4
	buf := b.alloc(max(n, 4))
	b.run(func(c *cuda.Ctx) error { return c.Memset32Async(buf.ptr, 0, max(rows*cols, 1), b.stream) })
	return &Tensor{buf: buf, ptr: buf.ptr, rows: rows, cols: cols}
}

// sync waits for the stream: before a host copy (which runs on the legacy stream and would not
// wait for ours) and before handing results to the host.
func (b *Backend) sync(c *cuda.Ctx) error { return c.Sync(b.stream) }

func (b *Backend) Upload(t backend.Tensor, src []float32) {
	g := ten(t)
	if len(src) != g.rows*g.cols {
		panic(fmt.Sprintf("cudabackend: Upload of %d values into %d×%d", len(src), g.rows, g.cols))
	}
	b.run(func(c *cuda.Ctx) error {
		if err := b.noCapture("upload"); err != nil {
			return err
		}
		return cuda.CopyToDeviceAsync(c, g.ptr, src, b.stream)
	})
}

func (b *Backend) Download(dst []float32, t backend.Tensor) {
	g := ten(t)
	if len(dst) != g.rows*g.cols {
		panic(fmt.Sprintf("cudabackend: Download of %d×%d into %d values", g.rows, g.cols, len(dst)))
	}
	b.run(func(c *cuda.Ctx) error {
		if err := b.sync(c); err != nil {
			return err
		}
		return cuda.CopyFromDevice(c, dst, g.ptr)
	})
}

func (b *Backend) Rows(t backend.Tensor, lo, hi int) backend.Tensor {
	g := ten(t)
	if lo < 0 || hi > g.rows || lo > hi {
		panic(fmt.Sprintf("cudabackend: Rows(%d, %d) of a %d-row tensor", lo, hi, g.rows))
	}
	return &Tensor{buf: g.buf, ptr: g.ptr + cuda.DevPtr(lo*g.cols*4), rows: hi - lo, cols: g.cols}
}

// ---- weights ----

// Dense is a dense weight [Rows][Cols] in its stored type.
type Dense struct {
	buf        *buffer
	dt         backend.DType
	rows, cols int
}

func (w *Dense) Rows() int            { return w.rows }
func (w *Dense) Cols() int            { return w.cols }
func (w *Dense) DType() backend.DType { return w.dt }

func (b *Backend) NewWeight(dt backend.DType, rows, cols int, data []byte) (backend.Weight, error) {
	if dt.Size() == 0 {
		return nil, fmt.Errorf("cudabackend: NewWeight: dtype %v is not dense (use NewGPTQWeight)", dt)
	}
	if rows <= 0 || cols <= 0 || len(data) != rows*cols*dt.Size() {
		return nil, fmt.Errorf("cudabackend: NewWeight %v %d×%d: %d bytes, want %d", dt, rows, cols, len(data), rows*cols*dt.Size())
	}
	w := &Dense{buf: b.alloc(len(data)), dt: dt, rows: rows, cols: cols}
	b.run(func(c *cuda.Ctx) error {
		if err := b.noCapture("upload"); err != nil {
			return err
		}
		return cuda.CopyToDeviceAsync(c, w.buf.ptr, data, b.stream)
	})
	return w, nil
}

func (b *Backend) NewWeightF32(rows, cols int, data []float32) backend.Weight {
	if len(data) != rows*cols {
		panic(fmt.Sprintf("cudabackend: NewWeightF32 %d×%d of %d values", rows, cols, len(data)))
	}
	w, err := b.NewWeight(backend.F32, rows, cols, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(data))), len(data)*4))
	if err != nil {
		panic(err)
	}
	return w
}

func (b *Backend) WeightF32(w backend.Weight) []float32 {
	d, ok := w.(*Dense)
	if !ok {
		panic(fmt.Sprintf("cudabackend: WeightF32 of %T", w))
	}
	raw := make([]byte, d.buf.bytes)
	b.run(func(c *cuda.Ctx) error {
		if err := b.sync(c); err != nil {
			return err
		}
		return cuda.CopyFromDevice(c, raw, d.buf.ptr)
	})
	out := make([]float32, d.rows*d.cols)
	for i := range out {
		switch d.dt {
		case backend.F32:
			out[i] = math.Float32frombits(uint32(raw[4*i]) | uint32(raw[4*i+1])<<8 | uint32(raw[4*i+2])<<16 | uint32(raw[4*i+3])<<24)
		case backend.F16:
			out[i] = half.F16ToF32(uint16(raw[2*i]) | uint16(raw[2*i+1])<<8)
		case backend.BF16:
			out[i] = half.BF16ToF32(uint16(raw[2*i]) | uint16(raw[2*i+1])<<8)
		}
	}
	return out
}

// ---- matmul ----

func (b *Backend) MatMul(dst, x backend.Tensor, w backend.Weight) {
	d, xx := ten(dst), ten(x)
	if xx.cols != w.Cols() || d.rows != xx.rows || d.cols != w.Rows() {
		panic(fmt.Sprintf("cudabackend: MatMul dst %d×%d = x %d×%d · (%d×%d)ᵀ", d.rows, d.cols, xx.rows, xx.cols, w.Rows(), w.Cols()))
	}
	switch w := w.(type) {
	case *Dense:
		b.matMulDense(d, xx, w, false)
	case *GPTQWeight:
		b.matMulGPTQ(d, xx, w, false)
	default:
		panic(fmt.Sprintf("cudabackend: MatMul with a weight of type %T", w))
	}
}

var denseSuffix = map[backend.DType]string{backend.F32: "f32", backend.F16: "f16", backend.BF16: "bf16"}

func (b *Backend) matMulDense(d, x *Tensor, w *Dense, accumulate bool) {
	n, k, m := x.rows, x.cols, w.rows
	acc := I(accumulate)
	if n == 1 {
		b.launch("gemv_"+denseSuffix[w.dt], cuda.D1((m+7)/8), cuda.D1(256), 0,
			cuda.Ptr(x.ptr), cuda.Ptr(w.buf.ptr), cuda.Ptr(d.ptr), cuda.I32(k), cuda.I32(m), acc)
		return
	}
	b.launch("gemm_"+denseSuffix[w.dt], cuda.D2((m+63)/64, (n+63)/64), cuda.D1(256), 0,
		cuda.Ptr(x.ptr), cuda.Ptr(w.buf.ptr), cuda.Ptr(d.ptr), cuda.I32(n), cuda.I32(m), cuda.I32(k), acc)
}

// I is a C int flag.
func I(v bool) uint64 {
	if v {
		return cuda.I32(1)
	}
	return cuda.I32(0)
}

// ---- element-wise, norms, RoPE ----

func same(op string, a, b *Tensor) {
	if a.rows != b.rows || a.cols != b.cols {
		panic(fmt.Sprintf("cudabackend: %s of %d×%d and %d×%d", op, a.rows, a.cols, b.rows, b.cols))
	}
}

func (b *Backend) AddBias(x, bias backend.Tensor) {
	xx, bb := ten(x), ten(bias)
	if bb.rows*bb.cols != xx.cols {
		panic(fmt.Sprintf("cudabackend: AddBias of %d×%d to %d×%d", bb.rows, bb.cols, xx.rows, xx.cols))
	}
	n := xx.rows * xx.cols
	b.launch("add_bias", b.grid1(n), cuda.D1(256), 0, cuda.Ptr(xx.ptr), cuda.Ptr(bb.ptr), cuda.U64(uint64(n)), cuda.I32(xx.cols))
}

func (b *Backend) Add(dst, a, c backend.Tensor) {
	d, aa, cc := ten(dst), ten(a), ten(c)
	same("Add", d, aa)
	same("Add", d, cc)
	n := d.rows * d.cols
	b.launch("add_f32", b.grid1(n), cuda.D1(256), 0, cuda.Ptr(d.ptr), cuda.Ptr(aa.ptr), cuda.Ptr(cc.ptr), cuda.U64(uint64(n)))
}

func (b *Backend) Copy(dst, src backend.Tensor) {
	d, s := ten(dst), ten(src)
	same("Copy", d, s)
	b.run(func(c *cuda.Ctx) error { return c.CopyDeviceAsync(d.ptr, s.ptr, d.rows*d.cols*4, b.stream) })
}

func threadsFor(n int) int {
	for _, t := range []int{32, 64, 128} {
		if n <= t {
			return t
		}
	}
	return 256
}

func (b *Backend) RMSNorm(dst, x, w backend.Tensor, eps float32) {
	d, xx, ww := ten(dst), ten(x), ten(w)
	same("RMSNorm", d, xx)
	g := ww.rows * ww.cols
	if g == 0 || xx.cols%g != 0 {
		panic(fmt.Sprintf("cudabackend: RMSNorm of width %d with a weight of %d", xx.cols, g))
	}
	groups := xx.rows * xx.cols / g
	b.launch("rmsnorm", cuda.D1(groups), cuda.D1(threadsFor(g)), 0,
		cuda.Ptr(xx.ptr), cuda.Ptr(ww.ptr), cuda.Ptr(d.ptr), cuda.I32(g), cuda.F32(eps))
}

func (b *Backend) LayerNorm(dst, x, w, bias backend.Tensor, eps float32) {
	d, xx, ww, bb := ten(dst), ten(x), ten(w), ten(bias)
	same("LayerNorm", d, xx)
	if ww.rows*ww.cols != xx.cols || bb.rows*bb.cols != xx.cols {
		panic(fmt.Sprintf("cudabackend: LayerNorm of width %d with w %d and b %d", xx.cols, ww.rows*ww.cols, bb.rows*bb.cols))
	}
	b.launch("layernorm", cuda.D1(xx.rows), cuda.D1(threadsFor(xx.cols)), 0,
		cuda.Ptr(xx.ptr), cuda.Ptr(ww.ptr), cuda.Ptr(bb.ptr), cuda.Ptr(d.ptr), cuda.I32(xx.cols), cuda.F32(eps))
}

// invFreqOnDevice uploads a RoPE table once per slice (models pass the same slice every call).
func (b *Backend) invFreqOnDevice(inv []float32) cuda.DevPtr {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := unsafe.SliceData(inv)
	if p, ok := b.invFreqs[key]; ok {
		return p
	}
	buf := b.alloc(len(inv) * 4)
	b.run(func(c *cuda.Ctx) error {
		if err := b.noCapture("upload"); err != nil {
			return err
		}
		return cuda.CopyToDeviceAsync(c, buf.ptr, inv, b.stream)
	})
	b.keep = append(b.keep, buf, inv) // the table lives as long as the backend
	b.invFreqs[key] = buf.ptr
	return buf.ptr
}

func (b *Backend) RoPE(x backend.Tensor, headDim, pos int, invFreq []float32) {
	xx := ten(x)
	if headDim <= 0 || headDim%2 != 0 || xx.cols%headDim != 0 || len(invFreq) != headDim/2 {
		panic(fmt.Sprintf("cudabackend: RoPE of width %d, head_dim %d, %d frequencies", xx.cols, headDim, len(invFreq)))
	}
	inv := b.invFreqOnDevice(invFreq)
	pos0, posDev := b.position(pos)
	n := xx.rows * xx.cols / 2
	b.launch("rope", b.grid1(n), cuda.D1(256), 0, cuda.Ptr(xx.ptr), cuda.I32(xx.rows), cuda.I32(xx.cols),
		cuda.I32(headDim), cuda.I32(pos0), cuda.Ptr(posDev), cuda.Ptr(0), cuda.Ptr(inv))
}

func (b *Backend) RoPEAt(x backend.Tensor, headDim int, pos []int32, invFreq []float32) {
	xx := ten(x)
	if headDim <= 0 || headDim%2 != 0 || xx.cols%headDim != 0 || len(invFreq) != headDim/2 || len(pos) != xx.rows {
		panic(fmt.Sprintf("cudabackend: RoPEAt head_dim %d with %d frequencies and %d positions on %d×%d", headDim, len(invFreq), len(pos), xx.rows, xx.cols))
	}
	inv := b.invFreqOnDevice(invFreq)
	// Freed when collected: a later upload into the reused block first waits for the stream.
	rows := uploadSlice(b, pos)
	n := xx.rows * xx.cols / 2
	b.launch("rope", b.grid1(n), cuda.D1(256), 0, cuda.Ptr(xx.ptr), cuda.I32(xx.rows), cuda.I32(xx.cols),
		cuda.I32(headDim), cuda.I32(0), cuda.Ptr(0), cuda.Ptr(rows.ptr), cuda.Ptr(inv))
}

func (b *Backend) Im2Col(dst, x backend.Tensor, gh, gw, k int) {
	d, xx := ten(dst), ten(x)
	C := xx.cols
	if k <= 0 || gh%k != 0 || gw%k != 0 || xx.rows != gh*gw || d.rows != (gh/k)*(gw/k) || d.cols != C*k*k {
		panic(fmt.Sprintf("cudabackend: Im2Col of %d×%d as a %d×%d grid with %d×%d patches into %d×%d", xx.rows, xx.cols, gh, gw, k, k, d.rows, d.cols))
	}
	b.launch("im2col", b.grid1(d.rows*d.cols), cuda.D1(256), 0, cuda.Ptr(d.ptr), cuda.Ptr(xx.ptr),
		cuda.I32(C), cuda.I32(gh), cuda.I32(gw), cuda.I32(k))
}

func (b *Backend) SwiGLU(dst, gate, up backend.Tensor) {
	d, g, u := ten(dst), ten(gate), ten(up)
	same("SwiGLU", d, g)
	same("SwiGLU", d, u)
	n := d.rows * d.cols
	b.launch("silu_mul", b.grid1(n), cuda.D1(256), 0, cuda.Ptr(d.ptr), cuda.Ptr(g.ptr), cuda.Ptr(u.ptr), cuda.U64(uint64(n)))
}

func (b *Backend) ReLU(x backend.Tensor) {
	xx := ten(x)
	n := xx.rows * xx.cols
	b.launch("relu", b.grid1(n), cuda.D1(256), 0, cuda.Ptr(xx.ptr), cuda.U64(uint64(n)))
}

func (b *Backend) GELU(x backend.Tensor) {
	xx := ten(x)
	n := xx.rows * xx.cols
	b.launch("gelu", b.grid1(n), cuda.D1(256), 0, cuda.Ptr(xx.ptr), cuda.U64(uint64(n)))
}

func (b *Backend) Embed(dst backend.Tensor, table backend.Weight, ids []int32) {
	d := ten(dst)
	w, ok := table.(*Dense)
	if !ok || d.rows != len(ids) || d.cols != w.cols {
		panic(fmt.Sprintf("cudabackend: Embed of %d ids into %d×%d from a %T table of width %d", len(ids), d.rows, d.cols, table, table.Cols()))
	}
	for _, id := range ids {
		if id < 0 || int(id) >= w.rows {
			panic(fmt.Sprintf("cudabackend: token id %d outside the table of %d rows", id, w.rows))
		}
	}
	idsPtr := b.tokenIDs(ids)
	n := len(ids) * w.cols
	b.launch("embedding_"+denseSuffix[w.dt], b.grid1(n), cuda.D1(256), 0, cuda.Ptr(d.ptr), cuda.Ptr(w.buf.ptr),
		cuda.Ptr(idsPtr), cuda.I32(len(ids)), cuda.I32(w.cols), cuda.I32(w.rows))
}

// tokenIDs puts ids on the device: in a captured step, the device token the sampler wrote.
func (b *Backend) tokenIDs(ids []int32) cuda.DevPtr {
	if b.step != nil && len(ids) == 1 {
		return b.step.token.ptr
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(ids) > b.idsCap {
		buf := b.alloc(len(ids) * 4)
		b.keep = append(b.keep, buf)
		b.ids, b.idsCap = buf.ptr, len(ids)
	}
	b.run(func(c *cuda.Ctx) error {
		if err := b.noCapture("upload"); err != nil {
			return err
		}
		return cuda.CopyToDeviceAsync(c, b.ids, ids, b.stream)
	})
	return b.ids
}

// InvSqrtF is 1/sqrt(n) as float32, the usual attention scale.
func InvSqrtF(n int) float32 { return float32(1 / math.Sqrt(float64(n))) }

// noCapture refuses host uploads inside a captured step: the graph would keep a Go address.
func (b *Backend) noCapture(what string) error {
	if b.step != nil {
		return fmt.Errorf("cudabackend: %s inside a captured step (the graph would keep a host address); do one-time uploads before CaptureStep", what)
	}
	return nil
}
