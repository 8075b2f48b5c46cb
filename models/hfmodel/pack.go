package hfmodel

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/rpiq/rpiq/kernels/cpu/q"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/packfile"
)

// LayoutBackend is a backend whose quantized weights are kernels/cpu/q matrices (the CPU
// backend): they can be saved to a pre-packed sidecar file (runtime/packfile) and built back
// from one in place, without repacking the checkpoint.
type LayoutBackend interface {
	Layout(w backend.Weight) (q.Layout, bool)
	FromLayout(l q.Layout) (backend.Weight, error)
}

// packHits counts weights built from a sidecar file (for the tests).
var packHits atomic.Int64

// WritePacked makes Open write the pre-packed sidecar (packfile.Name) of a GPTQ checkpoint when
// it is missing or stale and the folder is writable. The rpiq command sets it; library callers
// and tests only read existing ones. RPIQ_PACK=read (use, never write) and RPIQ_PACK=off (neither)
// override it.
var WritePacked = false

// PackMode is RPIQ_PACK: "" or "on" (use the sidecar; write it when WritePacked), "read" or "off".
func PackMode() (string, error) {
	switch v := os.Getenv("RPIQ_PACK"); v {
	case "", "on":
		return "on", nil
	case "read", "off":
		return v, nil
	default:
		return "", &Error{Msg: fmt.Sprintf("RPIQ_PACK=%q: want on, read or off", v)}
	}
}

// packState is one load's use of the sidecar: the file when it is usable, and every quantized
// weight built, for writing a fresh one.
type packState struct {
	be        LayoutBackend
	path, key string
	file      *packfile.Pack // nil: missing, stale or damaged
	write     bool
	built     []packfile.Entry
	missed    bool // some weight was not in the file (or did not fit): write a fresh one
}

// openPack returns the sidecar state for a GPTQ checkpoint on a backend with kernel layouts, or
// nil. A missing file is silent, a stale one logged at info and a damaged one as a warning: each
// means repacking as before.
func openPack(dir string, cfg *hf.Config, ck *hf.Checkpoint, be backend.Backend, write bool) (*packState, error) {
	lb, ok := be.(LayoutBackend)
	if !ok || cfg.Quantization == nil || os.Getenv("RPIQ_GPTQ") == "dequant" {
		return nil, nil
	}
	mode, err := PackMode()
	if err != nil {
		return nil, err
	}
	if mode == "off" {
		return nil, nil
	}
	srcs := append(ck.Paths(), filepath.Join(dir, "config.json"), filepath.Join(dir, "quantize_config.json"))
	key, err := packfile.Key(srcs...)
	if err != nil {
		slog.Warn("not using a pre-packed layout: cannot key the checkpoint", "err", err)
		return nil, nil
	}
	s := &packState{be: lb, path: filepath.Join(dir, packfile.Name), key: key, write: write && mode == "on"}
	s.file, err = packfile.Open(s.path, key)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrNotExist):
	case errors.Is(err, packfile.ErrStale):
		slog.Info("pre-packed layout is stale; repacking the checkpoint", "err", err)
	default:
		slog.Warn("ignoring a damaged pre-packed layout; repacking the checkpoint", "err", err)
	}
	return s, nil
}

// lookup returns the weights of names from the file when it holds all of them, each rows[i]×cols.
func (s *packState) lookup(names []string, rows []int, cols int) ([]backend.Weight, bool) {
	if s == nil || s.file == nil {
		return nil, false
	}
	ws := make([]backend.Weight, len(names))
	for i, name := range names {
		l, ok := s.file.Get(name)
		if !ok || l.Out != rows[i] || l.In != cols {
			if ok {
				slog.Warn("pre-packed layout holds a matrix of another shape; repacking it", "file", s.path, "matrix", name,
					"shape", fmt.Sprintf("%d×%d", l.Out, l.In), "want", fmt.Sprintf("%d×%d", rows[i], cols))
			}
			s.missed = true
			return nil, false
		}
		w, err := s.be.FromLayout(l)
		if err != nil { // checked when the file was opened; kept for safety
			slog.Warn("pre-packed layout unusable; repacking it", "file", s.path, "matrix", name, "err", err)
			s.missed = true
			return nil, false
		}
		ws[i] = w
	}
	packHits.Add(int64(len(ws)))
	s.record(names, ws)
	return ws, true
}

// record keeps the layouts of weights built for names (for writing the file).
func (s *packState) record(names []string, ws []backend.Weight) {
	if s == nil {
		return
	}
	for i, w := range ws {
		if l, ok := s.be.Layout(w); ok {
			s.built = append(s.built, packfile.Entry{Name: names[i], Layout: l})
		}
	}
}

// miss notes that a weight had to be built (repacked or quantized) at this load.
func (s *packState) miss() {
	if s != nil {
		s.missed = true
	}
}

// finish writes a fresh sidecar after a load that had to build weights, when allowed. Failing to
// write (a read-only folder, a full disk) is logged; the model loaded anyway.
func (s *packState) finish() {
	if s == nil || !s.write || !(s.missed || s.file == nil) || len(s.built) == 0 {
		return
	}
	t0 := time.Now()
	var bytes int64
	for _, e := range s.built {
		bytes += int64(len(e.Layout.W) + len(e.Layout.SM) + 4*len(e.Layout.Src))
	}
	if err := packfile.Write(s.path, s.key, s.built); err != nil {
		slog.Warn("could not write the pre-packed layout (the next load repacks again; RPIQ_PACK=read stops trying)", "err", err)
		return
	}
	slog.Info("wrote the pre-packed layout; later loads read it back instead of repacking (RPIQ_PACK=off ignores it)",
		"file", s.path, "MB", bytes>>20, "seconds", fmt.Sprintf("%.1f", time.Since(t0).Seconds()))
}

func (s *packState) close() error {
	if s == nil {
		return nil
	}
	return s.file.Close()
}

// partNames names the matrices of a GPTQ module bound as len(rows) blocks of rows.
func partNames(prefix string, rows []int) []string {
	if len(rows) == 1 {
		return []string{prefix}
	}
	out := make([]string, len(rows))
	for i := range rows {
		out[i] = fmt.Sprintf("%s#%d/%d", prefix, i, len(rows))
	}
	return out
}
