package hf

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// GenerationConfig is generation_config.json with transformers' GenerationConfig defaults for
// absent fields. When DoSample is false, decoding is greedy and the sampling fields are unused.
type GenerationConfig struct {
	DoSample          bool
	Temperature       float64 // default 1
	TopP              float64 // default 1
	TopK              int     // default 50; 0 disables
	RepetitionPenalty float64 // default 1
	MaxNewTokens      int     // 0 when unset
	MaxLength         int     // default 20 (prompt + new tokens), used when MaxNewTokens is 0
	BOSTokenID        int     // -1 when none
	EOSTokenIDs       []int
	PadTokenID        int // -1 when none
}

// DefaultGenerationConfig returns transformers' defaults, with no special token ids.
func DefaultGenerationConfig() *GenerationConfig {
	return &GenerationConfig{Temperature: 1, TopP: 1, TopK: 50, RepetitionPenalty: 1, MaxLength: 20, BOSTokenID: -1, PadTokenID: -1}
}

// LoadGenerationConfig reads dir/generation_config.json. An absent file gives the defaults, not
// an error. Token ids absent from it are taken from dir/config.json when that file exists and
// parses, as transformers' GenerationConfig.from_model_config does.
func LoadGenerationConfig(dir string) (*GenerationConfig, error) {
	path := filepath.Join(dir, GenerationConfigFile)
	data, err := os.ReadFile(path)
	var g *GenerationConfig
	switch {
	case err == nil:
		if g, err = ParseGenerationConfig(path, data); err != nil {
			return nil, err
		}
	case errors.Is(err, fs.ErrNotExist):
		g = DefaultGenerationConfig()
		data = nil
	default:
		return nil, err
	}
	var m map[string]any
	if data != nil {
		m, _ = decodeObject(path, data)
	}
	if c, err := LoadConfig(dir); err == nil {
		if _, ok := m["bos_token_id"]; !ok {
			g.BOSTokenID = c.BOSTokenID
		}
		if _, ok := m["eos_token_id"]; !ok {
			g.EOSTokenIDs = c.EOSTokenIDs
		}
		if _, ok := m["pad_token_id"]; !ok {
			g.PadTokenID = c.PadTokenID
		}
	}
	return g, nil
}

// ParseGenerationConfig parses generation_config.json content; file names it in errors.
func ParseGenerationConfig(file string, data []byte) (*GenerationConfig, error) {
	m, err := decodeObject(file, data)
	if err != nil {
		return nil, err
	}
	f := &Fields{file: file, m: m}
	d := DefaultGenerationConfig()
	g := &GenerationConfig{
		DoSample:          f.Bool("do_sample", d.DoSample),
		Temperature:       f.Float("temperature", d.Temperature),
		TopP:              f.Float("top_p", d.TopP),
		TopK:              f.Int("top_k", false, d.TopK),
		RepetitionPenalty: f.Float("repetition_penalty", d.RepetitionPenalty),
		MaxNewTokens:      f.Int("max_new_tokens", false, 0),
		MaxLength:         f.Int("max_length", false, d.MaxLength),
		BOSTokenID:        f.TokenID("bos_token_id", -1),
		EOSTokenIDs:       f.TokenIDs("eos_token_id", nil),
		PadTokenID:        f.TokenID("pad_token_id", -1),
	}
	switch {
	case f.err != nil:
		return nil, f.err
	case g.Temperature < 0:
		return nil, errf(file, "temperature", "must not be negative, got %g", g.Temperature)
	case g.TopP <= 0 || g.TopP > 1:
		return nil, errf(file, "top_p", "want 0 < top_p <= 1, got %g", g.TopP)
	case g.TopK < 0:
		return nil, errf(file, "top_k", "must not be negative, got %d", g.TopK)
	case g.RepetitionPenalty <= 0:
		return nil, errf(file, "repetition_penalty", "must be positive, got %g", g.RepetitionPenalty)
	case g.MaxNewTokens < 0:
		return nil, errf(file, "max_new_tokens", "must not be negative, got %d", g.MaxNewTokens)
	case g.MaxLength < 0:
		return nil, errf(file, "max_length", "must not be negative, got %d", g.MaxLength)
	}
	return g, nil
}
