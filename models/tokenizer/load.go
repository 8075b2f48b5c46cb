package tokenizer

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// Load returns the tokenizer of a model directory, choosing by the files it holds, in this
// order: tokenizer.json (with tokenizer_config.json when present); vocab.json + merges.txt
// (with tokenizer_config.json, and config.json's model_type for OPT's BOS); a llama2.c
// tokenizer.bin (or a single tok*.bin). path may also name one of those files directly.
func Load(path string) (Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return loadFile(path)
	}
	dir := path
	has := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	}
	cfg, err := readConfig(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil {
		return nil, err
	}
	switch {
	case has("tokenizer.json"):
		return loadHFJSON(filepath.Join(dir, "tokenizer.json"), cfg)
	case has("vocab.json") && has("merges.txt"):
		return loadVocabMerges(filepath.Join(dir, "vocab.json"), filepath.Join(dir, "merges.txt"), cfg, modelType(dir))
	case has("tokenizer.bin"):
		return loadLlama2c(filepath.Join(dir, "tokenizer.bin"))
	}
	bins, _ := filepath.Glob(filepath.Join(dir, "tok*.bin"))
	if len(bins) == 1 {
		return loadLlama2c(bins[0])
	}
	if has("tokenizer.model") {
		return nil, formatErr(dir, "only a SentencePiece tokenizer.model, which is not supported: provide tokenizer.json")
	}
	return nil, formatErr(dir, "no tokenizer files: want tokenizer.json, vocab.json + merges.txt, or a llama2.c tokenizer.bin")
}

func loadFile(path string) (Tokenizer, error) {
	dir := filepath.Dir(path)
	switch base := filepath.Base(path); {
	case strings.HasSuffix(base, ".json") && base != "vocab.json":
		cfg, err := readConfig(filepath.Join(dir, "tokenizer_config.json"))
		if err != nil {
			return nil, err
		}
		return loadHFJSON(path, cfg)
	case strings.HasSuffix(base, ".bin"):
		return loadLlama2c(path)
	default:
		return Load(dir)
	}
}

// modelType reads config.json's model_type, or "" when there is none.
func modelType(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return ""
	}
	var c struct {
		ModelType string `json:"model_type"`
	}
	if json.Unmarshal(data, &c) != nil {
		return ""
	}
	return c.ModelType
}

// IsFormatError reports whether err is a tokenizer file problem (bad input, not a failure).
func IsFormatError(err error) bool {
	var fe *FormatError
	return errors.As(err, &fe)
}
