package tokenizer

import (
	"encoding/binary"
	"math"
	"os"
	"sync"
)

// llama2.c's tokenizer.bin: int32 max_token_length, then for each token float32 score,
// int32 length and that many bytes (little endian). Pieces use a plain space where
// SentencePiece writes "▁"; ids 0, 1, 2 are <unk>, BOS and EOS; ids 3..258 are the bytes.
//
// Encoding follows run.c's encode: a dummy-prefix " " token when the text is not empty, one
// token per UTF-8 character (or the character's bytes as ids byte+3 when it has none), then
// repeatedly the adjacent pair whose concatenation is in the vocabulary with the highest score
// (leftmost on ties; only scores above -1e10, run.c's starting best) is merged. run.c rescans
// every pair per merge (quadratic); here a heap gives the same order in O(n log n).

const (
	llama2cBOS = 1
	llama2cEOS = 2
	// run.c starts its best score at -1e10 and merges only strictly better pairs.
	llama2cMinScore = -1e10
)

type llama2cTokenizer struct {
	vocabText
	file    string
	scores  []float32
	lookup  map[string]int32 // piece → lowest id with that piece
	merges  map[uint64]int32 // left<<32|right → merged id
	maxLen  int
	chunked bool // see chunks.go

	mu    sync.Mutex
	cache map[string][]int32
}

func loadLlama2c(path string) (*llama2cTokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseLlama2c(path, data, 0)
}

// parseLlama2c parses a tokenizer.bin. vocabSize > 0 demands exactly that many tokens (the
// checkpoint's vocab_size); 0 reads records to the end of data.
func parseLlama2c(file string, data []byte, vocabSize int) (*llama2cTokenizer, error) {
	if len(data) < 4 {
		return nil, formatErr(file, "truncated: %d bytes, want at least the 4-byte max_token_length", len(data))
	}
	maxLen := int(int32(binary.LittleEndian.Uint32(data)))
	// Real files have 7 (tok512) to a few hundred; the bound keeps merge building (quadratic in
	// a piece's length) cheap on corrupt input.
	if maxLen <= 0 || maxLen > 4096 {
		return nil, formatErr(file, "max_token_length %d, want 1..4096", maxLen)
	}
	t := &llama2cTokenizer{file: file, maxLen: maxLen, lookup: map[string]int32{}}
	off := 4
	for n := 0; vocabSize <= 0 && off < len(data) || n < vocabSize; n++ {
		if n >= maxVocab {
			return nil, formatErr(file, "more than %d tokens", maxVocab)
		}
		if len(data)-off < 8 {
			return nil, formatErr(file, "truncated: token %d needs an 8-byte score and length at offset %d, %d bytes left", n, off, len(data)-off)
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(data[off:]))
		l := int(int32(binary.LittleEndian.Uint32(data[off+4:])))
		off += 8
		if l < 0 || l > maxLen {
			return nil, formatErr(file, "token %d has length %d, want 0..max_token_length %d", n, l, maxLen)
		}
		if len(data)-off < l {
			return nil, formatErr(file, "truncated: token %d needs %d bytes at offset %d, %d left", n, l, off, len(data)-off)
		}
		p := string(data[off : off+l])
		off += l
		t.scores = append(t.scores, score)
		t.pieces = append(t.pieces, p)
		if _, dup := t.lookup[p]; !dup {
			t.lookup[p] = int32(n)
		}
	}
	if len(t.pieces) < 259 {
		return nil, formatErr(file, "%d tokens, want at least 259 (<unk>, BOS, EOS and 256 byte tokens)", len(t.pieces))
	}
	t.chunked = chunkable(t.pieces, " ")
	t.cache = map[string][]int32{}
	t.buildMerges()
	n := len(t.pieces)
	t.bos, t.eos = llama2cBOS, llama2cEOS
	t.special = make([]bool, n)
	t.special[0], t.special[1], t.special[2] = true, true, true
	t.tokBytes = make([][]byte, n)
	for id, p := range t.pieces {
		switch {
		case id == llama2cBOS || id == llama2cEOS:
			t.tokBytes[id] = nil // run.c never prints them; their pieces are "\n<s>\n", "\n</s>\n"
		default:
			if b, ok := scanfByte(p); ok {
				t.tokBytes[id] = []byte{b}
			} else {
				t.tokBytes[id] = []byte(p)
			}
		}
	}
	t.rule = stripAfterBOS
	return t, nil
}

