package hfmodel_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/packfile"
)

// logitsOf loads dir and returns the logits of a prompt (the GEMM path) and of one decode step
// after it (MatVec), and how many weights came from the sidecar.
func logitsOf(t *testing.T, dir string) ([]float32, int64) {
	t.Helper()
	before := hfmodel.PackHits()
	m, _, closeM, err := hfmodel.Open(dir, cpubackend.New(0))
	if err != nil {
		t.Fatal(err)
	}
	defer closeM()
	prompt := []int32{1, 403, 407, 261, 378, 376, 261, 429, 270, 261, 400}
	c := m.NewCache(len(prompt) + 1)
	a, err := m.Forward(c, prompt, false)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]float32(nil), a...)
	b, err := m.Forward(c, []int32{400}, false)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, b...), hfmodel.PackHits() - before
}

func sameBits(t *testing.T, what string, want, got []float32) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%s: %d logits, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
			t.Fatalf("%s: logit %d = %v, repacking gives %v", what, i, got[i], want[i])
		}
	}
}

// The pre-packed sidecar: written on the first load (when allowed), used by the next with
// bit-identical logits, ignored (and rewritten) when stale or damaged, never used or written
// with RPIQ_PACK=off, and the head bits it was made with are respected.
func TestPackedSidecar(t *testing.T) {
	dir := quantizedStories260K(t, 4)
	path := filepath.Join(dir, packfile.Name)
	hfmodel.WritePacked = true
	defer func() { hfmodel.WritePacked = false }()

	t.Setenv("RPIQ_PACK", "off")
	ref, hits := logitsOf(t, dir)
	if _, err := os.Stat(path); err == nil || hits != 0 {
		t.Fatalf("RPIQ_PACK=off: sidecar written or used (%d hits)", hits)
	}
	t.Setenv("RPIQ_PACK", "")
	first, hits := logitsOf(t, dir)
	sameBits(t, "first load", ref, first)
	if hits != 0 {
		t.Fatalf("first load: %d weights from a sidecar that did not exist", hits)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("first load wrote no sidecar: %v", err)
	}
	second, hits := logitsOf(t, dir)
	sameBits(t, "from the sidecar", ref, second)
	if hits != 7*5+1 { // 5 layers × 7 linears + the 8-bit head
		t.Fatalf("second load: %d weights from the sidecar, want 36", hits)
	}

	// another head setting: that matrix is rebuilt, the file rewritten with it
	t.Setenv("RPIQ_LM_HEAD", "q4")
	t.Setenv("RPIQ_PACK", "off")
	ref4, _ := logitsOf(t, dir)
	t.Setenv("RPIQ_PACK", "")
	got4, hits := logitsOf(t, dir)
	sameBits(t, "q4 head", ref4, got4)
	if hits != 35 {
		t.Fatalf("q4 head: %d weights from the sidecar, want the 35 layers' linears", hits)
	}
	if _, hits = logitsOf(t, dir); hits != 36 {
		t.Fatalf("q4 head, rewritten: %d weights from the sidecar, want 36", hits)
	}
	t.Setenv("RPIQ_LM_HEAD", "")

	// damaged: truncated in the middle of the data
	st, _ := os.Stat(path)
	if err := os.Truncate(path, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RPIQ_PACK", "read") // used but never rewritten
	got, hits := logitsOf(t, dir)
	sameBits(t, "damaged sidecar", ref, got)
	if st2, _ := os.Stat(path); hits != 0 || st2.Size() != st.Size()/2 {
		t.Fatalf("damaged sidecar: %d hits, size %d (RPIQ_PACK=read must not rewrite)", hits, st2.Size())
	}
	t.Setenv("RPIQ_PACK", "")
	logitsOf(t, dir) // rewrites it
	if _, hits = logitsOf(t, dir); hits != 36 {
		t.Fatalf("after the rewrite: %d hits, want 36", hits)
	}

	// stale: the config changed since
	later := time.Now().Add(time.Minute)
	os.Chtimes(filepath.Join(dir, "config.json"), later, later)
	got, hits = logitsOf(t, dir)
	sameBits(t, "stale sidecar", ref, got)
	if hits != 0 {
		t.Fatalf("stale sidecar used: %d hits", hits)
	}

	// WritePack (rpiq quantize) writes a fresh one without WritePacked
	hfmodel.WritePacked = false
	os.Remove(path)
	if err := hfmodel.WritePack(dir, cpubackend.New(0)); err != nil {
		t.Fatal(err)
	}
	if _, hits = logitsOf(t, dir); hits != 36 {
		t.Fatalf("after WritePack: %d hits, want 36", hits)
	}

	t.Setenv("RPIQ_PACK", "sometimes")
	if _, _, _, err := hfmodel.Open(dir, cpubackend.New(0)); err == nil {
		t.Error("RPIQ_PACK=sometimes was accepted")
	}
}
