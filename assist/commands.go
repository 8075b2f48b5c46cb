package assist

import (
	"sort"

	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/trigger"
)

// KeyMap is the default key layout with the configured keys bound to "read this".
func KeyMap(cfg config.Config) trigger.KeyMap {
	km := trigger.DefaultKeys()
	for _, k := range cfg.Trigger.Keys {
		km[trigger.NormalizeKey(k)] = trigger.ReadThis
	}
	return km
}

// Phrases turns the configuration's phrase table into spotter phrases, keeping the tuned
// thresholds of the default phrases.
func Phrases(cfg config.Config) []trigger.Phrase {
	tuned := map[string]trigger.Phrase{}
	for _, p := range trigger.DefaultPhrases() {
		tuned[p.Text] = p
	}
	var names []string
	for n := range cfg.Trigger.Phrases {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []trigger.Phrase
	for _, n := range names {
		cmd, err := trigger.ParseCommand(n)
		if err != nil {
			continue // config validation already names it
		}
		for _, text := range cfg.Trigger.Phrases[n] {
			p := trigger.Phrase{Text: text, Command: cmd}
			if t, ok := tuned[text]; ok && t.Command == cmd {
				p = t
			}
			out = append(out, p)
		}
	}
	return out
}
