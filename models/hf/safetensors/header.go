// Package safetensors reads and writes the safetensors tensor file format: an 8-byte
// little-endian header length N, N bytes of JSON describing each tensor (dtype, shape,
// data_offsets into the byte buffer that follows), then the buffer.
//
// Reading memory-maps the file and hands out views into the mapping (zero-copy). Every size and
// offset in the header is validated before anything is sliced or allocated, with the rules of the
// official implementation (huggingface/safetensors, tensor.rs): header at most 100,000,000 bytes,
// offsets contiguous from 0 with no gap or overlap, end-begin == numel*sizeof(dtype), no duplicate
// names, and the last tensor ending exactly at the end of the file. Writing follows the official
// layout byte for byte (header padded with spaces to a multiple of 8, tensors sorted by decreasing
// dtype alignment, then name), so every tensor is aligned to its element size.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// MaxHeaderSize is the official limit on the JSON header's length.
const MaxHeaderSize = 100_000_000

// TensorInfo describes one tensor of a file. Begin and End are byte offsets into the data buffer
// (which starts at file offset 8+N); End is one past the last byte.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int
	Begin int64
	End   int64
}

// Numel returns the number of elements (1 for a rank-0 tensor).
func (t TensorInfo) Numel() int64 {
	n, _ := Numel(t.Shape) // validated when parsed
	return n
}

// Bytes returns End-Begin.
func (t TensorInfo) Bytes() int64 { return t.End - t.Begin }

// Header is a parsed and validated safetensors header.
type Header struct {
	Tensors  []TensorInfo      // in file (offset) order
	Metadata map[string]string // the optional "__metadata__" object; nil when absent
	// DataOffset is the file offset of the data buffer (8+N); DataSize its length.
	DataOffset int64
	DataSize   int64
}

// Error is a problem with a safetensors file: which file, which tensor (or header field) and
// what was wrong. It marks bad input (see BadInput).
type Error struct {
	File    string
	Tensor  string // tensor name or header part; "" when the problem is file-wide
	Problem string
	Err     error // underlying cause, if any (e.g. an I/O error)
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Tensor != "" {
		fmt.Fprintf(&b, ": tensor %q", e.Tensor)
	}
	b.WriteString(": ")
	b.WriteString(e.Problem)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// BadInput reports that the error is caused by the file's content, so the CLI exits with
// status 2. I/O failures are returned as other error types.
func (e *Error) BadInput() bool { return true }

func errorf(file, tensor, format string, a ...any) *Error {
	return &Error{File: file, Tensor: tensor, Problem: fmt.Sprintf(format, a...)}
}

// ParseHeader parses and validates a header. prefix holds at least the first 8 bytes of the
// file and, after them, the N header bytes (it may hold more, which is ignored); fileSize is the
// size of the whole file. file is used in error messages only.
func ParseHeader(file string, prefix []byte, fileSize int64) (*Header, error) {
	n, err := headerLen(file, prefix, fileSize)
	if err != nil {
		return nil, err
	}
	if int64(len(prefix)) < 8+n {
		return nil, errorf(file, "", "header of %d bytes is truncated to %d", n, len(prefix)-8)
	}
	h, err := parseJSON(file, prefix[8:8+n])
	if err != nil {
		return nil, err
	}
	h.DataOffset = 8 + n
	avail := fileSize - h.DataOffset
	switch {
	case h.DataSize > avail:
		return nil, errorf(file, "", "truncated: the tensors need %d data bytes, the file holds %d", h.DataSize, avail)
	case h.DataSize < avail:
		return nil, errorf(file, "", "%d unexpected bytes after the last tensor (the last offset must be the end of the file)", avail-h.DataSize)
	}
	return h, nil
}

// headerLen reads and checks N from the first 8 bytes.
func headerLen(file string, prefix []byte, fileSize int64) (int64, error) {
	if fileSize < 8 || len(prefix) < 8 {
		return 0, errorf(file, "", "file of %d bytes is too small for the 8-byte header length", fileSize)
	}
	u := binary.LittleEndian.Uint64(prefix[:8])
	if u > MaxHeaderSize {
		return 0, errorf(file, "", "header length %d is over the limit of %d bytes", u, MaxHeaderSize)
	}
	n := int64(u)
	if n > fileSize-8 {
		return 0, errorf(file, "", "header length %d is longer than the file (%d bytes after the length field)", n, fileSize-8)
	}
	return n, nil
}

type rawInfo struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// parseJSON decodes the header object key by key, so that duplicate names are caught (a map
// would silently keep the last one).
func parseJSON(file string, b []byte) (*Header, error) {
	if !json.Valid(b) {
		// Find a helpful message from the decoder.
		var v any
		err := json.Unmarshal(b, &v)
		return nil, &Error{File: file, Tensor: "", Problem: "header is not valid JSON", Err: err}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, errorf(file, "", "header is not a JSON object")
	}
	h := &Header{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, &Error{File: file, Problem: "header JSON", Err: err}
		}
		name, _ := tok.(string)
		if seen[name] {
			return nil, errorf(file, name, "duplicate name in header")
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, &Error{File: file, Tensor: name, Problem: "header JSON", Err: err}
		}
		if name == "__metadata__" {
			md := map[string]string{}
			if err := json.Unmarshal(raw, &md); err != nil {
				return nil, &Error{File: file, Tensor: name, Problem: "__metadata__ must map strings to strings", Err: err}
			}
			h.Metadata = md
			continue
		}
		info, err := tensorInfo(file, name, raw)
		if err != nil {
			return nil, err
		}
		h.Tensors = append(h.Tensors, info)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, &Error{File: file, Problem: "header JSON", Err: err}
	}
	// Only padding spaces may follow the object.
	rest, _ := io.ReadAll(dec.Buffered())
	if len(bytes.Trim(rest, " \t\r\n")) != 0 {
		return nil, errorf(file, "", "header has %d bytes of trailing data after the JSON object", len(rest))
	}
	sort.SliceStable(h.Tensors, func(i, j int) bool {
		a, b := h.Tensors[i], h.Tensors[j]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		return a.End < b.End
	})
	var end int64
	for i, t := range h.Tensors {
		if t.Begin != end {
			if t.Begin < end {
				return nil, errorf(file, t.Name, "data_offsets [%d, %d] overlap tensor %q, which ends at %d", t.Begin, t.End, h.Tensors[i-1].Name, end)
			}
			return nil, errorf(file, t.Name, "data_offsets [%d, %d] leave a gap: the previous tensor ends at %d (offsets must be contiguous from 0)", t.Begin, t.End, end)
		}
		end = t.End
	}
	h.DataSize = end
	return h, nil
}

