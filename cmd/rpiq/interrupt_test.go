package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rpiq/rpiq/internal/shareddata"
)

// TestInterruptChild is not a test: it is the child process the interrupt tests signal, running
// rpiq as main does.
func TestInterruptChild(t *testing.T) {
	args := os.Getenv("RPIQ_INTERRUPT_CHILD_ARGS")
	if args == "" {
		t.Skip("helper process for the interrupt tests")
	}
	code := run(strings.Split(args, "\x1f"), os.Stdout, os.Stderr)
	if interrupting.Load() {
		select {}
	}
	os.Exit(code)
}

type childResult struct {
	code        int
	signaled    bool // the signal arrived before the job ended
	stderr      string
	elapsed     time.Duration
	interrupted bool // the handler ran (its message is on stderr)
	killed      bool // the signal came before the handler was installed: the default action
}

// runChild runs rpiq args in a child process and sends sig after delay (none when delay < 0).
func runChild(t *testing.T, delay time.Duration, sig syscall.Signal, args ...string) childResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestInterruptChild$")
	cmd.Env = append(os.Environ(), "RPIQ_INTERRUPT_CHILD_ARGS="+strings.Join(args, "\x1f"), "RPIQ_THREADS=2")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	signaled := false
	if delay >= 0 {
		select {
		case err = <-done:
		case <-time.After(delay):
			cmd.Process.Signal(sig)
			signaled = true
			err = <-done
		}
	} else {
		err = <-done
	}
	r := childResult{code: cmd.ProcessState.ExitCode(), signaled: signaled, stderr: stderr.String(), elapsed: time.Since(start)}
	r.interrupted = strings.Contains(r.stderr, "interrupted (")
	r.killed = r.code == -1 && signaled
	if err != nil && r.code == -1 && !signaled {
		t.Fatalf("child died without an exit status (%v): %s", err, r.stderr)
	}
	return r
}

// noTemps fails if a temporary file or folder of an atomic write is left under dir.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.Contains(filepath.Base(p), ".tmp") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	x, err1 := os.ReadFile(a)
	y, err2 := os.ReadFile(b)
	if strings.HasSuffix(a, ".json") {
		x, y = withoutCost(x), withoutCost(y)
	}
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// withoutCost drops the quantizer's timings and heap peaks (rpiq.cost), which differ run to run.
func withoutCost(b []byte) []byte {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return b
	}
	for _, obj := range []any{m, m["quantization_config"]} {
		if o, ok := obj.(map[string]any); ok {
			if r, ok := o["rpiq"].(map[string]any); ok {
				delete(r, "cost")
			}
		}
	}
	out, _ := json.Marshal(m)
	return out
}

// killPoints are the signal delays: spread over the uninterrupted run's duration d, with a
// random jitter from a fixed seed (the same points every run), and alternating SIGINT/SIGTERM.
func killPoints(n int, d time.Duration, seed uint64) []time.Duration {
	r := rand.New(rand.NewPCG(seed, 14))
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration((float64(i) + r.Float64()) / float64(n) * float64(d))
	}
	return out
}

func signalFor(i int) syscall.Signal {
	if i%2 == 0 {
		return syscall.SIGINT
	}
	return syscall.SIGTERM
}

