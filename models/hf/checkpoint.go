package hf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"unsafe"

	"github.com/rpiq/rpiq/kernels/half"
	"github.com/rpiq/rpiq/models/hf/safetensors"
)

// File names of the weights in a model folder.
const (
	SingleFile = "model.safetensors"
	IndexFile  = "model.safetensors.index.json"
)

// Checkpoint is the weights of a model folder: one model.safetensors, shards listed by
// model.safetensors.index.json, or (for GPTQ tools that name their file differently) every
// *.safetensors file in the folder. All files are memory-mapped; Raw is zero-copy.
type Checkpoint struct {
	dir    string
	files  []*safetensors.File
	byName map[string]entry
	names  []string
}

type entry struct {
	file *safetensors.File
	info safetensors.TensorInfo
}

// OpenCheckpoint opens the weights of dir, checking that every shard the index names exists and
// holds the tensors the index assigns to it.
func OpenCheckpoint(dir string) (*Checkpoint, error) {
	files, ix, err := weightFiles(dir)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{dir: dir, byName: map[string]entry{}}
	for _, name := range files {
		f, err := safetensors.Open(filepath.Join(dir, name))
		if err != nil {
			c.Close()
			return nil, err
		}
		c.files = append(c.files, f)
		for _, t := range f.Tensors() {
			if prev, dup := c.byName[t.Name]; dup {
				c.Close()
				return nil, errf(f.Path(), fmt.Sprintf("tensor %q", t.Name), "also stored in %s", prev.file.Path())
			}
			c.byName[t.Name] = entry{file: f, info: t}
			c.names = append(c.names, t.Name)
		}
	}
	if ix != nil {
		for _, t := range sortedKeys(ix.WeightMap) {
			e, ok := c.byName[t]
			if !ok {
				c.Close()
				return nil, errf(ix.Path, fmt.Sprintf("weight_map %q", t), "tensor is not in %s", ix.WeightMap[t])
			}
			if filepath.Base(e.file.Path()) != ix.WeightMap[t] {
				c.Close()
				return nil, errf(ix.Path, fmt.Sprintf("weight_map %q", t), "index says %s, but the tensor is in %s", ix.WeightMap[t], e.file.Path())
			}
		}
	}
	sort.Strings(c.names)
	return c, nil
}

// weightFiles lists the safetensors files of dir (relative names) and the index, if any. Index
// shards must exist.
func weightFiles(dir string) ([]string, *Index, error) {
	ipath := filepath.Join(dir, IndexFile)
	if _, err := os.Stat(ipath); err == nil {
		ix, err := ReadIndex(ipath)
		if err != nil {
			return nil, nil, err
		}
		files := ix.Files()
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				return nil, nil, errf(ipath, "weight_map", "shard %s is missing: %v", f, err)
			}
		}
		return files, ix, nil
	}
	if _, err := os.Stat(filepath.Join(dir, SingleFile)); err == nil {
		return []string{SingleFile}, nil, nil
	}
	matches, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		return nil, nil, err
	}
	if len(matches) == 0 {
		return nil, nil, &Error{File: dir, Problem: fmt.Sprintf("no weights: want %s, or %s with its shards", SingleFile, IndexFile), Err: fs.ErrNotExist}
	}
	out := make([]string, len(matches))
	for i, m := range matches {
		out[i] = filepath.Base(m)
	}
	sort.Strings(out)
	return out, nil, nil
}

// Dir returns the model folder.
func (c *Checkpoint) Dir() string { return c.dir }

// Paths returns the paths of the checkpoint's files, in load order.
func (c *Checkpoint) Paths() []string {
	out := make([]string, len(c.files))
	for i, f := range c.files {
		out[i] = f.Path()
	}
	return out
}

// Names returns every tensor name, sorted.
func (c *Checkpoint) Names() []string { return c.names }

// Info describes a tensor without touching its data.
func (c *Checkpoint) Info(name string) (safetensors.TensorInfo, bool) {
	e, ok := c.byName[name]
	return e.info, ok
}

