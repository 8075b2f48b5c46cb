package cogvlm2

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/rpiq/rpiq/models/quant"
)

// Activations spilled to files (a budget too small for any of them) give the same quantized
// weights as activations kept in memory, and the files are gone afterwards.
func TestQuantizeSpillBitExact(t *testing.T) {
	dir, cfg, _ := writeTiny(t, 2, 44)
	samples := calibSamples(cfg, 700, 2)
	st1 := quant.DefaultConfig()
	st1.GroupSize = 32
	base := QuantOptions{Method: quant.MethodRPIQ, Bits: 4, VisionBits: 8, AdapterBits: 16, HeadBits: 16, Stage1: st1,
		Stage2: quant.Stage2Config{Reading: quant.DefaultReading()}}
	mem, err := Quantize(loadTiny(t, dir, 2), samples, base)
	if err != nil {
		t.Fatal(err)
	}
	if mem.Spilled != 0 {
		t.Fatalf("spilled %d bytes without a budget", mem.Spilled)
	}
	o := base
	o.SpillDir, o.ActBudget = filepath.Join(t.TempDir(), "spill"), 1
	disk, err := Quantize(loadTiny(t, dir, 2), samples, o)
	if err != nil {
		t.Fatal(err)
	}
	if disk.Spilled == 0 {
		t.Fatal("nothing was spilled with a 1-byte budget")
	}
	if left := spillFiles(o.SpillDir); len(left) != 0 {
		t.Fatalf("spill files left behind: %v", left)
	}
	if len(mem.Modules) != len(disk.Modules) {
		t.Fatalf("%d modules in memory, %d spilled", len(mem.Modules), len(disk.Modules))
	}
	for i, a := range mem.Modules {
		b := disk.Modules[i]
		if a.Name != b.Name || !reflect.DeepEqual(a.Q, b.Q) || a.Err != b.Err {
			t.Fatalf("%s: the spilled run quantized it differently", a.Name)
		}
	}
}
