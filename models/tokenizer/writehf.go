package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/rpiq/rpiq/internal/tempfiles"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// WriteLlama2cAsHF converts a llama2.c tokenizer.bin into a Hugging Face tokenizer directory:
// outDir/tokenizer.json (SentencePiece-style BPE with byte fallback, as LLaMA-2's own file is)
// and outDir/tokenizer_config.json (LlamaTokenizer, add_bos_token true). Each file is written
// atomically. Load(outDir) then encodes exactly as the tokenizer.bin does (tested on the cases
// and on WikiText-2 and War and Peace).
//
// The merges are derived from the scores: every split of every mergeable token into two
// vocabulary pieces, ordered by the token's score (best first) — run.c's greedy order. run.c
// breaks equal scores by position, which a rank list cannot express; the only equal-score
// tokens in LLaMA-2's vocabulary are the runs of 2-16 spaces, and ordering their merges as
// (longer left part + one space) before (space + space) reproduces run.c's left-to-right
// accumulation. Two differences remain by design of the formats: <unk>, <s> and </s> are HF
// added tokens, so those literal strings in text become one id (run.c spells them out), and a
// literal "▁" (U+2581) in text reads as a space.
func WriteLlama2cAsHF(binPath, outDir string) error {
	t, err := loadLlama2c(binPath)
	if err != nil {
		return err
	}
	tokJSON, err := t.hfJSON()
	if err != nil {
		return err
	}
	// Through tempfiles.Commit: after an interrupt has removed a temporary outDir, it must not
	// be made again.
	if err := tempfiles.Commit(func() error { return os.MkdirAll(outDir, 0o755) }); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(outDir, "tokenizer.json"), tokJSON); err != nil {
		return err
	}
	cfg := map[string]any{
		"tokenizer_class":              "LlamaTokenizer",
		"add_bos_token":                true,
		"add_eos_token":                false,
		"bos_token":                    "<s>",
		"eos_token":                    "</s>",
		"unk_token":                    "<unk>",
		"pad_token":                    nil,
		"legacy":                       true,
		"clean_up_tokenization_spaces": false,
		"model_max_length":             1000000000000000019884624838656.0,
	}
	cfgJSON, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(outDir, "tokenizer_config.json"), append(cfgJSON, '\n'))
}

// hfPieces are the SentencePiece spellings of the pieces: "▁" for space, <s>/</s> for the
// control tokens whose tokenizer.bin pieces are "\n<s>\n" and "\n</s>\n".
func (t *llama2cTokenizer) hfPieces() ([]string, error) {
	out := make([]string, len(t.pieces))
	seen := map[string]int{}
	for id, p := range t.pieces {
		switch {
		case id == 0 && p == "<unk>":
		case id == llama2cBOS && (p == "\n<s>\n" || p == "<s>"):
			p = "<s>"
		case id == llama2cEOS && (p == "\n</s>\n" || p == "</s>"):
			p = "</s>"
		default:
			if !utf8.ValidString(p) {
				return nil, formatErr(t.file, "token %d %q is not valid UTF-8 and cannot be written to tokenizer.json", id, p)
			}
			p = strings.ReplaceAll(p, " ", "\u2581")
		}
		if prev, dup := seen[p]; dup {
			return nil, formatErr(t.file, "tokens %d and %d are both %q as SentencePiece pieces", prev, id, p)
		}
		seen[p] = id
		out[id] = p
	}
	return out, nil
}

func (t *llama2cTokenizer) hfJSON() ([]byte, error) {
	pieces, err := t.hfPieces()
	if err != nil {
		return nil, err
	}
	type merge struct{ l, r, res int32 }
	var merges []merge
	for k, res := range t.merges {
		l, r := int32(k>>32), int32(uint32(k))
		if res <= llama2cEOS || l <= llama2cEOS || r <= llama2cEOS || isByteToken(t.pieces[res]) {
			continue // control and byte tokens take no part in SentencePiece merges
		}
		merges = append(merges, merge{l, r, res})
	}
	sort.Slice(merges, func(i, j int) bool {
		a, b := merges[i], merges[j]
		if sa, sb := t.scores[a.res], t.scores[b.res]; sa != sb {
			return sa > sb
		}
		if la, lb := len(t.pieces[a.r]), len(t.pieces[b.r]); la != lb {
			return la < lb
		}
		if la, lb := len(t.pieces[a.l]), len(t.pieces[b.l]); la != lb {
			return la > lb
		}
		if a.res != b.res {
			return a.res < b.res
		}
		return a.l < b.l
	})

	var buf bytes.Buffer
	str := func(s string) {
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(s) // strings always encode
		buf.Truncate(buf.Len() - 1)
	}
	buf.WriteString("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [")
	for i, id := range []int{0, llama2cBOS, llama2cEOS} {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, "\n    {\"id\": %d, \"content\": ", id)
		str(pieces[id])
		buf.WriteString(`, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}`)
	}
	buf.WriteString(`
  ],
  "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
  "pre_tokenizer": null,
  "post_processor": {"type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
    "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
    "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
  "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
  "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
    "vocab": {`)
	for id, p := range pieces {
		if id > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString("\n      ")
		str(p)
		fmt.Fprintf(&buf, ": %d", id)
	}
	buf.WriteString("\n    },\n    \"merges\": [")
	for i, mg := range merges {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString("\n      [")
		str(pieces[mg.l])
		buf.WriteString(", ")
		str(pieces[mg.r])
		buf.WriteByte(']')
	}
	buf.WriteString("\n    ]\n  }\n}\n")
	return buf.Bytes(), nil
}

// writeFileAtomic writes data to a temporary file in path's directory, syncs it and renames it
// over path, so readers see the old file or the new one, never a partial one.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, release, err := tempfiles.File(path) // removed if the job is interrupted; tempfiles.Sweep after a SIGKILL
	if err != nil {
		return err
	}
	defer release()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	if err = tempfiles.Commit(func() error { return os.Rename(f.Name(), path) }); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
