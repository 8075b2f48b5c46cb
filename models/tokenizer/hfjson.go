package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// Reading a Hugging Face tokenizer.json (the "fast tokenizer" file). Supported: model BPE (with
// byte_fallback, ignore_merges, merges as "a b" strings or ["a","b"] pairs); normalizers NFC,
// NFD, NFKC, NFKD, Lowercase, Prepend, Replace (string pattern), Sequence; pre-tokenizers Split
// (regex, Isolated/Removed), ByteLevel, Metaspace, Sequence; post-processor TemplateProcessing
// (ByteLevel is a no-op for ids); decoders ByteLevel, Metaspace, Replace, ByteFallback, Fuse,
// Strip, Sequence. Anything else is an error naming the component.

type hfAddedToken struct {
	ID         *int   `json:"id"`
	Content    string `json:"content"`
	Special    bool   `json:"special"`
	Lstrip     bool   `json:"lstrip"`
	Rstrip     bool   `json:"rstrip"`
	SingleWord bool   `json:"single_word"`
}

type hfModel struct {
	Type                    string          `json:"type"`
	Vocab                   map[string]int  `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	UnkToken                *string         `json:"unk_token"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	Dropout                 *float64        `json:"dropout"`
}

type hfFile struct {
	AddedTokens   []hfAddedToken  `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         *hfModel        `json:"model"`
}

// component is the common shape of normalizers, pre-tokenizers, processors and decoders.
type component struct {
	Type string `json:"type"`
	// Sequence members under their various names.
	Normalizers   []json.RawMessage `json:"normalizers"`
	Pretokenizers []json.RawMessage `json:"pretokenizers"`
	Processors    []json.RawMessage `json:"processors"`
	Decoders      []json.RawMessage `json:"decoders"`

	Pattern *struct {
		String *string `json:"String"`
		Regex  *string `json:"Regex"`
	} `json:"pattern"`
	Content        *string `json:"content"`
	Prepend        *string `json:"prepend"`
	Behavior       string  `json:"behavior"`
	Invert         bool    `json:"invert"`
	AddPrefixSpace *bool   `json:"add_prefix_space"`
	UseRegex       *bool   `json:"use_regex"`
	Replacement    *string `json:"replacement"`
	PrependScheme  *string `json:"prepend_scheme"`
	Split          *bool   `json:"split"`
	Start          int     `json:"start"`
	Stop           int     `json:"stop"`

	Single []map[string]struct {
		ID string `json:"id"`
	} `json:"single"`
	SpecialTokens map[string]struct {
		IDs []int `json:"ids"`
	} `json:"special_tokens"`
}

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}

func parseComponent(file, what string, raw json.RawMessage) (*component, error) {
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, formatErr(file, "%s: %v", what, err)
	}
	return &c, nil
}

// maxVocab bounds ids so a corrupt file cannot make us allocate gigabytes.
const maxVocab = 1 << 22

// loadHFJSON reads a tokenizer.json; cfg (may be nil) is the directory's tokenizer_config.json.
func loadHFJSON(path string, cfg *tokenizerConfig) (*bpeModel, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseHFJSON(path, data, cfg)
}

func parseHFJSON(file string, data []byte, cfg *tokenizerConfig) (*bpeModel, error) {
	var f hfFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, formatErr(file, "not valid tokenizer JSON: %v", err)
	}
	if f.Model == nil {
		return nil, formatErr(file, `no "model" object`)
	}
	md := f.Model
	if md.Type != "BPE" && !(md.Type == "" && md.Merges != nil) {
		return nil, formatErr(file, "model.type %q: only BPE is supported", md.Type)
	}
	if md.Vocab == nil {
		return nil, formatErr(file, "model.vocab missing")
	}
	if md.Dropout != nil && *md.Dropout != 0 {
		return nil, formatErr(file, "model.dropout %v: BPE dropout is not supported", *md.Dropout)
	}
	if p := md.ContinuingSubwordPrefix; p != nil && *p != "" {
		return nil, formatErr(file, "model.continuing_subword_prefix %q is not supported", *p)
	}
	if p := md.EndOfWordSuffix; p != nil && *p != "" {
		return nil, formatErr(file, "model.end_of_word_suffix %q is not supported", *p)
	}
	merges, err := parseMergesJSON(file, md.Merges)
	if err != nil {
		return nil, err
	}
	var added []addedEntry
	for i, a := range f.AddedTokens {
		if a.ID == nil {
			return nil, formatErr(file, "added_tokens[%d]: no id", i)
		}
		if a.SingleWord {
			return nil, formatErr(file, "added_tokens[%d] %q: single_word=true is not supported", i, a.Content)
		}
		added = append(added, addedEntry{id: *a.ID, content: a.Content, special: a.Special, lstrip: a.Lstrip, rstrip: a.Rstrip})
	}
	m, err := newBPEModel(file, md.Vocab, merges, added)
	if err != nil {
		return nil, err
	}
	m.byteFallback = md.ByteFallback
	m.ignoreMerges = md.IgnoreMerges
	m.fuseUnk = md.FuseUnk
	if md.UnkToken != nil {
		id, ok := md.Vocab[*md.UnkToken]
		if !ok {
			return nil, formatErr(file, "model.unk_token %q is not in the vocab", *md.UnkToken)
		}
		m.unk = int32(id)
	}

	if !isNull(f.Normalizer) {
		if err := m.parseNormalizer(f.Normalizer); err != nil {
			return nil, err
		}
	}
	if !isNull(f.PreTokenizer) {
		if err := m.parsePreTokenizer(f.PreTokenizer); err != nil {
			return nil, err
		}
	}
	if err := m.parseDecoder(f.Decoder); err != nil {
		return nil, err
	}
	if err := m.setupBytes(); err != nil {
		return nil, err
	}
	hasTemplate := false
	if !isNull(f.PostProcessor) {
		if hasTemplate, err = m.parsePostProcessor(f.PostProcessor); err != nil {
			return nil, err
		}
	}
	m.applyConfig(cfg, hasTemplate)
	if !m.byteLevel && len(m.steps) == 0 && !m.ignoreMerges && chunkable(m.pieces, "\u2581") {
		m.chunkMarker = "\u2581"
	}
	return m, nil
}

// parseMergesJSON accepts both encodings: ["a b", ...] and [["a","b"], ...].
func parseMergesJSON(file string, raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err == nil {
		out := make([][2]string, len(strs))
		for i, s := range strs {
			a, b, ok := strings.Cut(s, " ")
			if !ok || strings.Contains(b, " ") || a == "" || b == "" {
				return nil, formatErr(file, "model.merges[%d] %q: want two tokens separated by one space", i, s)
			}
			out[i] = [2]string{a, b}
		}
		return out, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, formatErr(file, `model.merges: want a list of "a b" strings or of ["a","b"] pairs`)
	}
	out := make([][2]string, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 {
			return nil, formatErr(file, "model.merges[%d]: want a pair, got %d strings", i, len(p))
		}
		out[i] = [2]string{p[0], p[1]}
	}
	return out, nil
}

type addedEntry struct {
	id             int
	content        string
	special        bool
	lstrip, rstrip bool
}

// newBPEModel builds the vocabulary, merge table and added tokens shared by tokenizer.json and
// vocab.json + merges.txt. Merge errors name the merge and the missing token.
func newBPEModel(file string, vocab map[string]int, merges [][2]string, added []addedEntry) (*bpeModel, error) {
	// Ids are dense in real files; a few holes are tolerated, a corrupt huge id is not.
	limit := min(maxVocab, len(vocab)+len(added)+1024)
	size := 0
	for p, id := range vocab {
		if id < 0 || id >= limit {
			return nil, formatErr(file, "vocab %q has id %d, want 0 <= id < %d (ids must be nearly dense)", p, id, limit)
		}
		size = max(size, id+1)
	}
	for _, a := range added {
		if a.id < 0 || a.id >= limit {
			return nil, formatErr(file, "added token %q has id %d, want 0 <= id < %d (ids must be nearly dense)", a.content, a.id, limit)
		}
		if a.content == "" {
			return nil, formatErr(file, "added token %d has empty content", a.id)
		}
		size = max(size, a.id+1)
	}
	m := &bpeModel{
		file:   file,
		vocab:  make(map[string]int32, len(vocab)),
		merges: make(map[uint64]uint64, len(merges)),
		unk:    -1,
		added:  newAddedMatcher(nil),
		cache:  map[string][]int32{},
	}
	m.pieces = make([]string, size)
	m.special = make([]bool, size)
	m.bos, m.eos = -1, -1
	seen := make([]bool, size)
	for p, id := range vocab {
		if seen[id] {
			return nil, formatErr(file, "vocab: id %d is used by %q and %q", id, p, m.pieces[id])
		}
		seen[id] = true
		m.pieces[id] = p
		m.vocab[p] = int32(id)
	}
	var toks []addedToken
	for _, a := range added {
		m.pieces[a.id] = a.content
		m.special[a.id] = a.special
		toks = append(toks, addedToken{content: a.content, id: a.id, lstrip: a.lstrip, rstrip: a.rstrip})
	}
	m.added = newAddedMatcher(toks)
	for i, mg := range merges {
		l, ok1 := m.vocab[mg[0]]
		r, ok2 := m.vocab[mg[1]]
		res, ok3 := m.vocab[mg[0]+mg[1]]
		switch {
		case !ok1:
			return nil, formatErr(file, "merge %d (%q %q): token %q is not in the vocab", i, mg[0], mg[1], mg[0])
		case !ok2:
			return nil, formatErr(file, "merge %d (%q %q): token %q is not in the vocab", i, mg[0], mg[1], mg[1])
		case !ok3:
			return nil, formatErr(file, "merge %d (%q %q): merged token %q is not in the vocab", i, mg[0], mg[1], mg[0]+mg[1])
		}
		// A repeated pair keeps its last rank, as HF's merge map does.
		m.merges[uint64(uint32(l))<<32|uint64(uint32(r))] = uint64(i)<<32 | uint64(uint32(res))
	}
	return m, nil
}

func (m *bpeModel) parseNormalizer(raw json.RawMessage) error {
	c, err := parseComponent(m.file, "normalizer", raw)
	if err != nil {
		return err
	}
	switch c.Type {
	case "Sequence":
		for _, sub := range c.Normalizers {
			if err := m.parseNormalizer(sub); err != nil {
				return err
			}
		}
	case "NFC":
		m.normalizers = append(m.normalizers, norm.NFC.String)
	case "NFD":
		m.normalizers = append(m.normalizers, norm.NFD.String)
	case "NFKC":
		m.normalizers = append(m.normalizers, norm.NFKC.String)
	case "NFKD":
		m.normalizers = append(m.normalizers, norm.NFKD.String)
	case "Lowercase":
		m.normalizers = append(m.normalizers, strings.ToLower)
	case "Prepend":
		if c.Prepend == nil {
			return formatErr(m.file, "normalizer Prepend: no prepend string")
		}
		pre := *c.Prepend
		m.normalizers = append(m.normalizers, func(s string) string {
			if s == "" {
				return s
			}
			return pre + s
		})
	case "Replace":
		if c.Pattern == nil || c.Pattern.String == nil || c.Content == nil {
			return formatErr(m.file, "normalizer Replace: only a String pattern with content is supported")
		}
		from, to := *c.Pattern.String, *c.Content
		if from == "" {
			return formatErr(m.file, "normalizer Replace: empty pattern")
		}
		m.normalizers = append(m.normalizers, func(s string) string { return strings.ReplaceAll(s, from, to) })
	default:
		return formatErr(m.file, "normalizer %q is not supported", c.Type)
	}
	return nil
}

func (m *bpeModel) parsePreTokenizer(raw json.RawMessage) error {
	c, err := parseComponent(m.file, "pre_tokenizer", raw)
	if err != nil {
		return err
	}
	switch c.Type {
	case "Sequence":
		for _, sub := range c.Pretokenizers {
			if err := m.parsePreTokenizer(sub); err != nil {
				return err
			}
		}
	case "Split":
		if c.Pattern == nil || (c.Pattern.Regex == nil && c.Pattern.String == nil) {
			return formatErr(m.file, "pre_tokenizer Split: no pattern")
		}
		if c.Invert {
			return formatErr(m.file, "pre_tokenizer Split: invert=true is not supported")
		}
		pattern := ""
		if c.Pattern.Regex != nil {
			pattern = *c.Pattern.Regex
		} else {
			pattern = regexpQuote(*c.Pattern.String)
		}
		sp, err := newSplitter(pattern)
		if err != nil {
			return formatErr(m.file, "pre_tokenizer Split: %v", err)
		}
		switch c.Behavior {
		case "Isolated":
			m.steps = append(m.steps, splitStep(sp))
		default:
			return formatErr(m.file, "pre_tokenizer Split: behavior %q is not supported (want Isolated)", c.Behavior)
		}
	case "ByteLevel":
		m.byteLevel = true
		useRegex := c.UseRegex == nil || *c.UseRegex
		m.steps = append(m.steps, byteLevelStep(c.AddPrefixSpace != nil && *c.AddPrefixSpace, useRegex))
	case "Metaspace":
		repl := "\u2581"
		if c.Replacement != nil && *c.Replacement != "" {
			repl = *c.Replacement
		}
		scheme := "always"
		if c.PrependScheme != nil {
			scheme = *c.PrependScheme
		} else if c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
			scheme = "never"
		}
		if scheme != "always" && scheme != "first" && scheme != "never" {
			return formatErr(m.file, "pre_tokenizer Metaspace: prepend_scheme %q, want always, first or never", scheme)
		}
		m.steps = append(m.steps, metaspaceStep(repl, scheme, c.Split == nil || *c.Split))
	default:
		return formatErr(m.file, "pre_tokenizer %q is not supported", c.Type)
	}
	return nil
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$#&-~`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// decoderSpec is what the decoder chain does to each token's text.
type decoderSpec struct {
	byteLevel    bool
	replaceFrom  string // Replace / Metaspace: this becomes replaceTo
	replaceTo    string
	byteFallback bool
	strip        int // leading spaces the whole output loses
}

func (m *bpeModel) parseDecoder(raw json.RawMessage) error {
	m.decoder = decoderSpec{}
	if isNull(raw) {
		return nil
	}
	return m.parseDecoderInto(raw, &m.decoder)
}

func (m *bpeModel) parseDecoderInto(raw json.RawMessage, d *decoderSpec) error {
	c, err := parseComponent(m.file, "decoder", raw)
	if err != nil {
		return err
	}
	switch c.Type {
	case "Sequence":
		for _, sub := range c.Decoders {
			if err := m.parseDecoderInto(sub, d); err != nil {
				return err
			}
		}
	case "ByteLevel":
		d.byteLevel = true
	case "Replace":
		if c.Pattern == nil || c.Pattern.String == nil || c.Content == nil || *c.Pattern.String == "" {
			return formatErr(m.file, "decoder Replace: only a String pattern with content is supported")
		}
		d.replaceFrom, d.replaceTo = *c.Pattern.String, *c.Content
	case "ByteFallback":
		d.byteFallback = true
	case "Fuse":
	case "Strip":
		if c.Content == nil || *c.Content != " " || c.Stop != 0 || c.Start < 0 {
			return formatErr(m.file, `decoder Strip: only content " " with stop 0 is supported`)
		}
		d.strip = c.Start
	case "Metaspace":
		repl := "\u2581"
		if c.Replacement != nil && *c.Replacement != "" {
			repl = *c.Replacement
		}
		d.replaceFrom, d.replaceTo = repl, " "
		scheme := "always"
		if c.PrependScheme != nil {
			scheme = *c.PrependScheme
		} else if c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
			scheme = "never"
		}
		if scheme != "never" {
			d.strip = 1
		}
	default:
		return formatErr(m.file, "decoder %q is not supported", c.Type)
	}
	return nil
}

