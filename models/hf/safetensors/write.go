package safetensors

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/rpiq/rpiq/internal/tempfiles"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Tensor is a tensor to write: its bytes are little-endian, row-major.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// Source is a tensor whose bytes are produced while the file is written (for checkpoints too
// large to hold in memory twice). Fill must write exactly the tensor's byte length.
type Source struct {
	Name  string
	DType DType
	Shape []int
	Fill  func(w io.Writer) error
}

// Write writes tensors and optional metadata to path atomically, in the official layout.
func Write(path string, tensors []Tensor, metadata map[string]string) error {
	src := make([]Source, len(tensors))
	for i, t := range tensors {
		src[i] = Source{Name: t.Name, DType: t.DType, Shape: t.Shape, Fill: func(w io.Writer) error {
			_, err := w.Write(t.Data)
			return err
		}}
		want, err := checkSpec(path, t.Name, t.DType, t.Shape)
		if err != nil {
			return err
		}
		if int64(len(t.Data)) != want {
			return errorf(path, t.Name, "has %d data bytes, but dtype %s with shape %v needs %d", len(t.Data), t.DType, t.Shape, want)
		}
	}
	return WriteFrom(path, src, metadata)
}

func checkSpec(path, name string, d DType, shape []int) (int64, error) {
	if name == "" || name == "__metadata__" {
		return 0, errorf(path, name, "invalid tensor name")
	}
	if !d.Valid() {
		return 0, errorf(path, name, "unknown dtype %q", string(d))
	}
	n, err := Numel(shape)
	if err != nil {
		return 0, errorf(path, name, "%v", err)
	}
	b, err := d.ByteLen(n)
	if err != nil {
		return 0, errorf(path, name, "%v", err)
	}
	return b, nil
}

// Layout returns the header bytes (padded with spaces to a multiple of 8) and the tensor order
// the official writer would produce: decreasing dtype alignment, then name.
func Layout(path string, specs []TensorInfo, metadata map[string]string) (header []byte, order []TensorInfo, err error) {
	order = make([]TensorInfo, len(specs))
	copy(order, specs)
	seen := map[string]bool{}
	for _, s := range order {
		if seen[s.Name] {
			return nil, nil, errorf(path, s.Name, "duplicate tensor name")
		}
		seen[s.Name] = true
	}
	sort.SliceStable(order, func(i, j int) bool {
		ri, rj := dtypeRank[order[i].DType], dtypeRank[order[j].DType]
		if ri != rj {
			return ri > rj
		}
		return order[i].Name < order[j].Name
	})
	var off int64
	for i := range order {
		n, err := checkSpec(path, order[i].Name, order[i].DType, order[i].Shape)
		if err != nil {
			return nil, nil, err
		}
		order[i].Begin, order[i].End = off, off+n
		off += n
	}
	h := []byte{'{'}
	first := true
	if metadata != nil {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		h = append(h, `"__metadata__":{`...)
		for i, k := range keys {
			if i > 0 {
				h = append(h, ',')
			}
			h = appendJSONString(h, k)
			h = append(h, ':')
			h = appendJSONString(h, metadata[k])
		}
		h = append(h, '}')
		first = false
	}
	for _, t := range order {
		if !first {
			h = append(h, ',')
		}
		first = false
		h = appendJSONString(h, t.Name)
		h = append(h, `:{"dtype":`...)
		h = appendJSONString(h, string(t.DType))
		h = append(h, `,"shape":[`...)
		for i, s := range t.Shape {
			if i > 0 {
				h = append(h, ',')
			}
			h = strconv.AppendInt(h, int64(s), 10)
		}
		h = append(h, `],"data_offsets":[`...)
		h = strconv.AppendInt(h, t.Begin, 10)
		h = append(h, ',')
		h = strconv.AppendInt(h, t.End, 10)
		h = append(h, "]}"...)
	}
	h = append(h, '}')
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	if len(h) > MaxHeaderSize {
		return nil, nil, errorf(path, "", "header of %d bytes is over the limit of %d", len(h), MaxHeaderSize)
	}
	return h, order, nil
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // strings always marshal
	return append(b, q...)
}

// WriteFrom writes tensors produced by their Fill functions to path atomically.
func WriteFrom(path string, sources []Source, metadata map[string]string) error {
	specs := make([]TensorInfo, len(sources))
	byName := make(map[string]Source, len(sources))
	for i, s := range sources {
		specs[i] = TensorInfo{Name: s.Name, DType: s.DType, Shape: s.Shape}
		byName[s.Name] = s
	}
	header, order, err := Layout(path, specs, metadata)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, func(w io.Writer) error {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
		if _, err := w.Write(n[:]); err != nil {
			return err
		}
		if _, err := w.Write(header); err != nil {
			return err
		}
		for _, t := range order {
			cw := &countingWriter{w: w}
			if err := byName[t.Name].Fill(cw); err != nil {
				return fmt.Errorf("%s: tensor %q: %w", path, t.Name, err)
			}
			if cw.n != t.Bytes() {
				return errorf(path, t.Name, "Fill wrote %d bytes, want %d", cw.n, t.Bytes())
			}
		}
		return nil
	})
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// WriteFileAtomic writes a file through write into a temporary file in the same folder, syncs
// it and renames it over path, so readers see either the old file or the complete new one.
// Errors about the temporary file name path, the file the user asked for.
func WriteFileAtomic(path string, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmpPrefix := filepath.Join(dir, "."+filepath.Base(path)+".tmp-")
	defer func() { err = nameTarget(err, tmpPrefix, path) }()
	// Removed if the job is interrupted; named by tempfiles.Pattern, so a run after a SIGKILL
	// can tell it from a live writer's (tempfiles.Sweep).
	tmp, release, err := tempfiles.File(path)
	if err != nil {
		return err
	}
	defer release()
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = tempfiles.Commit(func() error { return os.Rename(tmp.Name(), path) }); err != nil {
		return err
	}
	return syncDir(dir)
}

// nameTarget rewrites an error about the hidden temporary file (its name starts with
// tmpPrefix) into the same error about path; other errors (from write) pass unchanged.
func nameTarget(err error, tmpPrefix, path string) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe) && strings.HasPrefix(pe.Path, tmpPrefix):
		op := pe.Op
		if op == "createtemp" {
			op = "create"
		}
		return &fs.PathError{Op: op, Path: path, Err: pe.Err}
	case errors.As(err, &le) && strings.HasPrefix(le.Old, tmpPrefix):
		return &fs.PathError{Op: "write", Path: path, Err: le.Err}
	}
	return err
}

// syncDir makes a rename durable; folders that cannot be synced (some filesystems) are ignored.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	d.Sync()
	return nil
}
