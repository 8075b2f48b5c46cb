package smolvlm

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rpiq/rpiq/runtime/cpubackend"
)

// Issue 14: config.json sizes are checked against the checkpoint before New allocates by them
// (absurd sizes are already refused by the config reader; these are plausible but wrong).
func TestLoadChecksSizesFirst(t *testing.T) {
	cases := []struct {
		section, key string
		value        any
		want         string
	}{
		{"vision_config", "num_hidden_layers", TinySizes.VLayers + 3, "vision_config.num_hidden_layers"},
		{"vision_config", "intermediate_size", TinySizes.VIntermediate * 2, "fc1.weight"},
		{"text_config", "num_hidden_layers", TinySizes.Layers + 3, "num_hidden_layers"},
		{"text_config", "vocab_size", TinySizes.Vocab + 8, "vocab_size"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		if _, err := WriteRandom(dir, TinySizes, 1); err != nil {
			t.Fatal(err)
		}
		var cfg map[string]any
		b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
		json.Unmarshal(b, &cfg)
		cfg[c.section].(map[string]any)[c.key] = c.value
		b, _ = json.Marshal(cfg)
		os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
		done := make(chan error, 1)
		go func() {
			_, closeFn, err := Load(dir, cpubackend.New(1))
			if err == nil {
				closeFn()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "config.json") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s %s = %v: %v; want an error naming config.json and %s", c.section, c.key, c.value, err, c.want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s %s = %v: Load still running after 20 s", c.section, c.key, c.value)
		}
	}
}