// setupBytes fills the per-byte ids and the decoded bytes of every token.
func (m *bpeModel) setupBytes() error {
	for b := range 256 {
		m.byteIDs[b] = -1
		key := fmt.Sprintf("<0x%02X>", b)
		if m.byteLevel {
			key = string(byteToRune[b])
		}
		if id, ok := m.vocab[key]; ok {
			m.byteIDs[b] = id
		}
	}
	d := m.decoder
	m.tokBytes = make([][]byte, len(m.pieces))
	for id, p := range m.pieces {
		var b []byte
		switch {
		case d.byteLevel:
			var ok bool
			if b, ok = byteLevelBytes(p); !ok {
				b = []byte(p)
			}
		case d.byteFallback && isByteToken(p):
			b = []byte{hexByte(p)}
		default:
			if d.replaceFrom != "" {
				p = strings.ReplaceAll(p, d.replaceFrom, d.replaceTo)
			}
			b = []byte(p)
		}
		m.tokBytes[id] = b
	}
	if d.strip > 0 {
		m.rule, m.stripN = stripAtStart, d.strip
	}
	return nil
}

// isByteToken reports whether p is a byte-fallback token "<0xXX>".
func isByteToken(p string) bool {
	return len(p) == 6 && p[:3] == "<0x" && p[5] == '>' && isHex(p[3]) && isHex(p[4])
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f'
}