// Issue 14.4: SIGINT/SIGTERM during `rpiq quantize` leaves the old output or a folder that does
// not load (never a mix), no temporary files, and a message saying how to resume; --resume then
// writes exactly the bytes of an uninterrupted run with the same seed.
func TestQuantizeInterruptedThenResumed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := stories260K(t)
	calib := shareddata.Path(t, "text/c4-sample.txt")
	args := func(out string, bits string) []string {
		return []string{"quantize", "--model", dir, "--calib", calib, "--out", out, "--samples", "4", "--seqlen", "64",
			"--holdout", "1", "--bits", bits, "--group-size", "32", "--iters", "2", "--seed", "7", "--quiet"}
	}
	tmp := t.TempDir()
	ref, old := filepath.Join(tmp, "ref"), filepath.Join(tmp, "old")
	r := runChild(t, -1, 0, args(ref, "4")...)
	if r.code != 0 {
		t.Fatalf("uninterrupted run: exit %d: %s", r.code, r.stderr)
	}
	if r := runChild(t, -1, 0, args(old, "3")...); r.code != 0 {
		t.Fatalf("old output: exit %d: %s", r.code, r.stderr)
	}
	interrupted := 0
	for i, delay := range killPoints(5, r.elapsed, 1) {
		out := filepath.Join(tmp, "run", string(rune('a'+i)))
		os.MkdirAll(out, 0o755)
		for _, f := range []string{"config.json", "model.safetensors", "quantize_config.json", "tokenizer.json"} {
			b, _ := os.ReadFile(filepath.Join(old, f))
			os.WriteFile(filepath.Join(out, f), b, 0o644)
		}
		k := runChild(t, delay, signalFor(i), args(out, "4")...)
		t.Logf("quantize kill %d after %v of %v: interrupted %v, killed before the handler %v, exit %d", i, delay, r.elapsed, k.interrupted, k.killed, k.code)
		switch {
		case k.interrupted:
			interrupted++
			if k.code != 1 || !strings.Contains(k.stderr, "--resume") && !strings.Contains(k.stderr, "written in full just before the signal") {
				t.Errorf("kill %d after %v: exit %d, stderr %q; want 1 and how to resume", i, delay, k.code, k.stderr)
			}
		case !k.killed && k.code != 0:
			t.Fatalf("kill %d after %v: exit %d without the interrupt message: %s", i, delay, k.code, k.stderr)
		}
		noTemps(t, out)
		// What loads (config.json present) is the old output or the new one, whole.
		if _, err := os.Stat(filepath.Join(out, "config.json")); err == nil {
			isOld := sameFile(t, filepath.Join(out, "config.json"), filepath.Join(old, "config.json")) &&
				sameFile(t, filepath.Join(out, "model.safetensors"), filepath.Join(old, "model.safetensors"))
			isNew := sameFile(t, filepath.Join(out, "config.json"), filepath.Join(ref, "config.json")) &&
				sameFile(t, filepath.Join(out, "model.safetensors"), filepath.Join(ref, "model.safetensors"))
			if !isOld && !isNew {
				t.Fatalf("kill %d after %v: %s loads but is neither the old output nor the new one", i, delay, out)
			}
		}
		res := runChild(t, -1, 0, append(args(out, "4"), "--resume")...)
		if res.code != 0 {
			t.Fatalf("kill %d: --resume: exit %d: %s", i, res.code, res.stderr)
		}
		for _, f := range []string{"model.safetensors", "config.json", "quantize_config.json"} {
			if !sameFile(t, filepath.Join(out, f), filepath.Join(ref, f)) {
				t.Errorf("kill %d after %v: %s after --resume differs from the uninterrupted run's", i, delay, f)
			}
		}
		if _, err := os.Stat(filepath.Join(out, ".rpiq-partial")); !os.IsNotExist(err) {
			t.Errorf("kill %d: .rpiq-partial left after --resume finished", i)
		}
	}
	if interrupted < 2 {
		t.Fatalf("only %d of 5 signals arrived during the job (run took %v)", interrupted, r.elapsed)
	}
}

