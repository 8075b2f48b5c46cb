package assist

import (
	"testing"

	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/trigger"
)

func tuned(text string) float64 {
	for _, p := range trigger.DefaultPhrases() {
		if p.Text == text {
			return p.Exponent
		}
	}
	return 0
}

func TestKeyMapAndPhrasesFromConfig(t *testing.T) {
	cfg := config.Default()
	cfg.Trigger.Keys = []string{"f5"}
	cfg.Trigger.Phrases["read"] = []string{"read this", "read it"}
	km := KeyMap(cfg)
	if km[trigger.NormalizeKey("f5")] != trigger.ReadThis || km["s"] != trigger.Stop {
		t.Errorf("key map %v", km)
	}
	var readThis, readIt bool
	for _, p := range Phrases(cfg) {
		switch p.Text {
		case "read this":
			readThis = p.Command == trigger.ReadThis && p.Exponent == tuned("read this") // the tuned threshold is kept
		case "read it":
			readIt = p.Command == trigger.ReadThis
		}
	}
	if !readThis || !readIt {
		t.Errorf("phrases %+v", Phrases(cfg))
	}
}

// The spotter's tuned phrases (which its corpus tests and benchmark say) are exactly the phrases
// of the example configuration, so every phrase a caregiver starts from is measured.
func TestExamplePhrasesAreTuned(t *testing.T) {
	cfg, err := config.Load("../examples/assist.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]trigger.Command{}
	for _, p := range trigger.DefaultPhrases() {
		want[p.Text] = p.Command
	}
	got := Phrases(cfg)
	for _, p := range got {
		if c, ok := want[p.Text]; !ok || c != p.Command || p.Exponent == 0 {
			t.Errorf("example phrase %q (%s) has no tuned threshold in trigger.DefaultPhrases", p.Text, p.Command)
		}
	}
	if len(got) != len(want) {
		t.Errorf("the example configuration has %d phrases, trigger.DefaultPhrases %d", len(got), len(want))
	}
}