func hexByte(p string) byte {
	v := func(c byte) byte {
		switch {
		case c >= 'a':
			return c - 'a' + 10
		case c >= 'A':
			return c - 'A' + 10
		}
		return c - '0'
	}
	return v(p[3])<<4 | v(p[4])
}

// parsePostProcessor reads the ids TemplateProcessing puts around a single sequence.
func (m *bpeModel) parsePostProcessor(raw json.RawMessage) (bool, error) {
	c, err := parseComponent(m.file, "post_processor", raw)
	if err != nil {
		return false, err
	}
	switch c.Type {
	case "Sequence":
		found := false
		for _, sub := range c.Processors {
			ok, err := m.parsePostProcessor(sub)
			if err != nil {
				return false, err
			}
			found = found || ok
		}
		return found, nil
	case "ByteLevel":
		return false, nil
	case "TemplateProcessing":
		m.prefix, m.suffix = nil, nil
		seenSeq := false
		for i, item := range c.Single {
			if _, ok := item["Sequence"]; ok {
				seenSeq = true
				continue
			}
			st, ok := item["SpecialToken"]
			if !ok {
				return false, formatErr(m.file, "post_processor.single[%d]: want SpecialToken or Sequence", i)
			}
			spec, ok := c.SpecialTokens[st.ID]
			if !ok {
				return false, formatErr(m.file, "post_processor: special token %q is not in special_tokens", st.ID)
			}
			for _, id := range spec.IDs {
				if id < 0 || id >= len(m.pieces) {
					return false, formatErr(m.file, "post_processor: special token %q has id %d outside the vocab", st.ID, id)
				}
			}
			if seenSeq {
				m.suffix = append(m.suffix, spec.IDs...)
			} else {
				m.prefix = append(m.prefix, spec.IDs...)
			}
		}
		return true, nil
	default:
		return false, formatErr(m.file, "post_processor %q is not supported", c.Type)
	}
}
