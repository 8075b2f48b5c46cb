package quant_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
	"github.com/rpiq/rpiq/models/hfmodel"
	_ "github.com/rpiq/rpiq/models/llama"
	"github.com/rpiq/rpiq/models/llama2c"
	"github.com/rpiq/rpiq/models/quant"
	"github.com/rpiq/rpiq/models/tokenizer"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/model"
)

// stories260K converts the shared llama2.c checkpoint into a temporary HF folder.
func stories260K(t *testing.T) string {
	t.Helper()
	ck := shareddata.Path(t, "llama2c/stories260K.bin")
	tok := shareddata.Path(t, "llama2c/tok512.bin")
	dir := filepath.Join(t.TempDir(), "stories260K")
	if err := llama2c.Convert(ck, tok, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func openLayered(t *testing.T, dir string) (model.Layered, *cpubackend.CPU) {
	t.Helper()
	be := cpubackend.New(0)
	m, _, closeM, err := hfmodel.Open(dir, be)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeM() })
	return m.(model.Layered), be
}

func calibWindows(t *testing.T, dir string, n, seqlen int) [][]int32 {
	t.Helper()
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := shareddata.Path(t, "text/c4-sample.txt")
	docs, err := quant.ReadCalibration(path)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := quant.Windows(path, docs, tok, n, seqlen, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func options(method string, sym bool) quant.Options {
	return quant.Options{
		Method: method,
		Stage1: quant.Config{Grid: quant.Grid{Bits: 4, Sym: sym, ScaleFP16: true}, GroupSize: 32, ActOrder: true, Damp: 0.01},
		Stage2: quant.Stage2Config{Reading: quant.DefaultReading(), Iters: 3},
	}
}

// The written checkpoint loads back through the runtime's loader with exactly the dequantized
// weights the quantizer chose (asymmetric gptq_v2 and symmetric v1, act-order g_idx, and
// stories260K's ragged 172-wide FFN with group 32).
func TestQuantizeStories260KWriteAndLoad(t *testing.T) {
	src := stories260K(t)
	ws := calibWindows(t, src, 6, 64)
	for _, sym := range []bool{false, true} {
		lm, be := openLayered(t, src)
		res, err := quant.QuantizeModel(lm, be, ws[:4], ws[4:], options(quant.MethodRPIQ, sym))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Modules) != 5*7 {
			t.Fatalf("%d modules quantized, want 35", len(res.Modules))
		}
		out := filepath.Join(t.TempDir(), "q")
		s := quant.Settings{Method: "rpiq", Bits: 4, GroupSize: 32, Sym: sym, ActOrder: true, Damp: 0.01}
		if err := quant.WriteModel(src, out, res, s); err != nil {
			t.Fatal(err)
		}
		if err := quant.WriteReport(out, quant.NewReport(res, s)); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"config.json", "quantize_config.json", "model.safetensors", "tokenizer.json", "report.json", "report.png"} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Fatalf("missing %s", f)
			}
		}
		ql, _ := openLayered(t, out)
		for _, m := range res.Modules {
			got, _, err := ql.LinearF32(m.Name)
			if err != nil {
				t.Fatal(err)
			}
			want := m.Q.Dequantize()
			for i := range got {
				if got[i] != float32(want[i]) {
					t.Fatalf("sym=%v %s weight %d: loaded %v, quantizer chose %v", sym, m.Name, i, got[i], want[i])
				}
			}
			r := m.Report
			if r.Heldout.RTN <= 0 || r.Heldout.GPTQ <= 0 || r.Instance.Final <= 0 {
				t.Fatalf("%s: report errors not filled: %+v", m.Name, r)
			}
		}
		logits, err := model.Logits(ql, ws[5][:16])
		if err != nil || len(logits) != 16*512 {
			t.Fatalf("logits of the quantized model: %d values, %v", len(logits), err)
		}
	}
}

var errStop = errors.New("interrupted")