// SIGINT/SIGTERM during `rpiq export` and `rpiq convert`: the old output or nothing, no
// temporary file, and the same command again gives the uninterrupted result.
func TestExportConvertInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	ckpt := shareddata.Path(t, "llama2c/stories260K.bin")
	tok := shareddata.Path(t, "llama2c/tok512.bin")
	tmp := t.TempDir()
	model := filepath.Join(tmp, "model")
	convert := func(out string) []string {
		return []string{"convert", "--from", "llama2c", ckpt, "--tokenizer", tok, "--out", out}
	}
	r := runChild(t, -1, 0, convert(model)...)
	if r.code != 0 {
		t.Fatalf("convert: exit %d: %s", r.code, r.stderr)
	}
	for i, delay := range killPoints(4, r.elapsed, 2) {
		out := filepath.Join(tmp, "conv", string(rune('a'+i)))
		os.MkdirAll(filepath.Dir(out), 0o755)
		k := runChild(t, delay, signalFor(i), convert(out)...)
		t.Logf("convert kill %d after %v of %v: interrupted %v, killed before the handler %v, exit %d", i, delay, r.elapsed, k.interrupted, k.killed, k.code)
		finished := strings.Contains(k.stderr, "written in full just before the signal")
		if k.interrupted && (k.code != 1 || !finished && !strings.Contains(k.stderr, "run the same command again")) {
			t.Errorf("convert kill %d: exit %d, stderr %q", i, k.code, k.stderr)
		}
		noTemps(t, filepath.Dir(out))
		if _, err := os.Stat(out); err == nil && !sameFile(t, filepath.Join(out, "model.safetensors"), filepath.Join(model, "model.safetensors")) {
			t.Fatalf("convert kill %d after %v: %s exists but is not the whole output", i, delay, out)
		}
		if _, err := os.Stat(out); k.interrupted && (err == nil) != finished {
			t.Errorf("convert kill %d: %s exists: %v, but the message said %q", i, out, err == nil, k.stderr)
		}
		if k.interrupted && !finished {
			if r := runChild(t, -1, 0, convert(out)...); r.code != 0 || !sameFile(t, filepath.Join(out, "model.safetensors"), filepath.Join(model, "model.safetensors")) {
				t.Fatalf("convert again after kill %d: exit %d: %s", i, r.code, r.stderr)
			}
		}
	}

	// A larger LLaMA (20M parameters, stories260K's tokenizer) so that the export takes long
	// enough to be interrupted part-way: --dense f32 widens every BF16 weight.
	big := tinyHF(t, `{"architectures":["LlamaForCausalLM"],"hidden_size":512,"intermediate_size":1536,"num_hidden_layers":6,`+
		`"num_attention_heads":8,"num_key_value_heads":8,"vocab_size":512,"max_position_embeddings":256,"rms_norm_eps":1e-5,"tie_word_embeddings":true}`,
		bigLlamaShapes(512, 1536, 6, 512))
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, _ := os.ReadFile(filepath.Join(model, f))
		os.WriteFile(filepath.Join(big, f), b, 0o644)
	}
	export := func(out string) []string { return []string{"export", "--gguf", "--quiet", "--dense", "f32", big, out} }
	ref := filepath.Join(tmp, "ref.gguf")
	r = runChild(t, -1, 0, export(ref)...)
	if r.code != 0 {
		t.Fatalf("export: exit %d: %s", r.code, r.stderr)
	}
	exportInterrupted := 0
	for i, delay := range killPoints(4, r.elapsed, 3) {
		out := filepath.Join(tmp, "exp", "x.gguf")
		os.MkdirAll(filepath.Dir(out), 0o755)
		os.WriteFile(out, []byte("old output"), 0o644)
		k := runChild(t, delay, signalFor(i), export(out)...)
		t.Logf("export kill %d after %v of %v: interrupted %v, killed before the handler %v, exit %d", i, delay, r.elapsed, k.interrupted, k.killed, k.code)
		if k.interrupted {
			exportInterrupted++
		}
		if k.interrupted && (k.code != 1 || !strings.Contains(k.stderr, "run the same command again") &&
			!strings.Contains(k.stderr, "written in full just before the signal")) {
			t.Errorf("export kill %d: exit %d, stderr %q", i, k.code, k.stderr)
		}
		noTemps(t, filepath.Dir(out))
		if b, _ := os.ReadFile(out); string(b) != "old output" && !sameFile(t, out, ref) {
			t.Fatalf("export kill %d after %v: %s is neither the old file nor the whole new one", i, delay, out)
		}
	}
	if exportInterrupted == 0 {
		t.Fatalf("no signal arrived during the export (it took %v)", r.elapsed)
	}
}