// scanfByte mirrors run.c's sscanf(piece, "<0x%02hhX>", &b) == 1: "<0x" then one or two hex
// digits.
func scanfByte(p string) (byte, bool) {
	if len(p) < 4 || p[:3] != "<0x" || !isHex(p[3]) {
		return 0, false
	}
	v := func(c byte) byte {
		switch {
		case c >= 'a':
			return c - 'a' + 10
		case c >= 'A':
			return c - 'A' + 10
		}
		return c - '0'
	}
	b := v(p[3])
	if len(p) > 4 && isHex(p[4]) {
		b = b<<4 | v(p[4])
	}
	return b, true
}

// buildMerges lists every pair of tokens whose concatenation is a token that run.c would merge
// (score above -1e10): for each such token, each split into two vocabulary pieces.
func (t *llama2cTokenizer) buildMerges() {
	idsOf := map[string][]int32{}
	for id, p := range t.pieces {
		idsOf[p] = append(idsOf[p], int32(id))
	}
	t.merges = map[uint64]int32{}
	for p, res := range t.lookup {
		s := t.scores[res]
		if !(float64(s) > llama2cMinScore) { // also drops NaN
			continue
		}
		for k := 1; k < len(p); k++ {
			ls, rs := idsOf[p[:k]], idsOf[p[k:]]
			for _, l := range ls {
				for _, r := range rs {
					t.merges[uint64(uint32(l))<<32|uint64(uint32(r))] = res
				}
			}
		}
	}
}

func (t *llama2cTokenizer) Encode(text string, addSpecial bool) ([]int, error) {
	out := make([]int, 0, len(text)/3+2)
	if addSpecial {
		out = append(out, llama2cBOS)
	}
	if text == "" {
		return out, nil
	}
	// The dummy prefix: run.c's separate " " token equals looking up " " as text.
	text = " " + text
	emit := func(c string) {
		for _, id := range t.word(c) {
			out = append(out, int(id))
		}
	}
	if t.chunked {
		eachChunk(text, " ", emit)
	} else {
		emit(text)
	}
	return out, nil
}

// word encodes one chunk, through the cache when it is short.
func (t *llama2cTokenizer) word(c string) []int32 {
	if len(c) > 64 {
		return t.encodeChunk(c)
	}
	t.mu.Lock()
	ids, ok := t.cache[c]
	t.mu.Unlock()
	if ok {
		return ids
	}
	ids = t.encodeChunk(c)
	t.mu.Lock()
	if len(t.cache) >= maxCached {
		clear(t.cache)
	}
	t.cache[c] = ids
	t.mu.Unlock()
	return ids
}

func (t *llama2cTokenizer) encodeChunk(text string) []int32 {
	ids := make([]int32, 0, len(text))
	// run.c's UTF-8 loop: a byte that is not a continuation byte starts a character; up to
	// four bytes are gathered while continuation bytes follow.
	for i := 0; i < len(text); {
		j := i + 1
		for j < len(text) && text[j]&0xC0 == 0x80 && j-i < 4 {
			j++
		}
		if id, ok := t.lookup[text[i:j]]; ok {
			ids = append(ids, id)
		} else {
			for k := i; k < j; k++ {
				ids = append(ids, int32(text[k])+3)
			}
		}
		i = j
	}
	return bpeMerge(ids, t.pair)
}

func (t *llama2cTokenizer) pair(l, r int32) (float64, int32, bool) {
	res, ok := t.merges[uint64(uint32(l))<<32|uint64(uint32(r))]
	if !ok {
		return 0, 0, false
	}
	return -float64(t.scores[res]), res, true
}
