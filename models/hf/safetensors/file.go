package safetensors

import (
	"fmt"
	"io"
	"os"
)

// File is an open safetensors file, memory-mapped read-only. Data slices it returns are views
// into the mapping: valid until Close, and must not be written to.
type File struct {
	path   string
	data   []byte // the whole file
	unmap  func() error
	header *Header
	index  map[string]int
}

// ReadHeader reads and validates only the header of a safetensors file, never its tensor data
// (for `rpiq inspect` and for checks before mapping).
func ReadHeader(path string) (*Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	var lenBuf [8]byte
	if _, err := io.ReadFull(f, lenBuf[:]); err != nil {
		return nil, errorf(path, "", "file of %d bytes is too small for the 8-byte header length", size)
	}
	n, err := headerLen(path, lenBuf[:], size)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 8+n) // n is bounded by MaxHeaderSize and by the file size
	copy(buf, lenBuf[:])
	if _, err := io.ReadFull(f, buf[8:]); err != nil {
		return nil, fmt.Errorf("%s: reading header: %w", path, err)
	}
	return ParseHeader(path, buf, size)
}

// Open memory-maps a safetensors file and validates its header.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size < 8 {
		return nil, errorf(path, "", "file of %d bytes is too small for the 8-byte header length", size)
	}
	if int64(int(size)) != size {
		return nil, errorf(path, "", "file of %d bytes is too large to map", size)
	}
	data, unmap, err := mapFile(f, int(size))
	if err != nil {
		return nil, fmt.Errorf("%s: mapping: %w", path, err)
	}
	h, err := ParseHeader(path, data, size)
	if err != nil {
		unmap()
		return nil, err
	}
	file := &File{path: path, data: data, unmap: unmap, header: h, index: make(map[string]int, len(h.Tensors))}
	for i, t := range h.Tensors {
		file.index[t.Name] = i
	}
	return file, nil
}

// Path returns the file's path as given to Open.
func (f *File) Path() string { return f.path }

// Header returns the parsed header. The caller must not modify it.
func (f *File) Header() *Header { return f.header }

// Tensors returns the tensors in file order. The caller must not modify the slice.
func (f *File) Tensors() []TensorInfo { return f.header.Tensors }

// Metadata returns the "__metadata__" map (nil when absent).
func (f *File) Metadata() map[string]string { return f.header.Metadata }

// Info returns a tensor's description.
func (f *File) Info(name string) (TensorInfo, bool) {
	i, ok := f.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.header.Tensors[i], true
}

// Tensor returns a tensor's description and its bytes, a view into the mapping.
func (f *File) Tensor(name string) (TensorInfo, []byte, bool) {
	t, ok := f.Info(name)
	if !ok {
		return TensorInfo{}, nil, false
	}
	off := f.header.DataOffset
	return t, f.data[off+t.Begin : off+t.End : off+t.End], true
}

// Release drops n bytes of a tensor's data from off (n < 0: to its end) from the process's
// resident memory, for a loader that has copied or repacked them: the mapping stays valid and a
// later access reads the pages back from the page cache. Resident memory during a load then holds
// one tensor of the file at a time, not the whole file.
func (f *File) Release(name string, off, n int64) {
	_, b, ok := f.Tensor(name)
	if !ok || off < 0 || off > int64(len(b)) {
		return
	}
	b = b[off:]
	if n >= 0 && n < int64(len(b)) {
		b = b[:n]
	}
	dontNeed(b)
}

// Close unmaps the file. Views handed out before become invalid.
func (f *File) Close() error {
	if f == nil || f.unmap == nil {
		return nil
	}
	err := f.unmap()
	f.unmap, f.data = nil, nil
	return err
}
