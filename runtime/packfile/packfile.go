// Package packfile is the pre-packed runtime layout of a GPTQ checkpoint: a sidecar file in the
// model folder (Name) that holds every quantized matrix in the CPU kernels' layout
// (kernels/cpu/q.Layout), the LM head quantized at load included, so a later load reads it
// back with one copy instead of repacking the checkpoint (Llama-3.2-1B shape: 2.1 s of CPU at load and the
// heap garbage of the repack). The checkpoint's own files stay as they are for other tools.
//
// Open reads the file into anonymous memory (huge pages where allowed) rather than mapping the
// page cache in place: on the 2-core VM, decode from a file mapping cost about 1.7× the CPU per
// token (populate_linux.go).
//
// The file is keyed to its source: Key hashes the size, modification time and first MiB of each
// checkpoint file and config, and a file whose key or format version differs is stale (ErrStale:
// the loader repacks and may write a fresh one). Everything else about it is checked when it is
// opened (bounds, alignment, each layout's sizes and indices), so a damaged file is an error the
// loader logs and ignores, never a crash.
//
// Format (little-endian):
//
//	0   "RPIQPACK"
//	8   uint32 format version (Version), uint32 0
//	16  uint64 n, the length of the JSON header that follows at 24
//	    data area: from 24+n rounded up to 64; every section at a multiple of 64 from there
//
// The header: {"key": KEY, "matrices": [{"name", "in", "out", "bits", "group_size", "code_bits",
// "blk", "nb", "w": [offset, bytes], "sm": [...], "src": [...] (omitted: identity)}]}, offsets
// relative to the data area.
package packfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/rpiq/rpiq/kernels/cpu/q"
	"github.com/rpiq/rpiq/models/hf/safetensors"
)

// Name is the sidecar's file name in the model folder.
const Name = "rpiq-packed.bin"

// Version is the format and layout version: a file of another version is stale. It follows
// q.LayoutVersion (bumped with any change to the kernels' layout).
const Version = q.LayoutVersion

const (
	magic      = "RPIQPACK"
	prefixLen  = 24
	align      = 64
	maxHeader  = 256 << 20
	keySampled = 1 << 20 // bytes of each source file that Key hashes
)

// ErrStale marks a file that is well formed but was made for another checkpoint or version.
var ErrStale = errors.New("stale")

// Error is a damaged or stale pack file: the file, the field and what was wrong.
type Error struct {
	File, Field, Problem string
	Err                  error // ErrStale or nil
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.File + ": " + e.Problem
	}
	return e.File + ": " + e.Field + ": " + e.Problem
}

func (e *Error) Unwrap() error { return e.Err }

// Entry is one matrix to write: a name the loader looks it up by, and its layout.
type Entry struct {
	Name   string
	Layout q.Layout
}

type section [2]int64 // offset in the data area, bytes

type matrix struct {
	Name      string   `json:"name"`
	In        int      `json:"in"`
	Out       int      `json:"out"`
	Bits      int      `json:"bits"`
	GroupSize int      `json:"group_size"`
	CodeBits  int      `json:"code_bits"`
	Blk       int      `json:"blk"`
	NB        int      `json:"nb"`
	W         section  `json:"w"`
	SM        section  `json:"sm"`
	Src       *section `json:"src,omitempty"`
}

type header struct {
	Key      string   `json:"key"`
	Matrices []matrix `json:"matrices"`
}

// Key identifies the source of a pack: the format version and, for each path that exists, its
// base name, size, modification time and first MiB (a safetensors file's header and more;
// config.json whole). Missing paths are skipped (optional files).
func Key(paths ...string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "rpiq pack v%d\n", Version)
	buf := make([]byte, keySampled)
	for _, p := range paths {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return "", err
		}
		n, err := io.ReadFull(f, buf)
		f.Close()
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return "", fmt.Errorf("%s: %w", p, err)
		}
		fmt.Fprintf(h, "%s %d %d %d\n", filepath.Base(p), st.Size(), st.ModTime().UnixNano(), n)
		h.Write(buf[:n])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Pack is an open pack file: its matrices' layouts are views into its memory, valid until Close.
type Pack struct {
	unmap func() error
	mats  map[string]q.Layout
	names []string
}

