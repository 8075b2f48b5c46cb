package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
	"github.com/rpiq/rpiq/models/gguf"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/quant"
)

// rpiq quantize (GPTQ, 4-bit, group 32, sym) then rpiq export --gguf: every attention and
// gate/up matrix is Q4_0 and dequantizes bit-exactly to what the GPTQ checkpoint holds.
func TestExportQuantizedCheckpoint(t *testing.T) {
	dir := stories260K(t)
	calib := shareddata.Path(t, "text/c4-sample.txt")
	q := filepath.Join(t.TempDir(), "q")
	code, _, stderr := runCLI("quantize", "--model", dir, "--calib", calib, "--out", q, "--method", "gptq", "--samples", "3",
		"--seqlen", "48", "--holdout", "1", "--bits", "4", "--group-size", "32", "--sym", "--quiet")
	if code != 0 {
		t.Fatalf("quantize exit %d: %s", code, stderr)
	}
	out := filepath.Join(t.TempDir(), "q.gguf")
	code, stdout, stderr := runCLI("export", "--gguf", q, out, "--json")
	if code != 0 {
		t.Fatalf("export exit %d: %s", code, stderr)
	}
	var rep struct {
		Bytes    int64 `json:"bytes"`
		FileType int   `json:"file_type"`
		Tensors  []struct {
			Name, Source, Type, Rule string
			MaxAbsErr                float64 `json:"max_abs_err"`
		} `json:"tensors"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if !strings.Contains(stderr, "mlp.down_proj") || len(rep.Warnings) != 5 || rep.FileType != int(gguf.FileTypeMostlyQ4_0) {
		t.Fatalf("file_type %d, warnings %q, stderr %s", rep.FileType, rep.Warnings, stderr)
	}
	f, err := gguf.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := hf.OpenCheckpoint(q)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	cfg, _ := hf.LoadConfig(q)
	q4 := 0
	for _, r := range rep.Tensors {
		if r.Type != "Q4_0" {
			continue
		}
		q4++
		tn := f.Tensor(r.Name)
		got, err := gguf.Dequantize(tn)
		if err != nil {
			t.Fatal(err)
		}
		heads := 0
		if strings.HasSuffix(r.Name, "attn_q.weight") {
			heads = cfg.NumHeads
		} else if strings.HasSuffix(r.Name, "attn_k.weight") {
			heads = cfg.NumKVHeads
		}
		if heads > 0 {
			b := gguf.UnpermuteRows(gguf.F32Bytes(got), int(tn.Dims[1]), heads)
			for i := range got {
				got[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
			}
		}
		want, _, _, err := quant.DequantizeLinear(ck, cfg.Quantization, r.Source)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s[%d] = %v, GPTQ checkpoint gives %v", r.Name, i, got[i], want[i])
			}
		}
	}
	if q4 != 5*6 {
		t.Fatalf("%d Q4_0 tensors, want 30", q4)
	}
}

func TestExportDenseText(t *testing.T) {
	dir := stories260K(t)
	out := filepath.Join(t.TempDir(), "m.gguf")
	code, stdout, stderr := runCLI("export", "--gguf", dir, out, "--dense", "f16")
	if code != 0 || !strings.Contains(stdout, "wrote "+out+": 47 tensors (11 F32, 36 F16 (max |Δ| ") {
		t.Fatalf("exit %d: stdout %q stderr %q", code, stdout, stderr)
	}
	f, err := gguf.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if f.Get("general.file_type") != gguf.FileTypeMostlyF16 {
		t.Fatalf("file_type %v", f.Get("general.file_type"))
	}
	code, stdout, stderr = runCLI("inspect", out, "--json")
	var rep ggufReport
	if err := json.Unmarshal([]byte(stdout), &rep); code != 0 || err != nil {
		t.Fatalf("inspect exit %d, %v: %s", code, err, stderr)
	}
	st, _ := os.Stat(out)
	if rep.Metadata["llama.block_count"] != 5.0 || rep.Metadata["tokenizer.ggml.tokens"] != "[512 strings]" ||
		len(rep.Tensors) != 47 || rep.ByType["F32"] == 0 || rep.Bytes > uint64(st.Size()) || rep.Tensors[1].Dims[0] != 64 {
		t.Fatalf("inspect report %+v", rep)
	}
	code, stdout, _ = runCLI("inspect", out)
	if code != 0 || !strings.Contains(stdout, "GGUF v3, alignment 32") || !strings.Contains(stdout, "blk.4.ffn_down.weight") {
		t.Fatalf("inspect text: %s", stdout)
	}
	os.WriteFile(out, []byte("GGUF\x03\x00\x00\x00"), 0o644)
	if code, _, stderr = runCLI("inspect", out); code != 2 || !strings.Contains(stderr, "tensor_count") {
		t.Fatalf("truncated GGUF: exit %d, %s", code, stderr)
	}
}

func TestExportBadInputExitCode(t *testing.T) {
	dir := stories260K(t)
	tmp := t.TempDir()
	awq := filepath.Join(tmp, "awq")
	os.MkdirAll(awq, 0o755)
	for _, name := range []string{"model.safetensors", "tokenizer.json"} {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		os.WriteFile(filepath.Join(awq, name), b, 0o644)
	}
	var cfg map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	json.Unmarshal(b, &cfg)
	cfg["quantization_config"] = map[string]any{"quant_method": "awq", "bits": 4, "group_size": 128}
	hf.WriteJSON(filepath.Join(awq, "config.json"), cfg)
	noTensor := filepath.Join(tmp, "empty")
	os.MkdirAll(noTensor, 0o755)
	b, _ = os.ReadFile(filepath.Join(dir, "config.json"))
	os.WriteFile(filepath.Join(noTensor, "config.json"), b, 0o644)
	out := filepath.Join(tmp, "x.gguf")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{dir, out}, "--gguf is required"},
		{[]string{"--gguf", dir}, "want MODEL and OUT.gguf"},
		{[]string{"--gguf", dir, out, "--dense", "q4"}, "--dense"},
		{[]string{"--gguf", filepath.Join(tmp, "nope"), out}, "nope"},
		{[]string{"--gguf", awq, out}, `quant_method "awq"`},
		{[]string{"--gguf", noTensor, out}, "empty"},
	} {
		code, _, stderr := runCLI(append([]string{"export"}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%v: output written", c.args)
		}
	}
}

// Issue 14: writing to a folder that cannot take the file named the hidden temporary file
// (".x.gguf.tmp-123"); the error names the file the user asked for.
func TestExportErrorNamesTarget(t *testing.T) {
	dir := stories260K(t)
	tmp := t.TempDir()
	notDir := filepath.Join(tmp, "file")
	os.WriteFile(notDir, []byte("x"), 0o644)
	targets := []string{filepath.Join(tmp, "missing", "x.gguf"), filepath.Join(notDir, "x.gguf")}
	if os.Geteuid() != 0 { // root writes anywhere
		ro := filepath.Join(tmp, "ro")
		os.Mkdir(ro, 0o555)
		targets = append(targets, filepath.Join(ro, "x.gguf"))
	}
	for _, out := range targets {
		code, _, stderr := runCLI("export", "--gguf", "--quiet", dir, out)
		if code == 0 || !strings.Contains(stderr, out+":") || strings.Contains(stderr, ".tmp-") {
			t.Errorf("%s: exit %d, stderr %q; want an error naming the target, not the temporary file", out, code, stderr)
		}
	}
}
