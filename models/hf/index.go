package hf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rpiq/rpiq/models/hf/safetensors"
)

// Index is model.safetensors.index.json: which shard holds each tensor.
type Index struct {
	Path      string
	TotalSize int64             // metadata.total_size: the sum of tensor bytes (0 when absent)
	WeightMap map[string]string // tensor name -> shard file name (in the same folder)
	Metadata  map[string]any
}

// ReadIndex reads and validates an index file without opening any shard.
func ReadIndex(path string) (*Index, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseIndex(path, data)
}

// ParseIndex parses index content; file names it in errors.
func ParseIndex(file string, data []byte) (*Index, error) {
	m, err := decodeObject(file, data)
	if err != nil {
		return nil, err
	}
	f := &Fields{file: file, m: m}
	ix := &Index{Path: file, WeightMap: map[string]string{}}
	if md := f.Object("metadata"); md != nil {
		ix.Metadata = md
		mf := &Fields{file: file, m: md}
		ts := mf.Int("total_size", false, 0)
		if mf.err != nil {
			return nil, errf(file, "metadata.total_size", "%s", mf.err.(*Error).Problem)
		}
		if ts < 0 {
			return nil, errf(file, "metadata.total_size", "must not be negative, got %d", ts)
		}
		ix.TotalSize = int64(ts)
	}
	wm := f.Object("weight_map")
	if f.err != nil {
		return nil, f.err
	}
	if wm == nil {
		return nil, errf(file, "weight_map", "missing required field (want an object mapping tensor names to shard files)")
	}
	for name, v := range wm {
		s, ok := v.(string)
		if !ok {
			return nil, errf(file, fmt.Sprintf("weight_map %q", name), "want a shard file name, got %s", describe(v))
		}
		if s == "" || s != filepath.Base(s) || s == "." || s == ".." || strings.ContainsAny(s, `/\`) || !strings.HasSuffix(s, ".safetensors") {
			return nil, errf(file, fmt.Sprintf("weight_map %q", name), "want a .safetensors file name in the same folder, got %q", s)
		}
		ix.WeightMap[name] = s
	}
	return ix, nil
}

// Files returns the distinct shard names, sorted.
func (ix *Index) Files() []string {
	set := map[string]bool{}
	for _, f := range ix.WeightMap {
		set[f] = true
	}
	return sortedKeys(set)
}

// Inventory is what a model folder holds, found from the index and the safetensors headers
// alone, never reading tensor data (for `rpiq inspect`).
type Inventory struct {
	Dir          string
	Index        *Index        // nil for an unsharded checkpoint
	Files        []string      // weight files, relative to Dir
	MissingFiles []string      // shards the index names that are not present
	Tensors      []TensorEntry // from the headers of the files present, sorted by name
}

// TensorEntry is one tensor of an Inventory.
type TensorEntry struct {
	File string // relative to Inventory.Dir
	safetensors.TensorInfo
}

// ReadInventory lists dir's weights. Missing shards are reported in MissingFiles rather than as
// an error, so a folder with config.json and the index alone can still be described.
func ReadInventory(dir string) (*Inventory, error) {
	inv := &Inventory{Dir: dir}
	ipath := filepath.Join(dir, IndexFile)
	switch _, err := os.Stat(ipath); {
	case err == nil:
		ix, err := ReadIndex(ipath)
		if err != nil {
			return nil, err
		}
		inv.Index = ix
		inv.Files = ix.Files()
	case errors.Is(err, fs.ErrNotExist):
		files, _, err := weightFiles(dir)
		if err != nil {
			var he *Error
			if errors.As(err, &he) && errors.Is(err, fs.ErrNotExist) {
				return inv, nil // no weights at all: config-only folder
			}
			return nil, err
		}
		inv.Files = files
	default:
		return nil, err
	}
	present := inv.Files[:0:0]
	for _, name := range inv.Files {
		h, err := safetensors.ReadHeader(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			inv.MissingFiles = append(inv.MissingFiles, name)
			continue
		}
		if err != nil {
			return nil, err
		}
		present = append(present, name)
		for _, t := range h.Tensors {
			inv.Tensors = append(inv.Tensors, TensorEntry{File: name, TensorInfo: t})
		}
	}
	sort.SliceStable(inv.Tensors, func(i, j int) bool { return inv.Tensors[i].Name < inv.Tensors[j].Name })
	return inv, nil
}
