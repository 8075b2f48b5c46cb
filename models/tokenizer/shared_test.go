package tokenizer

import (
	"encoding/json"
	"os"
	"sync"
	"testing"

	"github.com/rpiq/rpiq/internal/shareddata"
)

// Tokenizers from ../shared/data, loaded once per test binary (the JSON files are 2-11 MB).
var (
	sharedMu    sync.Mutex
	sharedToks  = map[string]Tokenizer{}
	sharedTexts = map[string]string{}
)

func sharedTokenizer(t testing.TB, rel string) Tokenizer {
	t.Helper()
	p := shareddata.Path(t, rel)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if tok, ok := sharedToks[rel]; ok {
		return tok
	}
	tok, err := Load(p)
	if err != nil {
		t.Fatalf("Load(%s): %v", rel, err)
	}
	sharedToks[rel] = tok
	return tok
}

func sharedText(t testing.TB, rel string) string {
	t.Helper()
	p := shareddata.Path(t, rel)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if s, ok := sharedTexts[rel]; ok {
		return s
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sharedTexts[rel] = string(b)
	return string(b)
}

func readJSON(t testing.TB, rel string, v any) {
	t.Helper()
	b, err := os.ReadFile(shareddata.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

func equalIDs(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
