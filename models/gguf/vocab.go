package gguf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rpiq/rpiq/models/hf"
)

// vocab is the tokenizer.ggml.* metadata.
type vocab struct {
	model       string // "llama" (SentencePiece-style BPE with byte fallback) or "gpt2" (byte-level BPE)
	tokens      []string
	scores      []float32 // llama only
	types       []int32
	merges      []string // gpt2 only
	bos, eos    int
	unk, pad    int
	addBOS      *bool
	addEOS      *bool
	preTokenize string // gpt2 only
}

func (v *vocab) kvs() []KV {
	kv := []KV{{"tokenizer.ggml.model", v.model}}
	if v.model == "gpt2" {
		kv = append(kv, KV{"tokenizer.ggml.pre", v.preTokenize})
	}
	kv = append(kv, KV{"tokenizer.ggml.tokens", v.tokens})
	if v.scores != nil {
		kv = append(kv, KV{"tokenizer.ggml.scores", v.scores})
	}
	kv = append(kv, KV{"tokenizer.ggml.token_type", v.types})
	if v.merges != nil {
		kv = append(kv, KV{"tokenizer.ggml.merges", v.merges})
	}
	for _, id := range []struct {
		key string
		v   int
	}{{"bos_token_id", v.bos}, {"eos_token_id", v.eos}, {"unknown_token_id", v.unk}, {"padding_token_id", v.pad}} {
		if id.v >= 0 {
			kv = append(kv, KV{"tokenizer.ggml." + id.key, uint32(id.v)})
		}
	}
	if v.addBOS != nil {
		kv = append(kv, KV{"tokenizer.ggml.add_bos_token", *v.addBOS})
	}
	if v.addEOS != nil {
		kv = append(kv, KV{"tokenizer.ggml.add_eos_token", *v.addEOS})
	}
	return kv
}

