package cpubackend

import (
	"fmt"

	"github.com/rpiq/rpiq/kernels/cpu"
	"github.com/rpiq/rpiq/runtime/backend"
)

// Linear is a weight the CPU backend can use. Quantized formats (kernels/cpu/q) plug in by
// implementing it; the dense ones below are what NewWeight returns.
type Linear interface {
	backend.Weight
	// MatMul sets dst[n×Rows] = x[n×Cols] · wᵀ on the pool.
	MatMul(p *cpu.Pool, dst, x []float32, n int)
	// Row writes row i as float32 into dst (embedding lookups).
	Row(dst []float32, i int)
}

// DenseF32 is a float32 weight, possibly pointing into a memory-mapped file.
type DenseF32 struct {
	W          []float32
	rows, cols int
}

// DenseHalf is a bfloat16 or IEEE-half weight used as stored.
type DenseHalf struct {
	W          []uint16
	dt         backend.DType
	rows, cols int
}

func (w *DenseF32) Rows() int            { return w.rows }
func (w *DenseF32) Cols() int            { return w.cols }
func (w *DenseF32) DType() backend.DType { return backend.F32 }
func (w *DenseF32) MatMul(p *cpu.Pool, dst, x []float32, n int) {
	p.MatMulF32(dst, x, w.W, n, w.cols, w.rows)
}
func (w *DenseF32) Row(dst []float32, i int) { copy(dst, w.W[i*w.cols:(i+1)*w.cols]) }

func (w *DenseHalf) Rows() int            { return w.rows }
func (w *DenseHalf) Cols() int            { return w.cols }
func (w *DenseHalf) DType() backend.DType { return w.dt }
func (w *DenseHalf) MatMul(p *cpu.Pool, dst, x []float32, n int) {
	if w.dt == backend.BF16 {
		p.MatMulBF16(dst, x, w.W, n, w.cols, w.rows)
	} else {
		p.MatMulF16(dst, x, w.W, n, w.cols, w.rows)
	}
}
func (w *DenseHalf) Row(dst []float32, i int) {
	src := w.W[i*w.cols : (i+1)*w.cols]
	if w.dt == backend.BF16 {
		cpu.WidenBF16(dst[:w.cols], src)
	} else {
		cpu.WidenF16(dst[:w.cols], src)
	}
}

// NewWeight keeps data by reference when it is aligned for its dtype (a memory-mapped
// safetensors file normally is: tensor offsets are multiples of the element size after an
// 8-byte-aligned header), and copies it otherwise.
func (c *CPU) NewWeight(dt backend.DType, rows, cols int, data []byte) (backend.Weight, error) {
	if rows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("cpubackend: weight shape %d×%d", rows, cols)
	}
	if dt.Size() == 0 {
		return nil, fmt.Errorf("cpubackend: NewWeight cannot wrap dtype %v", dt)
	}
	if want := rows * cols * dt.Size(); len(data) != want {
		return nil, fmt.Errorf("cpubackend: %v weight %d×%d needs %d bytes, got %d", dt, rows, cols, want, len(data))
	}
	switch dt {
	case backend.F32:
		if !cpu.AlignedFloat32s(data) {
			data = append(make([]byte, 0, len(data)+4), data...)
		}
		return &DenseF32{W: cpu.Float32s(data), rows: rows, cols: cols}, nil
	default:
		if !cpu.AlignedUint16s(data) {
			data = append(make([]byte, 0, len(data)+2), data...)
		}
		return &DenseHalf{W: cpu.Uint16s(data), dt: dt, rows: rows, cols: cols}, nil
	}
}

func (c *CPU) NewWeightF32(rows, cols int, data []float32) backend.Weight {
	if len(data) != rows*cols {
		panic(fmt.Sprintf("cpubackend: NewWeightF32 of %d values as %d×%d", len(data), rows, cols))
	}
	return &DenseF32{W: data, rows: rows, cols: cols}
}

func (c *CPU) WeightF32(w backend.Weight) []float32 {
	l, ok := w.(Linear)
	if !ok {
		panic(fmt.Sprintf("cpubackend: weight of type %T", w))
	}
	out := cpu.MakeHuge[float32](w.Rows() * w.Cols()) // a fresh copy of a whole matrix (the quantizer's, per module)
	for i := 0; i < w.Rows(); i++ {
		l.Row(out[i*w.Cols():(i+1)*w.Cols()], i)
	}
	return out
}
