package tokenizer

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// bpeModel is a Hugging Face-style BPE tokenizer: added tokens, normalizers, pre-tokenizer
// steps, then rank-ordered BPE on each piece. It serves tokenizer.json (byte-level and
// SentencePiece-style) and vocab.json + merges.txt.
type bpeModel struct {
	vocabText
	file string

	vocab  map[string]int32
	merges map[uint64]uint64 // left<<32|right → rank<<32|merged

	byteLevel    bool       // pieces are bytes mapped through bytes_to_unicode
	byteIDs      [256]int32 // byte-level: id of each byte's symbol; byte fallback: id of <0xXX>
	byteFallback bool
	ignoreMerges bool
	unk          int32 // -1: none
	fuseUnk      bool

	added       *addedMatcher
	normalizers []func(string) string
	steps       []preStep
	decoder     decoderSpec
	chunkMarker string // see chunks.go; "" when the text cannot be cut
	prefix      []int  // added by Encode(addSpecial=true)
	suffix      []int

	mu    sync.Mutex
	cache map[string][]int32
}

// preStep is one pre-tokenizer: it cuts a piece further, calling emit for each part. atStart
// is true for a piece that begins the whole text (Metaspace's prepend_scheme "first").
type preStep func(p string, atStart bool, emit func(string, bool))

const maxCached = 1 << 18

func (m *bpeModel) Encode(text string, addSpecial bool) ([]int, error) {
	var ids []int
	if addSpecial {
		ids = append(ids, m.prefix...)
	}
	for k, seg := range m.added.split(text) {
		if seg.id >= 0 {
			ids = append(ids, seg.id)
			continue
		}
		ids = m.encodeFragment(ids, seg.text, k == 0)
	}
	if addSpecial {
		ids = append(ids, m.suffix...)
	}
	return ids, nil
}

func (m *bpeModel) encodeFragment(ids []int, s string, first bool) []int {
	for _, f := range m.normalizers {
		s = f(s)
	}
	if s == "" {
		return ids
	}
	bpe := func(p string) {
		for _, id := range m.word(p) {
			ids = append(ids, int(id))
		}
	}
	switch {
	case m.chunkMarker != "":
		eachChunk(s, m.chunkMarker, bpe)
	case len(m.steps) == 0:
		bpe(s)
	default:
		// Pieces flow through the steps one at a time; no list of a whole book's pieces.
		var run func(k int, p string, atStart bool)
		run = func(k int, p string, atStart bool) {
			if k == len(m.steps) {
				bpe(p)
				return
			}
			m.steps[k](p, atStart, func(q string, qStart bool) { run(k+1, q, qStart) })
		}
		run(0, s, first)
	}
	return ids
}

// word returns the BPE ids of one pre-tokenized piece (raw bytes for byte-level models).
func (m *bpeModel) word(p string) []int32 {
	if p == "" {
		return nil
	}
	cacheable := len(p) <= 64
	if cacheable {
		m.mu.Lock()
		ids, ok := m.cache[p]
		m.mu.Unlock()
		if ok {
			return ids
		}
	}
	ids := m.bpe(p)
	if cacheable {
		m.mu.Lock()
		if len(m.cache) >= maxCached {
			clear(m.cache)
		}
		m.cache[p] = ids
		m.mu.Unlock()
	}
	return ids
}

func (m *bpeModel) bpe(p string) []int32 {
	var ids []int32
	if m.byteLevel {
		if m.ignoreMerges {
			if id, ok := m.vocab[byteLevelString(p)]; ok {
				return []int32{id}
			}
		}
		ids = make([]int32, 0, len(p))
		for i := 0; i < len(p); i++ {
			if id := m.byteIDs[p[i]]; id >= 0 {
				ids = append(ids, id)
			} else if m.unk >= 0 {
				ids = append(ids, m.unk)
			} // else: HF drops a byte the vocab has no symbol for
		}
	} else {
		if m.ignoreMerges {
			if id, ok := m.vocab[p]; ok {
				return []int32{id}
			}
		}
		ids = make([]int32, 0, len(p))
		for i := 0; i < len(p); {
			_, w := utf8.DecodeRuneInString(p[i:])
			if id, ok := m.vocab[p[i:i+w]]; ok {
				ids = append(ids, id)
			} else if m.byteFallback && m.hasBytes(p[i:i+w]) {
				for k := i; k < i+w; k++ {
					ids = append(ids, m.byteIDs[p[k]])
				}
			} else if m.unk >= 0 {
				if !(m.fuseUnk && len(ids) > 0 && ids[len(ids)-1] == m.unk) {
					ids = append(ids, m.unk)
				}
			} // else: HF drops a character it has no token for
			i += w
		}
	}
	return bpeMerge(ids, m.pair)
}

func (m *bpeModel) hasBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if m.byteIDs[s[i]] < 0 {
			return false
		}
	}
	return true
}

func (m *bpeModel) pair(l, r int32) (float64, int32, bool) {
	v, ok := m.merges[uint64(uint32(l))<<32|uint64(uint32(r))]
	if !ok {
		return 0, 0, false
	}
	return float64(v >> 32), int32(uint32(v)), true
}

// Pre-tokenizer steps.

func splitStep(sp splitter) preStep {
	return func(p string, atStart bool, emit func(string, bool)) {
		sp.each(p, func(q string) {
			emit(q, atStart)
			atStart = false
		})
	}
}

// byteLevelStep is HF's ByteLevel pre-tokenizer: an optional space before every piece that
// does not start with one, then (use_regex) the GPT-2 split. The byte-to-unicode mapping itself
// happens in bpe, on raw bytes.
func byteLevelStep(addPrefixSpace, useRegex bool) preStep {
	return func(p string, atStart bool, emit func(string, bool)) {
		if addPrefixSpace && !strings.HasPrefix(p, " ") {
			p = " " + p
		}
		if !useRegex {
			emit(p, atStart)
			return
		}
		gpt2Scanner{}.each(p, func(q string) {
			emit(q, atStart)
			atStart = false
		})
	}
}

// metaspaceStep is HF's Metaspace pre-tokenizer: spaces become the replacement character, one
// is prepended (always, or only to the piece that begins the text), and with split each piece
// starts at a replacement character.
func metaspaceStep(repl string, prepend string, split bool) preStep {
	return func(p string, atStart bool, emit func(string, bool)) {
		p = strings.ReplaceAll(p, " ", repl)
		if (prepend == "always" || (prepend == "first" && atStart)) && !strings.HasPrefix(p, repl) {
			p = repl + p
		}
		if !split || p == "" {
			emit(p, atStart)
			return
		}
		start := 0
		for {
			k := strings.Index(p[start+1:], repl)
			if k < 0 {
				emit(p[start:], atStart && start == 0)
				return
			}
			k += start + 1
			emit(p[start:k], atStart && start == 0)
			start = k
		}
	}
}