type tokenizerJSON struct {
	Model struct {
		Type         string          `json:"type"`
		Vocab        json.RawMessage `json:"vocab"`
		Merges       json.RawMessage `json:"merges"`
		ByteFallback bool            `json:"byte_fallback"`
		UnkToken     *string         `json:"unk_token"`
	} `json:"model"`
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	Normalizer   json.RawMessage `json:"normalizer"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	Decoder      json.RawMessage `json:"decoder"`
}

// loadVocab reads modelDir/tokenizer.json (a BPE model: LLaMA-2-style with byte fallback, or
// byte-level like GPT-2 / Llama-3 / Qwen) into tokenizer.ggml metadata, the way llama.cpp's
// converter lays it out: one token string per id up to the embedding size (ids no tokenizer
// entry names become "[PADn]", type UNUSED).
//
// SentencePiece scores are not in tokenizer.json. llama.cpp's "llama" tokenizer merges the
// adjacent pair with the highest score, so a merged token scores −(rank of the first merge that
// makes it): that reproduces the merge order; pieces no merge makes score 0 (single characters,
// bytes, special tokens) or −(merges+1) (unreachable longer pieces, last).
func loadVocab(modelDir string, cfg *hf.Config) (*vocab, error) {
	file := filepath.Join(modelDir, "tokenizer.json")
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	v, err := parseVocab(file, data, cfg)
	if err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(modelDir, "tokenizer_config.json")); err == nil {
		var tc struct {
			AddBOS *bool `json:"add_bos_token"`
			AddEOS *bool `json:"add_eos_token"`
		}
		if err := json.Unmarshal(b, &tc); err != nil {
			return nil, errorf(filepath.Join(modelDir, "tokenizer_config.json"), "", "not valid JSON: %v", err)
		}
		v.addBOS, v.addEOS = tc.AddBOS, tc.AddEOS
	}
	return v, nil
}

// parseVocab reads the tokenizer.json bytes data (named file in errors).
func parseVocab(file string, data []byte, cfg *hf.Config) (*vocab, error) {
	var tj tokenizerJSON
	if err := json.Unmarshal(data, &tj); err != nil {
		return nil, errorf(file, "", "not valid JSON: %v", err)
	}
	if tj.Model.Type != "BPE" {
		return nil, errorf(file, "model.type", "%q, want \"BPE\" (GGUF export writes llama or gpt2 vocabularies)", tj.Model.Type)
	}
	var vocabMap map[string]int
	if err := json.Unmarshal(tj.Model.Vocab, &vocabMap); err != nil {
		return nil, errorf(file, "model.vocab", "want an object of piece: id (%v)", err)
	}
	merges, err := parseMerges(file, tj.Model.Merges)
	if err != nil {
		return nil, err
	}
	n := cfg.VocabSize
	v := &vocab{bos: -1, eos: -1, unk: -1, pad: -1, model: "gpt2", preTokenize: "default"}
	spm := tj.Model.ByteFallback || bytes.Contains(tj.PreTokenizer, []byte("Metaspace")) ||
		bytes.Contains(tj.Normalizer, []byte("\u2581")) || bytes.Contains(tj.Decoder, []byte("ByteFallback"))
	if spm {
		v.model = "llama"
	} else {
		v.preTokenize = preTokenizerName(tj.PreTokenizer)
	}
	v.tokens = make([]string, n)
	v.types = make([]int32, n)
	set := make([]bool, n)
	put := func(id int, s string, typ int32) error {
		if id < 0 || id >= n {
			return errorf(file, "model.vocab", "token %q has id %d, want 0..%d (the embedding has %d rows)", s, id, n-1, n)
		}
		v.tokens[id], v.types[id], set[id] = s, typ, true
		return nil
	}
	for s, id := range vocabMap {
		typ := TokenNormal
		if spm && len(s) == 6 && strings.HasPrefix(s, "<0x") && s[5] == '>' {
			typ = TokenByte
		}
		if err := put(id, s, typ); err != nil {
			return nil, err
		}
	}
	for _, a := range tj.AddedTokens {
		typ := TokenUserDefined
		if a.Special {
			typ = TokenControl
		}
		if err := put(a.ID, a.Content, typ); err != nil {
			return nil, err
		}
	}
	if tj.Model.UnkToken != nil {
		if id, ok := vocabMap[*tj.Model.UnkToken]; ok {
			v.unk = id
			v.types[id] = TokenUnknown
		}
	}
	for id := range v.tokens {
		if !set[id] {
			v.tokens[id], v.types[id] = fmt.Sprintf("[PAD%d]", id), TokenUnused
		}
	}
	if spm {
		v.scores = make([]float32, n)
		rank := map[string]int{}
		for i, m := range merges {
			s := m[0] + m[1]
			if _, ok := rank[s]; !ok {
				rank[s] = i
			}
		}
		for id, s := range v.tokens {
			if r, ok := rank[s]; ok {
				v.scores[id] = -float32(r)
			} else if v.types[id] == TokenNormal && len([]rune(s)) > 1 {
				v.scores[id] = -float32(len(merges) + 1)
			}
		}
	} else {
		v.merges = make([]string, len(merges))
		for i, m := range merges {
			v.merges[i] = m[0] + " " + m[1]
		}
	}
	if cfg.BOSTokenID >= 0 && cfg.BOSTokenID < n {
		v.bos = cfg.BOSTokenID
	}
	if len(cfg.EOSTokenIDs) > 0 && cfg.EOSTokenIDs[0] >= 0 && cfg.EOSTokenIDs[0] < n {
		v.eos = cfg.EOSTokenIDs[0]
	}
	if cfg.PadTokenID >= 0 && cfg.PadTokenID < n {
		v.pad = cfg.PadTokenID
	}
	return v, nil
}

// parseMerges reads model.merges in either form tokenizers writes: "a b" strings or ["a", "b"].
func parseMerges(file string, raw json.RawMessage) ([][2]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err == nil {
		out := make([][2]string, len(strs))
		for i, s := range strs {
			a, b, ok := strings.Cut(s, " ")
			if !ok {
				return nil, errorf(file, fmt.Sprintf("model.merges[%d]", i), "%q has no space between its two pieces", s)
			}
			out[i] = [2]string{a, b}
		}
		return out, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, errorf(file, "model.merges", "want a list of \"a b\" strings or [a, b] pairs")
	}
	out := make([][2]string, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 {
			return nil, errorf(file, fmt.Sprintf("model.merges[%d]", i), "%d pieces, want 2", len(p))
		}
		out[i] = [2]string{p[0], p[1]}
	}
	return out, nil
}

// Split patterns llama.cpp's converter recognises (by hashing a test tokenization; we match the
// regex itself): its tokenizer.ggml.pre names select the matching pre-tokenizer in llama.cpp.
const (
	llama3Split = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Split  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// preTokenizerName is tokenizer.ggml.pre for a byte-level BPE: "llama-bpe" (Llama-3's split),
// "qwen2" (Qwen2/3's single-digit split), "gpt-2" (a plain ByteLevel with its own regex), else
// "default".
func preTokenizerName(raw json.RawMessage) string {
	var pt struct {
		Type          string `json:"type"`
		UseRegex      *bool  `json:"use_regex"`
		Pretokenizers []struct {
			Type    string `json:"type"`
			Pattern struct {
				Regex string `json:"Regex"`
			} `json:"pattern"`
		} `json:"pretokenizers"`
	}
	if json.Unmarshal(raw, &pt) != nil {
		return "default"
	}
	if pt.Type == "ByteLevel" && (pt.UseRegex == nil || *pt.UseRegex) {
		return "gpt-2"
	}
	for _, p := range pt.Pretokenizers {
		switch {
		case p.Type != "Split":
		case p.Pattern.Regex == llama3Split:
			return "llama-bpe"
		case p.Pattern.Regex == qwen2Split:
			return "qwen2"
		}
	}
	return "default"
}
