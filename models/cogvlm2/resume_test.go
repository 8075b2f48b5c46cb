package cogvlm2

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/quant"
)

var errInterrupted = errors.New("interrupted")

// A run interrupted after some blocks and resumed from its per-block checkpoints writes the
// same checkpoint, byte for byte, as an uninterrupted run; the streamed run keeps no quantized
// weights in its result.
func TestQuantizeResumeBitExact(t *testing.T) {
	dir, cfg, _ := writeTiny(t, 2, 43)
	st1 := quant.DefaultConfig()
	st1.GroupSize = 32
	base := QuantOptions{Method: quant.MethodRPIQ, Bits: 4, VisionBits: 8, AdapterBits: 4, HeadBits: 16, Stage1: st1,
		Stage2: quant.Stage2Config{Reading: quant.DefaultReading()}}
	samples := calibSamples(cfg, 600, 6)
	settings := map[string]any{"samples": len(samples), "seed": 600}

	quantizeTo := func(out string, stopAt int, resume bool) error {
		o := base
		save, err := BlockCheckpointer(out, o, settings)
		if err != nil {
			return err
		}
		if resume {
			if o.Done, err = LoadBlocks(out, o, settings); err != nil {
				return err
			}
			if len(o.Done) != stopAt {
				t.Fatalf("%d blocks to resume, want %d", len(o.Done), stopAt)
			}
		}
		o.OnBlock = func(b int, mods []*QuantModule) error {
			if b == stopAt && !resume {
				return errInterrupted
			}
			return save(b, mods)
		}
		res, err := Quantize(loadTiny(t, dir, 2), samples, o)
		if err != nil {
			return err
		}
		for _, qm := range res.Modules {
			if qm.Q != nil {
				t.Fatalf("%s: quantized weights kept in memory after the block's checkpoint", qm.Name)
			}
		}
		ck, err := hf.OpenCheckpoint(PartialDir(out))
		if err != nil {
			return err
		}
		defer ck.Close()
		res.Packed = ck
		return WriteQuantized(dir, out, res, QuantSettings{Samples: len(samples), Seed: 600})
	}
	full := filepath.Join(t.TempDir(), "full")
	if err := quantizeTo(full, -1, false); err != nil {
		t.Fatal(err)
	}
	for _, stopAt := range []int{1, cfg.Vision.NumLayers + 2} { // in the vision tower; in the decoder
		out := filepath.Join(t.TempDir(), "resumed")
		if err := quantizeTo(out, stopAt, false); !errors.Is(err, errInterrupted) {
			t.Fatalf("interrupted run: %v", err)
		}
		other := map[string]any{"samples": len(samples), "seed": 601}
		if _, err := LoadBlocks(out, base, other); err == nil {
			t.Fatal("resume with other settings accepted")
		}
		if err := quantizeTo(out, stopAt, true); err != nil {
			t.Fatal(err)
		}
		a, err := os.ReadFile(filepath.Join(full, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(out, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		if string(a) != string(b) {
			t.Fatalf("stopped at block %d: the resumed checkpoint differs from the uninterrupted one", stopAt)
		}
	}
}
