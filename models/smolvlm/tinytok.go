package smolvlm

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// WriteTinyTokenizer writes (for tests of code that opens a SmolVLM folder; WriteRandom writes
// no tokenizer) a byte-level BPE tokenizer.json without merges (ids 0-255 are the
// bytes in GPT-2's byte-to-unicode spelling) whose added tokens are SmolVLM's: <|im_start|>
// 256, <end_of_utterance> 257, <fake_token_around_image> 258, <global-img> 259, <image> 260
// (TinySizes' image_token_id), <row_r_col_c> 261-276 for r, c ≤ 4.
func WriteTinyTokenizer(dir string) error {
	vocab := map[string]int{}
	n := 0
	for b := 0; b < 256; b++ {
		vocab[string(byteRune(b))] = b
		n++
	}
	added := []map[string]any{}
	addTok := func(s string) {
		added = append(added, map[string]any{"id": n, "content": s, "special": true, "single_word": false,
			"lstrip": false, "rstrip": false, "normalized": false})
		vocab[s] = n
		n++
	}
	for _, s := range []string{"<|im_start|>", EndOfTurn, FakeToken, GlobalToken, ImageToken} {
		addTok(s)
	}
	for r := 1; r <= 4; r++ {
		for c := 1; c <= 4; c++ {
			addTok(fmt.Sprintf("<row_%d_col_%d>", r, c))
		}
	}
	tj := map[string]any{
		"version": "1.0", "added_tokens": added, "normalizer": nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": nil,
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model":          map[string]any{"type": "BPE", "vocab": vocab, "merges": []string{}, "dropout": nil, "unk_token": nil},
	}
	b, _ := json.Marshal(tj)
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), b, 0o644); err != nil {
		return err
	}
	tc := `{"bos_token": "<|im_start|>", "eos_token": "<end_of_utterance>", "add_bos_token": false}`
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(tc), 0o644); err != nil {
		return err
	}
	gc := `{"bos_token_id": 256, "eos_token_id": 257, "pad_token_id": 2}`
	return os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(gc), 0o644)
}

// byteRune is GPT-2's bytes_to_unicode.
func byteRune(b int) rune {
	if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
		return rune(b)
	}
	k := 0
	for x := 0; x < b; x++ {
		if !((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF)) {
			k++
		}
	}
	return rune(256 + k)
}