// File returns the path of the file that holds a tensor.
func (c *Checkpoint) File(name string) (string, bool) {
	e, ok := c.byName[name]
	if !ok {
		return "", false
	}
	return e.file.Path(), true
}

func (c *Checkpoint) missing(name string) error {
	return errf(c.dir, fmt.Sprintf("tensor %q", name), "not in the checkpoint")
}

// Release drops n bytes of tensor name from off (n < 0: all) from resident memory
// (safetensors.File.Release); the views stay valid.
func (c *Checkpoint) Release(name string, off, n int64) {
	if e, ok := c.byName[name]; ok {
		e.file.Release(name, off, n)
	}
}

// Raw returns a tensor's description and bytes, a read-only view into the mapped file.
func (c *Checkpoint) Raw(name string) (safetensors.TensorInfo, []byte, error) {
	e, ok := c.byName[name]
	if !ok {
		return safetensors.TensorInfo{}, nil, c.missing(name)
	}
	t, b, _ := e.file.Tensor(name)
	return t, b, nil
}

// CheckShape returns an error naming the file and tensor unless the tensor's shape is shape.
func (c *Checkpoint) CheckShape(name string, shape ...int) error {
	e, ok := c.byName[name]
	if !ok {
		return c.missing(name)
	}
	if !equalShape(e.info.Shape, shape) {
		return errf(e.file.Path(), fmt.Sprintf("tensor %q", name), "shape is %v, want %v", e.info.Shape, shape)
	}
	return nil
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Float32 returns a tensor converted to a new []float32 (from F32, F16, BF16 or F64). When shape
// is given, the tensor must have exactly that shape.
func (c *Checkpoint) Float32(name string, shape ...int) ([]float32, error) {
	t, b, err := c.Raw(name)
	if err != nil {
		return nil, err
	}
	if shape != nil {
		if err := c.CheckShape(name, shape...); err != nil {
			return nil, err
		}
	}
	out := make([]float32, t.Numel())
	switch t.DType {
	case safetensors.F32:
		if v, ok := c.Float32View(name); ok {
			copy(out, v)
			break
		}
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case safetensors.F16:
		f16SliceToF32(out, b)
	case safetensors.BF16:
		half.BF16SliceToF32(out, b)
	case safetensors.F64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	default:
		path, _ := c.File(name)
		return nil, errf(path, fmt.Sprintf("tensor %q", name), "dtype %s cannot be read as float (want F32, F16, BF16 or F64)", t.DType)
	}
	return out, nil
}

// Float32View returns an F32 tensor as a []float32 aliasing the mapped file (no copy), when the
// tensor is F32, its data is 4-byte aligned and the machine is little-endian. ok is false
// otherwise; use Float32 then. The slice is read-only and valid until Close.
func (c *Checkpoint) Float32View(name string) (v []float32, ok bool) {
	t, b, err := c.Raw(name)
	if err != nil || t.DType != safetensors.F32 || !littleEndian {
		return nil, false
	}
	if len(b) == 0 {
		return []float32{}, true
	}
	if uintptr(unsafe.Pointer(&b[0]))%4 != 0 {
		return nil, false
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4), true
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// Close unmaps every file. Views handed out become invalid.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, f := range c.files {
		errs = append(errs, f.Close())
	}
	c.files = nil
	return errors.Join(errs...)
}

// shardName is HF's shard file naming.
func shardName(i, n int) string { return fmt.Sprintf("model-%05d-of-%05d.safetensors", i, n) }

// f16Table holds kernels/half's exact widening of every F16 bit pattern (256 KiB): a lookup is
// about 4x faster than the branchy scalar conversion when loading F16 checkpoints (OPT).
var f16Table = sync.OnceValue(func() []float32 {
	t := make([]float32, 1<<16)
	for i := range t {
		t[i] = half.F16ToF32(uint16(i))
	}
	return t
})

func f16SliceToF32(dst []float32, src []byte) {
	t := f16Table()
	for i := range dst {
		dst[i] = t[uint16(src[2*i])|uint16(src[2*i+1])<<8]
	}
}
