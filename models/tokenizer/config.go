package tokenizer

import (
	"encoding/json"
	"errors"
	"os"
)

// tokenizerConfig is the part of tokenizer_config.json that changes ids: which tokens are BOS
// and EOS and whether Encode adds them.
type tokenizerConfig struct {
	file     string
	AddBOS   *bool           `json:"add_bos_token"`
	AddEOS   *bool           `json:"add_eos_token"`
	BOSToken json.RawMessage `json:"bos_token"`
	EOSToken json.RawMessage `json:"eos_token"`
	UNKToken json.RawMessage `json:"unk_token"`
	PADToken json.RawMessage `json:"pad_token"`
	Class    string          `json:"tokenizer_class"`
	Added    map[string]struct {
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens_decoder"`
}

// readConfig reads path; a missing file gives (nil, nil).
func readConfig(path string) (*tokenizerConfig, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseConfig(path, data)
}

func parseConfig(path string, data []byte) (*tokenizerConfig, error) {
	var c tokenizerConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, formatErr(path, "not valid JSON: %v", err)
	}
	c.file = path
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"bos_token", c.BOSToken}, {"eos_token", c.EOSToken}, {"unk_token", c.UNKToken}, {"pad_token", c.PADToken}} {
		if _, err := tokenName(f.raw); err != nil {
			return nil, formatErr(path, "%s: %v", f.name, err)
		}
	}
	return &c, nil
}

// tokenName reads a special-token setting: null, "text" or {"content": "text", ...}.
func tokenName(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
		return "", errors.New(`want a string or {"content": string}`)
	}
	return *obj.Content, nil
}

func (c *tokenizerConfig) name(raw json.RawMessage) string {
	s, _ := tokenName(raw)
	return s
}

// idOf finds a token by its text among added tokens and the vocab.
func (m *bpeModel) idOf(text string) int {
	if text == "" {
		return -1
	}
	for id, p := range m.pieces {
		if p == text && (m.special[id] || m.isAdded(id)) {
			return id
		}
	}
	if id, ok := m.vocab[text]; ok {
		return int(id)
	}
	return -1
}

func (m *bpeModel) isAdded(id int) bool {
	v, ok := m.vocab[m.pieces[id]]
	return !ok || int(v) != id
}

// applyConfig settles BOS, EOS and what Encode(addSpecial) adds. The rule, in order:
// add_bos_token/add_eos_token in tokenizer_config.json when set; else the TemplateProcessing
// post-processor; else, when the config names a bos_token, BOS is added (Llama-3 files whose
// post-processor is only ByteLevel). BOS/EOS ids come from the config's names, falling back to
// the template's first and last tokens.
func (m *bpeModel) applyConfig(cfg *tokenizerConfig, hasTemplate bool) {
	if cfg == nil {
		cfg = &tokenizerConfig{}
	}
	m.bos = m.idOf(cfg.name(cfg.BOSToken))
	m.eos = m.idOf(cfg.name(cfg.EOSToken))
	if m.bos < 0 && len(m.prefix) > 0 {
		m.bos = m.prefix[0]
	}
	if m.eos < 0 && len(m.suffix) > 0 {
		m.eos = m.suffix[len(m.suffix)-1]
	}
	if cfg.AddBOS != nil || !hasTemplate {
		addBOS := m.bos >= 0 && (cfg.AddBOS == nil && !hasTemplate && cfg.name(cfg.BOSToken) != "" || cfg.AddBOS != nil && *cfg.AddBOS)
		m.prefix = nil
		if addBOS {
			m.prefix = []int{m.bos}
		}
	}
	if cfg.AddEOS != nil || !hasTemplate {
		m.suffix = nil
		if cfg.AddEOS != nil && *cfg.AddEOS && m.eos >= 0 {
			m.suffix = []int{m.eos}
		}
	}
	for _, id := range []int{m.bos, m.eos} {
		if id >= 0 {
			m.special[id] = true
		}
	}
}
