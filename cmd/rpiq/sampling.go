package main

import (
	"flag"
	"math"

	"github.com/rpiq/rpiq/runtime/sample"
)

// samplingFlags are the sampling options generate and vqa share. Their defaults come from the
// model's generation_config.json; only the flags given on the command line override them.
type samplingFlags struct {
	fl          *flag.FlagSet
	maxTokens   *int
	temperature *float64
	topP        *float64
	topK        *int
	seed        *uint64
	repetition  *float64
}

func addSamplingFlags(fl *flag.FlagSet, maxTokensHelp string) *samplingFlags {
	return &samplingFlags{
		fl:          fl,
		maxTokens:   fl.Int("max-tokens", 0, maxTokensHelp),
		temperature: fl.Float64("temperature", 1, "sampling temperature; 0 = greedy (default from generation_config)"),
		topP:        fl.Float64("top-p", 1, "nucleus sampling mass (default from generation_config)"),
		topK:        fl.Int("top-k", 50, "keep the k most likely tokens, 0 = off (default from generation_config)"),
		seed:        fl.Uint64("seed", 0, "random seed"),
		repetition:  fl.Float64("repetition-penalty", 1, "HF repetition penalty, 1 = off (default from generation_config)"),
	}
}

// apply overrides p with the flags that were given and checks the result; it returns the
// --max-tokens value when given (0 when not). cmd names the command in errors.
func (s *samplingFlags) apply(cmd string, p *sample.Params) (maxTokens int, err error) {
	set := map[string]bool{}
	s.fl.Visit(func(f *flag.Flag) { set[f.Name] = true })
	p.Seed = *s.seed
	if set["temperature"] {
		p.Temperature = *s.temperature
	}
	if set["top-p"] {
		p.TopP = *s.topP
	}
	if set["top-k"] {
		p.TopK = *s.topK
	}
	if set["repetition-penalty"] {
		p.RepetitionPenalty = *s.repetition
	}
	// Written as !(x in range) so that NaN, which fails every comparison, is refused too.
	switch {
	case !(p.Temperature >= 0) || math.IsInf(p.Temperature, 1):
		return 0, usagef("%s: --temperature must be a finite number >= 0, got %g", cmd, p.Temperature)
	case p.TopK < 0:
		return 0, usagef("%s: --top-k must be >= 0, got %d", cmd, p.TopK)
	case !(p.TopP > 0 && p.TopP <= 1):
		return 0, usagef("%s: --top-p must be in (0, 1], got %g", cmd, p.TopP)
	case !(p.RepetitionPenalty > 0) || math.IsInf(p.RepetitionPenalty, 1):
		return 0, usagef("%s: --repetition-penalty must be a finite number > 0, got %g", cmd, p.RepetitionPenalty)
	case set["max-tokens"] && *s.maxTokens <= 0:
		return 0, usagef("%s: --max-tokens must be positive, got %d", cmd, *s.maxTokens)
	}
	if set["max-tokens"] {
		return *s.maxTokens, nil
	}
	return 0, nil
}