// bigLlamaShapes is every tensor of a LLaMA with the given sizes (tied embeddings).
func bigLlamaShapes(h, inter, layers, vocab int) map[string][]int {
	s := map[string][]int{"model.embed_tokens.weight": {vocab, h}, "model.norm.weight": {h}}
	for i := 0; i < layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		for n, sh := range map[string][]int{"input_layernorm.weight": {h}, "post_attention_layernorm.weight": {h},
			"self_attn.q_proj.weight": {h, h}, "self_attn.k_proj.weight": {h, h}, "self_attn.v_proj.weight": {h, h},
			"self_attn.o_proj.weight": {h, h}, "mlp.gate_proj.weight": {inter, h}, "mlp.up_proj.weight": {inter, h},
			"mlp.down_proj.weight": {h, inter}} {
			s[p+n] = sh
		}
	}
	return s
}

// tempsUnder lists the temporaries of atomic writes under dir.
func tempsUnder(dir string) []string {
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.Contains(filepath.Base(p), ".tmp-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// killAtTemp runs rpiq args in a child and SIGKILLs it as soon as a temporary appears under
// watch (no handler runs: the temporary stays). It reports whether one was left.
func killAtTemp(t *testing.T, watch string, args ...string) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestInterruptChild$")
	cmd.Env = append(os.Environ(), "RPIQ_INTERRUPT_CHILD_ARGS="+strings.Join(args, "\x1f"), "RPIQ_THREADS=2")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	for {
		select {
		case <-done:
			return len(tempsUnder(watch)) > 0
		default:
		}
		if len(tempsUnder(watch)) > 0 {
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			return len(tempsUnder(watch)) > 0
		}
		time.Sleep(time.Millisecond)
	}
}

// Issue 14: SIGKILL (no handler runs) during quantize, export and convert leaves a hidden
// temporary; the next run for the same target removes it, says so in one line, and finishes.
func TestKilledRunTempsRemovedByNextRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	tmp := t.TempDir()
	ckpt := shareddata.Path(t, "llama2c/stories260K.bin")
	tok := shareddata.Path(t, "llama2c/tok512.bin")
	model := filepath.Join(tmp, "model")
	convert := func(out string) []string {
		return []string{"convert", "--from", "llama2c", ckpt, "--tokenizer", tok, "--out", out}
	}
	calib := shareddata.Path(t, "text/c4-sample.txt")
	quantize := func(out string) []string {
		return []string{"quantize", "--model", model, "--calib", calib, "--out", out, "--samples", "4", "--seqlen", "64",
			"--holdout", "1", "--bits", "4", "--group-size", "32", "--iters", "2", "--seed", "7", "--quiet"}
	}
	export := func(out string) []string {
		return []string{"export", "--gguf", "--quiet", "--dense", "f32", model, out}
	}
	for _, c := range []struct {
		name  string
		watch string // where the temporaries appear
		args  []string
		out   string // what must exist after the rerun
	}{
		{"convert", tmp, convert(model), model},
		{"quantize", filepath.Join(tmp, "q"), quantize(filepath.Join(tmp, "q")), filepath.Join(tmp, "q", "model.safetensors")},
		{"export", filepath.Join(tmp, "e"), export(filepath.Join(tmp, "e", "x.gguf")), filepath.Join(tmp, "e", "x.gguf")},
	} {
		os.MkdirAll(c.watch, 0o755)
		left := false
		for try := 0; try < 5 && !left; try++ {
			left = killAtTemp(t, c.watch, c.args...)
			if !left { // the job ended before a temporary was seen: start over from nothing
				os.RemoveAll(c.out)
			}
		}
		if !left {
			t.Fatalf("%s: never caught with a temporary in flight", c.name)
		}
		stale := tempsUnder(c.watch)
		r := runChild(t, -1, 0, c.args...)
		if r.code != 0 {
			t.Fatalf("%s after SIGKILL: exit %d: %s", c.name, r.code, r.stderr)
		}
		if n := strings.Count(r.stderr, "removed "); n != 1 || !strings.Contains(r.stderr, stale[0]) {
			t.Errorf("%s: stderr does not say in one line that %v was removed: %q", c.name, stale, r.stderr)
		}
		noTemps(t, c.watch)
		if _, err := os.Stat(c.out); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		t.Logf("%s: %s", c.name, strings.TrimSpace(r.stderr))
	}
}
