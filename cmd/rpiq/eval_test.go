package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/models/llama2c"
	"github.com/rpiq/rpiq/models/tokenizer"
	"github.com/rpiq/rpiq/runtime/cpubackend"
	"github.com/rpiq/rpiq/runtime/metrics"
)

// stories260K converts the shared llama2.c checkpoint into a temporary HF directory.
func stories260K(t *testing.T) string {
	t.Helper()
	ckpt := shareddata.Path(t, "llama2c/stories260K.bin")
	tok := shareddata.Path(t, "llama2c/tok512.bin")
	dir := filepath.Join(t.TempDir(), "stories260K")
	if err := llama2c.Convert(ckpt, tok, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// eval's batched windows must give the same perplexity as scoring the text token by token
// through the KV cache (an independent path through the model), and a model compared with
// itself has zero KL divergence and full top-1 agreement.
func TestEvalMatchesIncrementalScoring(t *testing.T) {
	dir := stories260K(t)
	text := filepath.Join(t.TempDir(), "text.txt")
	src, err := os.ReadFile(shareddata.Path(t, "text/wikitext-2-raw-test.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(text, src[:6000], 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"eval", "--model", dir, "--text", text, "--ctx", "64", "--stride", "32", "--ref", dir, "--json", "--quiet"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res evalResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if res.KLD == nil || *res.KLD > 1e-9 || *res.Top1 != 1 {
		t.Fatalf("self-comparison: kld %v top1 %v", res.KLD, res.Top1)
	}

	// independent path: token-by-token decode with a cache, each window restarted like eval's
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := tok.Encode(string(src[:6000]), false)
	m, _, closeM, err := hfmodel.Open(dir, cpubackend.New(0))
	if err != nil {
		t.Fatal(err)
	}
	defer closeM()
	var s metrics.Scores
	for _, w := range metrics.Windows(len(ids), 64, 32) {
		c := m.NewCache(64)
		for i := w.Begin; i < w.End-1; i++ {
			logits, err := m.Forward(c, []int32{int32(ids[i])}, false)
			if err != nil {
				t.Fatal(err)
			}
			if i+1 >= w.ScoreFrom {
				s.Add(logits, nil, ids[i+1])
			}
		}
	}
	if s.Tokens != res.Tokens {
		t.Fatalf("scored %d tokens, eval %d", s.Tokens, res.Tokens)
	}
	if d := math.Abs(s.Perplexity()-res.PPL) / res.PPL; d > 1e-4 {
		t.Fatalf("eval ppl %v, incremental %v", res.PPL, s.Perplexity())
	}
	if res.PPL < 1 || res.PPL > 512 {
		t.Fatalf("implausible perplexity %v for a 512-token vocabulary", res.PPL)
	}
	t.Logf("stories260K on WikiText-2 (6000 bytes): ppl %.3f over %d tokens", res.PPL, res.Tokens)
}

func TestEvalBadInput(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"eval", "--model", t.TempDir(), "--text", "/nonexistent"}, &out, &errb); code != 2 {
		t.Fatalf("missing text file: exit %d, want 2 (%s)", code, errb.String())
	}
	if code := run([]string{"eval"}, &out, &errb); code != 2 {
		t.Fatalf("no flags: exit %d, want 2", code)
	}
}
