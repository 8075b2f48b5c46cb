package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
)

// rpiq quantize writes a GPTQ checkpoint that rpiq eval loads and compares with the FP model,
// and --resume after a finished run starts from scratch cleanly.
func TestQuantizeThenEval(t *testing.T) {
	dir := stories260K(t)
	calib := shareddata.Path(t, "text/c4-sample.txt")
	out := filepath.Join(t.TempDir(), "q")
	var so, se bytes.Buffer
	code := run([]string{"quantize", "--model", dir, "--calib", calib, "--out", out, "--samples", "3", "--seqlen", "48",
		"--holdout", "1", "--bits", "3", "--group-size", "32", "--act-order", "--sym", "--iters", "2", "--quiet"}, &so, &se)
	if code != 0 {
		t.Fatalf("quantize exit %d: %s", code, se.String())
	}
	var qc map[string]any
	b, err := os.ReadFile(filepath.Join(out, "quantize_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &qc); err != nil {
		t.Fatal(err)
	}
	if qc["checkpoint_format"] != "gptq" || qc["bits"].(float64) != 3 || qc["desc_act"] != true || qc["rpiq"] == nil {
		t.Fatalf("quantize_config.json: %v", qc)
	}
	if _, err := os.Stat(filepath.Join(out, ".rpiq-partial")); !os.IsNotExist(err) {
		t.Fatal("per-layer checkpoints left behind after a finished run")
	}
	text := filepath.Join(t.TempDir(), "t.txt")
	os.WriteFile(text, []byte("Once upon a time, there was a little girl named Lily. She liked to play in the park with her friends."), 0o644)
	so.Reset()
	se.Reset()
	if code := run([]string{"eval", "--model", out, "--ref", dir, "--text", text, "--json", "--quiet"}, &so, &se); code != 0 {
		t.Fatalf("eval exit %d: %s", code, se.String())
	}
	var ev evalResult
	if err := json.Unmarshal(so.Bytes(), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.KLD == nil || *ev.KLD <= 0 || *ev.Top1 <= 0.2 {
		t.Fatalf("3-bit model against FP: kld %v top1 %v", ev.KLD, ev.Top1)
	}
}

func TestQuantizeBadInput(t *testing.T) {
	dir := stories260K(t)
	tmp := t.TempDir()
	empty := filepath.Join(tmp, "empty.txt")
	os.WriteFile(empty, []byte("\n \n"), 0o644)
	short := filepath.Join(tmp, "short.txt")
	os.WriteFile(short, []byte("a tiny text"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", dir, "--calib", empty}, "required"},
		{[]string{"--model", dir, "--calib", empty, "--out", tmp, "--bits", "5"}, "--bits"},
		{[]string{"--model", dir, "--calib", empty, "--out", tmp, "--group-size", "0"}, "--group-size"},
		{[]string{"--model", dir, "--calib", empty, "--out", tmp, "--rpiq-data", "some"}, "--rpiq-data"},
		{[]string{"--model", dir, "--calib", empty, "--out", tmp}, "empty"},
		{[]string{"--model", dir, "--calib", short, "--out", tmp, "--seqlen", "64"}, "too short"},
		{[]string{"--model", dir, "--calib", short, "--out", tmp, "--group-size", "32", "--strict"}, "gate_proj: 172×64 does not fill whole 4-bit packed words"},
	} {
		var so, se bytes.Buffer
		code := run(append([]string{"quantize"}, c.args...), &so, &se)
		if code != 2 || !strings.Contains(se.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, se.String(), c.want)
		}
	}
}

// issue 14: --holdout 0 drew the report plot on a log scale with no held-out values and
// panicked, leaving .rpiq-partial and a report.png temporary behind; and with stderr not a
// terminal the progress bar wrote thousands of carriage-return redraws into the log.
func TestQuantizeHoldoutZeroAndPlainProgress(t *testing.T) {
	dir := stories260K(t)
	calib := shareddata.Path(t, "text/c4-sample.txt")
	out := filepath.Join(t.TempDir(), "q")
	var so, se bytes.Buffer // not a terminal
	code := run([]string{"quantize", "--model", dir, "--calib", calib, "--out", out, "--samples", "2", "--seqlen", "32",
		"--holdout", "0", "--group-size", "32", "--iters", "1"}, &so, &se)
	if code != 0 {
		t.Fatalf("quantize --holdout 0: exit %d: %s", code, se.String())
	}
	if strings.Contains(se.String(), "\r") {
		t.Errorf("progress redraws (\\r) written to a non-terminal stderr: %d of them", strings.Count(se.String(), "\r"))
	}
	if !strings.Contains(so.String(), "no held-out windows") {
		t.Errorf("summary does not say there were no held-out windows: %q", so.String())
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind in the output folder: %s", e.Name())
		}
	}
	if st, err := os.Stat(filepath.Join(out, "report.png")); err != nil || st.Size() == 0 {
		t.Errorf("report.png not drawn (%v); folder has %v", err, names)
	}
}

// issue 13: --method rtn needs no calibration text and runs no forward pass; the checkpoint
// loads and evaluates.
func TestQuantizeRTNWithoutCalibration(t *testing.T) {
	dir := stories260K(t)
	out := filepath.Join(t.TempDir(), "rtn")
	var so, se bytes.Buffer
	if code := run([]string{"quantize", "--model", dir, "--out", out, "--method", "rtn", "--group-size", "32", "--quiet"}, &so, &se); code != 0 {
		t.Fatalf("quantize --method rtn without --calib: exit %d: %s", code, se.String())
	}
	var rep struct {
		Cost struct {
			ForwardS float64 `json:"forward_s"`
		} `json:"cost"`
		Modules []struct{ Name string } `json:"modules"`
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Cost.ForwardS != 0 || len(rep.Modules) != 35 {
		t.Fatalf("report: forward passes %v s (want none), %d modules", rep.Cost.ForwardS, len(rep.Modules))
	}
	text := filepath.Join(t.TempDir(), "t.txt")
	os.WriteFile(text, []byte("Once upon a time, there was a little girl named Lily. She liked to play in the park."), 0o644)
	so.Reset()
	if code := run([]string{"eval", "--model", out, "--ref", dir, "--text", text, "--json", "--quiet"}, &so, &se); code != 0 {
		t.Fatalf("eval of the RTN checkpoint: exit %d: %s", code, se.String())
	}
	// without --calib the other methods still need it
	se.Reset()
	if code := run([]string{"quantize", "--model", dir, "--out", out + "2", "--method", "gptq"}, &so, &se); code != 2 || !strings.Contains(se.String(), "--calib") {
		t.Fatalf("gptq without --calib: exit %d, %q", code, se.String())
	}
}