func tensorInfo(file, name string, raw json.RawMessage) (TensorInfo, error) {
	var r rawInfo
	if err := json.Unmarshal(raw, &r); err != nil {
		return TensorInfo{}, &Error{File: file, Tensor: name, Problem: "want {\"dtype\", \"shape\", \"data_offsets\"}", Err: err}
	}
	switch {
	case r.DType == nil:
		return TensorInfo{}, errorf(file, name, "missing field \"dtype\"")
	case r.Shape == nil:
		return TensorInfo{}, errorf(file, name, "missing field \"shape\"")
	case r.DataOffsets == nil:
		return TensorInfo{}, errorf(file, name, "missing field \"data_offsets\"")
	}
	d := DType(*r.DType)
	if !d.Valid() {
		return TensorInfo{}, errorf(file, name, "unknown dtype %q", *r.DType)
	}
	shape := make([]int, len(*r.Shape))
	for i, s := range *r.Shape {
		if s < 0 || s > 1<<62 {
			return TensorInfo{}, errorf(file, name, "shape %v: dimension %d is out of range", *r.Shape, i)
		}
		shape[i] = int(s)
	}
	numel, err := Numel(shape)
	if err != nil {
		return TensorInfo{}, errorf(file, name, "%v", err)
	}
	if len(*r.DataOffsets) != 2 {
		return TensorInfo{}, errorf(file, name, "data_offsets must be [begin, end], got %d numbers", len(*r.DataOffsets))
	}
	begin, end := (*r.DataOffsets)[0], (*r.DataOffsets)[1]
	if begin < 0 || end < begin {
		return TensorInfo{}, errorf(file, name, "data_offsets [%d, %d] are out of range", begin, end)
	}
	want, err := d.ByteLen(numel)
	if err != nil {
		return TensorInfo{}, errorf(file, name, "shape %v: %v", shape, err)
	}
	if end-begin != want {
		return TensorInfo{}, errorf(file, name, "data_offsets [%d, %d] hold %d bytes, but dtype %s with shape %v needs %d", begin, end, end-begin, d, shape, want)
	}
	return TensorInfo{Name: name, DType: d, Shape: shape, Begin: begin, End: end}, nil
}
