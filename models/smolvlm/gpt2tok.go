package smolvlm

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// WriteGPT2Tokenizer writes into dir a tokenizer for a random-weight SmolVLM of sizes s that a
// real prompt can go through (the assistant's VLM engine, timing benchmarks): GPT-2's byte-level
// BPE (vocabJSON: its vocab.json / encoder.json, mergesTxt: its merges.txt / vocab.bpe) cut to
// the first s.Vocab-128 ids, which GPT-2's merge order makes a complete BPE of its own (id
// 256+k is merge k), and SmolVLM's added tokens in the 128 ids above, where the published
// SmolVLM-256M/500M tokenizers have them: <global-img> at the first, <row_r_col_c> for r, c ≤ 6
// after it, <fake_token_around_image> and <image> at s.ImageTokenID-1 and s.ImageTokenID,
// <|im_start|> after those, <end_of_utterance> at the last id. SmolVLM's own tokenizer (SmolLM2's)
// is a different BPE: text is split differently and the ids mean other words, which random
// weights do not notice. Also writes tokenizer_config.json and generation_config.json (bos
// <|im_start|>, eos <end_of_utterance>).
func WriteGPT2Tokenizer(dir string, s Sizes, vocabJSON, mergesTxt []byte) error {
	base := s.Vocab - 128
	if base <= 256 || s.ImageTokenID < base+38 || s.ImageTokenID >= s.Vocab-2 {
		return fmt.Errorf("smolvlm: vocabulary %d with image token %d leaves no room for GPT-2's ids below %d and the added tokens above", s.Vocab, s.ImageTokenID, base)
	}
	var full map[string]int
	if err := json.Unmarshal(vocabJSON, &full); err != nil {
		return fmt.Errorf("smolvlm: GPT-2 vocab.json: %w", err)
	}
	byID := make(map[int]string, len(full))
	for tok, id := range full {
		byID[id] = tok
	}
	vocab := map[string]int{}
	for id := 0; id < base; id++ {
		tok, ok := byID[id]
		if !ok {
			return fmt.Errorf("smolvlm: GPT-2 vocab.json has no id %d (want ids 0..%d)", id, base-1)
		}
		vocab[tok] = id
	}
	lines := strings.Split(strings.ReplaceAll(string(mergesTxt), "\r\n", "\n"), "\n")
	if len(lines) > 0 && strings.HasPrefix(lines[0], "#version") {
		lines = lines[1:]
	}
	var merges []string
	for k := 0; len(merges) < base-256; k++ {
		if k >= len(lines) || lines[k] == "" {
			return fmt.Errorf("smolvlm: GPT-2 merges.txt has %d merges, want %d", len(merges), base-256)
		}
		a, b, ok := strings.Cut(lines[k], " ")
		if !ok {
			return fmt.Errorf("smolvlm: GPT-2 merges.txt line %d: %q is not \"a b\"", k+2, lines[k])
		}
		if id, ok := vocab[a+b]; !ok || id != 256+k {
			return fmt.Errorf("smolvlm: GPT-2 merge %d (%q) makes id %d, want %d: not GPT-2's merge order", k, lines[k], id, 256+k)
		}
		merges = append(merges, lines[k])
	}
	var added []map[string]any
	addTok := func(content string, id int) {
		added = append(added, map[string]any{"id": id, "content": content, "special": true, "single_word": false,
			"lstrip": false, "rstrip": false, "normalized": false})
		vocab[content] = id
	}
	addTok(GlobalToken, base)
	id := base + 1
	for r := 1; r <= 6; r++ {
		for c := 1; c <= 6; c++ {
			addTok(fmt.Sprintf("<row_%d_col_%d>", r, c), id)
			id++
		}
	}
	addTok(FakeToken, s.ImageTokenID-1)
	addTok(ImageToken, s.ImageTokenID)
	bos := s.ImageTokenID + 1
	addTok("<|im_start|>", bos)
	eos := s.Vocab - 1
	addTok(EndOfTurn, eos)
	tj := map[string]any{
		"version": "1.0", "added_tokens": added, "normalizer": nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": nil,
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model":          map[string]any{"type": "BPE", "vocab": vocab, "merges": merges, "dropout": nil, "unk_token": nil},
	}
	b, err := json.Marshal(tj)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), b, 0o644); err != nil {
		return err
	}
	tc := `{"bos_token": "<|im_start|>", "eos_token": "<end_of_utterance>", "add_bos_token": false}`
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(tc), 0o644); err != nil {
		return err
	}
	gc := fmt.Sprintf(`{"bos_token_id": %d, "eos_token_id": %d, "pad_token_id": 2}`, bos, eos)
	return os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(gc), 0o644)
}