// Open reads the pack file at path (readAnon) and checks it against key. A missing file gives an error
// wrapping os.ErrNotExist; a stale one wraps ErrStale; a damaged one is an *Error.
func Open(path, key string) (*Pack, error) {
	if !littleEndian() {
		return nil, &Error{File: path, Problem: "pre-packed layouts are little-endian; this machine is not"}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() < prefixLen || int64(int(st.Size())) != st.Size() {
		return nil, &Error{File: path, Problem: fmt.Sprintf("file of %d bytes is not a pack file", st.Size())}
	}
	data, unmap, err := readAnon(f, int(st.Size()))
	if err != nil {
		return nil, fmt.Errorf("%s: reading: %w", path, err)
	}
	p, err := Parse(path, data, key)
	if err != nil {
		unmap()
		return nil, err
	}
	p.unmap = unmap
	return p, nil
}

// Parse checks data, a whole pack file named path, against key, and returns its matrices as
// views into data (copied first when data is not 64-byte aligned).
func Parse(path string, data []byte, key string) (*Pack, error) {
	bad := func(field, format string, a ...any) (*Pack, error) {
		return nil, &Error{File: path, Field: field, Problem: fmt.Sprintf(format, a...)}
	}
	if len(data) < prefixLen || string(data[:8]) != magic {
		return bad("", "not a pack file (want %q, then a version and a header length)", magic)
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != Version {
		return nil, &Error{File: path, Field: "version", Problem: fmt.Sprintf("%d, this rpiq reads %d", v, Version), Err: ErrStale}
	}
	n := binary.LittleEndian.Uint64(data[16:])
	if n > maxHeader || n > uint64(len(data)-prefixLen) {
		return bad("header length", "%d bytes in a file of %d", n, len(data))
	}
	var h header
	dec := json.NewDecoder(bytes.NewReader(data[prefixLen : prefixLen+int(n)]))
	if err := dec.Decode(&h); err != nil {
		return bad("header", "%v", err)
	}
	if h.Key != key {
		return nil, &Error{File: path, Field: "key", Problem: "made for another checkpoint (or one changed since)", Err: ErrStale}
	}
	if uintptr(unsafe.Pointer(unsafe.SliceData(data)))%align != 0 {
		c := alignedBytes(len(data))
		copy(c, data)
		data = c
	}
	base := (prefixLen + int64(n) + align - 1) / align * align
	area := int64(len(data)) - base
	if area < 0 {
		area = 0
	}
	view := func(field string, s section, elem int64) ([]byte, error) {
		off, size := s[0], s[1]
		if off < 0 || size < 0 || off%align != 0 || size%elem != 0 || off > area || size > area-off {
			return nil, &Error{File: path, Field: field, Problem: fmt.Sprintf("section [%d, +%d) is not a 64-aligned run of %d-byte values inside the %d-byte data area", off, size, elem, area)}
		}
		return data[base+off : base+off+size : base+off+size], nil
	}
	p := &Pack{mats: make(map[string]q.Layout, len(h.Matrices))}
	for i, m := range h.Matrices {
		field := fmt.Sprintf("matrices[%d]", i)
		if m.Name == "" {
			return bad(field+".name", "empty")
		}
		if _, dup := p.mats[m.Name]; dup {
			return bad(field+".name", "%q appears twice", m.Name)
		}
		w, err := view(field+".w", m.W, 1)
		if err != nil {
			return nil, err
		}
		sm, err := view(field+".sm", m.SM, 1)
		if err != nil {
			return nil, err
		}
		l := q.Layout{In: m.In, Out: m.Out, Bits: m.Bits, GroupSize: m.GroupSize, CodeBits: m.CodeBits,
			Blk: m.Blk, NB: m.NB, W: w, SM: sm}
		if m.Src != nil {
			src, err := view(field+".src", *m.Src, 4)
			if err != nil {
				return nil, err
			}
			l.Src = int32s(src)
			if l.Src == nil {
				l.Src = []int32{} // present but empty: FromLayout reports the length
			}
		}
		if _, err := q.FromLayout(l); err != nil {
			return bad(field, "%q: %v", m.Name, err)
		}
		p.mats[m.Name] = l
		p.names = append(p.names, m.Name)
	}
	return p, nil
}

// Names lists the matrices in file order.
func (p *Pack) Names() []string { return p.names }

// Get returns the layout of the matrix name (already checked by q.FromLayout).
func (p *Pack) Get(name string) (q.Layout, bool) {
	l, ok := p.mats[name]
	return l, ok
}

// Close frees the file's memory: matrices made from its layouts must not be used after.
func (p *Pack) Close() error {
	if p == nil || p.unmap == nil {
		return nil
	}
	err := p.unmap()
	p.unmap, p.mats = nil, nil
	return err
}

// Write writes entries as a pack file for key at path, atomically (a temporary file renamed
// into place: readers see the old file or the whole new one).
func Write(path, key string, entries []Entry) error {
	if !littleEndian() {
		return &Error{File: path, Problem: "pre-packed layouts are little-endian; this machine is not"}
	}
	h := header{Key: key, Matrices: make([]matrix, len(entries))}
	var off int64
	next := func(b []byte) section {
		s := section{off, int64(len(b))}
		off += (int64(len(b)) + align - 1) / align * align
		return s
	}
	for i, e := range entries {
		l := e.Layout
		m := matrix{Name: e.Name, In: l.In, Out: l.Out, Bits: l.Bits, GroupSize: l.GroupSize, CodeBits: l.CodeBits, Blk: l.Blk, NB: l.NB}
		m.W = next(l.W)
		m.SM = next(l.SM)
		if l.Src != nil {
			s := next(int32Bytes(l.Src))
			m.Src = &s
		}
		h.Matrices[i] = m
	}
	js, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return safetensors.WriteFileAtomic(path, func(w io.Writer) error {
		var pre [prefixLen]byte
		copy(pre[:], magic)
		binary.LittleEndian.PutUint32(pre[8:], Version)
		binary.LittleEndian.PutUint64(pre[16:], uint64(len(js)))
		pos := int64(0)
		put := func(b []byte) error {
			_, err := w.Write(b)
			pos += int64(len(b))
			return err
		}
		pad := func() error {
			if r := pos % align; r != 0 {
				return put(make([]byte, align-r))
			}
			return nil
		}
		if err := put(pre[:]); err != nil {
			return err
		}
		if err := put(js); err != nil {
			return err
		}
		for _, e := range entries {
			parts := [][]byte{e.Layout.W, e.Layout.SM}
			if e.Layout.Src != nil {
				parts = append(parts, int32Bytes(e.Layout.Src))
			}
			for _, b := range parts {
				if err := pad(); err != nil {
					return err
				}
				if err := put(b); err != nil {
					return err
				}
			}
		}
		return pad()
	})
}

func littleEndian() bool {
	one := uint16(1)
	return *(*byte)(unsafe.Pointer(&one)) == 1
}

func int32s(b []byte) []int32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(&b[0])), len(b)/4)
}

func int32Bytes(v []int32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
}

// alignedBytes is n bytes starting on a 64-byte boundary.
func alignedBytes(n int) []byte {
	b := make([]byte, n+align-1)
	o := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (align - 1))
	return b[o : o+n : o+n]
}
