package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"strings"
)

// The GPT-2 / OPT "slow tokenizer" files: vocab.json (piece → id) and merges.txt (a "#version"
// line, then one "a b" merge per line, best first). Both are byte-level BPE with the GPT-2
// pre-tokenizer regex. OPT uses the same files with fairseq-remapped ids and starts every
// sequence with </s> (id 2) as BOS.

// commonSpecials are the special tokens these vocabularies use; the ones present are split out
// of text before BPE, as the HF slow tokenizers do with their bos/eos/unk/pad tokens.
var commonSpecials = []string{"<|endoftext|>", "<s>", "</s>", "<pad>", "<unk>"}

// loadVocabMerges reads vocab.json and merges.txt. cfg may be nil; modelType is config.json's
// model_type ("" when unknown) and decides OPT's BOS when the config does not.
func loadVocabMerges(vocabPath, mergesPath string, cfg *tokenizerConfig, modelType string) (*bpeModel, error) {
	vdata, err := os.ReadFile(vocabPath)
	if err != nil {
		return nil, err
	}
	mdata, err := os.ReadFile(mergesPath)
	if err != nil {
		return nil, err
	}
	return parseVocabMerges(vocabPath, vdata, mergesPath, mdata, cfg, modelType, false)
}

func parseVocabMerges(vocabPath string, vdata []byte, mergesPath string, mdata []byte, cfg *tokenizerConfig, modelType string, addPrefixSpace bool) (*bpeModel, error) {
	var vocab map[string]int
	if err := json.Unmarshal(vdata, &vocab); err != nil {
		return nil, formatErr(vocabPath, "want a JSON object of token → id: %v", err)
	}
	merges, err := parseMergesTxt(mergesPath, mdata)
	if err != nil {
		return nil, err
	}
	var added []addedEntry
	names := map[string]bool{}
	for _, s := range commonSpecials {
		names[s] = true
	}
	if cfg != nil {
		for _, raw := range []json.RawMessage{cfg.BOSToken, cfg.EOSToken, cfg.UNKToken, cfg.PADToken} {
			if n := cfg.name(raw); n != "" {
				names[n] = true
			}
		}
		for _, a := range cfg.Added {
			if _, ok := vocab[a.Content]; ok && a.Special {
				names[a.Content] = true
			}
		}
	}
	for n := range names {
		if id, ok := vocab[n]; ok {
			added = append(added, addedEntry{id: id, content: n, special: true})
		}
	}
	m, err := newBPEModel(vocabPath, vocab, merges, added)
	if err != nil {
		return nil, err
	}
	m.byteLevel = true
	m.steps = []preStep{byteLevelStep(addPrefixSpace, true)}
	m.decoder = decoderSpec{byteLevel: true}
	if err := m.setupBytes(); err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = &tokenizerConfig{}
		for _, n := range []string{"<|endoftext|>", "</s>"} {
			if _, ok := vocab[n]; ok {
				cfg.EOSToken = json.RawMessage(`"` + n + `"`)
				break
			}
		}
		if modelType == "opt" {
			t := true
			cfg.AddBOS, cfg.BOSToken = &t, json.RawMessage(`"</s>"`)
		}
	} else if modelType == "opt" && cfg.AddBOS == nil {
		t := true
		cfg.AddBOS = &t
		if isNull(cfg.BOSToken) {
			cfg.BOSToken = json.RawMessage(`"</s>"`)
		}
	}
	// Without a template the config's bos_token alone does not add BOS here: GPT-2's
	// bos_token is <|endoftext|>, which GPT-2 never prepends.
	if cfg.AddBOS == nil {
		f := false
		c := *cfg
		c.AddBOS = &f
		cfg = &c
	}
	m.applyConfig(cfg, false)
	return m, nil
}

func parseMergesTxt(file string, data []byte) ([][2]string, error) {
	var out [][2]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSuffix(sc.Text(), "\r")
		if s == "" || (line == 1 && strings.HasPrefix(s, "#version")) {
			continue
		}
		a, b, ok := strings.Cut(s, " ")
		if !ok || a == "" || b == "" || strings.Contains(b, " ") {
			return nil, formatErr(file, "line %d %q: want two tokens separated by one space", line, s)
		}
		out = append(out, [2]string{a, b})
	}
	if err := sc.Err(); err != nil {
		return nil, formatErr(file, "%v", err)
	}
	return out, nil
}
