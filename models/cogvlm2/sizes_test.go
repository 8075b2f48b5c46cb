package cogvlm2

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rpiq/rpiq/runtime/cpubackend"
)

// Issue 14: config.json sizes are checked against the checkpoint before New allocates by them;
// a vision_config.num_hidden_layers of 2e9 made Load loop for minutes.
func TestLoadChecksSizesFirst(t *testing.T) {
	cases := []struct {
		section, key string
		value        any
		want         string
	}{
		{"vision_config", "num_hidden_layers", 2000000000, "vision_config.num_hidden_layers"},
		{"vision_config", "intermediate_size", TinySizes.VIntermediate * 2, "mlp.fc1.weight"},
		{"", "num_hidden_layers", 2000000000, "num_hidden_layers"},
		{"", "vocab_size", 4000000000, "vocab_size"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		if _, err := WriteRandom(dir, TinySizes, 1); err != nil {
			t.Fatal(err)
		}
		var cfg map[string]any
		b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
		json.Unmarshal(b, &cfg)
		obj := cfg
		if c.section != "" {
			obj = cfg[c.section].(map[string]any)
		}
		obj[c.key] = c.value
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