// An interrupted run resumed from its per-layer checkpoints gives the same weights as an
// uninterrupted one.
func TestQuantizeResume(t *testing.T) {
	src := stories260K(t)
	ws := calibWindows(t, src, 4, 48)
	s := quant.Settings{Method: "gptq", Bits: 3, GroupSize: 32, ActOrder: true, Damp: 0.01, Samples: 3, Seqlen: 48}
	opt := options(quant.MethodGPTQ, false)
	opt.Stage1.Bits = 3

	lm, be := openLayered(t, src)
	full, err := quant.QuantizeModel(lm, be, ws[:3], ws[3:], opt)
	if err != nil {
		t.Fatal(err)
	}

	out := t.TempDir()
	save, err := quant.LayerCheckpointer(out, s)
	if err != nil {
		t.Fatal(err)
	}
	stopAt := 2
	opt.OnLayer = func(layer int, mods []*quant.ModuleResult) error {
		if layer == stopAt {
			return errStop
		}
		return save(layer, mods)
	}
	lm, be = openLayered(t, src)
	if _, err := quant.QuantizeModel(lm, be, ws[:3], ws[3:], opt); !errors.Is(err, errStop) {
		t.Fatalf("interrupted run: err = %v", err)
	}
	done, err := quant.LoadPartial(out, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != stopAt {
		t.Fatalf("%d layers to resume, want %d", len(done), stopAt)
	}
	bad := s
	bad.Bits = 4
	if _, err := quant.LoadPartial(out, bad); err == nil {
		t.Fatal("resume with different settings accepted")
	}
	opt.OnLayer, opt.Done = save, done
	lm, be = openLayered(t, src)
	resumed, err := quant.QuantizeModel(lm, be, ws[:3], ws[3:], opt)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range full.Modules {
		a, b := m.Q.Dequantize(), resumed.Modules[i].Q.Dequantize()
		for j := range a {
			if a[j] != b[j] {
				t.Fatalf("%s: weight %d differs after resuming (%v vs %v)", m.Name, j, a[j], b[j])
			}
		}
	}
}

// The work backend skips repeated and discarded passes; the quantized weights and every number
// of the report must be exactly those of running every pass in full.
func TestWorkBackendSameResult(t *testing.T) {
	src := stories260K(t)
	ws := calibWindows(t, src, 5, 64)
	opt := options(quant.MethodRPIQ, false)
	lm, be := openLayered(t, src)
	want, err := quant.QuantizeModel(lm, be, ws[:3], ws[3:], opt)
	if err != nil {
		t.Fatal(err)
	}
	wbe := quant.NewWorkBackend(cpubackend.New(0))
	m, _, closeM, err := hfmodel.Open(src, wbe)
	if err != nil {
		t.Fatal(err)
	}
	defer closeM()
	got, err := quant.QuantizeModel(m.(model.Layered), wbe, ws[:3], ws[3:], opt)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range want.Modules {
		b := got.Modules[i]
		if !reflect.DeepEqual(a.Q, b.Q) {
			t.Fatalf("%s: quantized weights differ with the work backend", a.Name)
		}
		if !reflect.DeepEqual(a.Report.Heldout, b.Report.Heldout) || !reflect.DeepEqual(a.Report.Instance, b.Report.Instance) {
			t.Fatalf("%s: report errors differ: %+v vs %+v", a.Name, a.Report, b.Report)
		}
	}
	run, reused, skipped := quant.WorkCounts(wbe)
	// per layer and window: one attention per stream; 5 layers × 5 windows
	if run != 2*5*5 || reused == 0 || skipped == 0 {
		t.Fatalf("attention computed %d times (want 50), reused %d, skipped ops %d", run, reused, skipped)
	}

	// The same with the windows on three model instances at once: each instance computes its
	// windows' shares of the sums, added in window order; and again with the sums taking every
	// window in turn on the pool (the path of shares too large to hold).
	open := func() (model.Layered, backend.Backend) {
		wbe := quant.NewWorkBackend(cpubackend.New(1))
		m, _, closeM, err := hfmodel.Open(src, wbe)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeM() })
		return m.(model.Layered), wbe
	}
	for _, held := range []int{1 << 20, 0} {
		old := quant.SetMaxLaneProducts(held)
		lm0, be0 := open()
		lm1, be1 := open()
		lm2, be2 := open()
		opt.Workers = []quant.Worker{{Model: lm1, Backend: be1}, {Model: lm2, Backend: be2}}
		got, err = quant.QuantizeModel(lm0, be0, ws[:3], ws[3:], opt)
		quant.SetMaxLaneProducts(old)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range want.Modules {
			b := got.Modules[i]
			if !reflect.DeepEqual(a.Q, b.Q) {
				t.Fatalf("held %d: %s: quantized weights differ with three instances", held, a.Name)
			}
			if !reflect.DeepEqual(a.Report.Heldout, b.Report.Heldout) || !reflect.DeepEqual(a.Report.Instance, b.Report.Instance) {
				t.Fatalf("held %d: %s: report errors differ with three instances: %+v vs %+v", held, a.Name, a.Report, b.Report)
			}
		}
		run = 0
		for _, b := range []backend.Backend{be0, be1, be2} {
			r, _, _ := quant.WorkCounts(b)
			if r == 0 {
				t.Fatalf("an instance computed no attention")
			}
			run += r
		}
		if run != 2*5*5 {
			t.Fatalf("attention computed %d times on three instances, want 50", run)
		}
	}
}
