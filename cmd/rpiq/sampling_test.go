package main

import (
	"strings"
	"testing"
)

// Issue 14: NaN and infinite sampling values were accepted (NaN fails every comparison) and
// generated gibberish with exit 0; a flag value that does not parse exited 1.
func TestSamplingFlagsRejectNonFinite(t *testing.T) {
	// generate checks the flags before it opens the model (an empty folder would be exit 2 for
	// its missing config.json, hence the message check); vqa after (it needs a real model).
	empty := t.TempDir()
	vqaDir, img := tinyCogVLM(t)
	cases := []struct{ flag, value, want string }{
		{"--temperature", "nan", "--temperature must be"},
		{"--temperature", "inf", "--temperature must be"},
		{"--temperature", "-1", "--temperature must be"},
		{"--top-p", "nan", "--top-p must be"},
		{"--top-p", "-inf", "--top-p must be"},
		{"--top-p", "1.5", "--top-p must be"},
		{"--top-k", "-3", "--top-k must be"},
		{"--repetition-penalty", "nan", "--repetition-penalty must be"},
		{"--repetition-penalty", "+inf", "--repetition-penalty must be"},
		{"--max-tokens", "1e12", `invalid value "1e12" for flag -max-tokens`},
		{"--top-k", "1.5", `invalid value "1.5" for flag -top-k`},
		{"--no-such-flag", "1", "flag provided but not defined"},
	}
	for _, cmd := range []string{"generate", "vqa"} {
		for _, c := range cases {
			code, stdout, stderr := runCLI(cmd, "--model", empty, "--prompt", "x", c.flag, c.value)
			if cmd == "vqa" {
				code, stdout, stderr = runCLI(cmd, "--model", vqaDir, "--image", img, "--question", "q", "--max-tokens", "1", c.flag, c.value)
			}
			if code != 2 || stdout != "" || !strings.Contains(stderr, c.want) {
				t.Errorf("%s %s %s: exit %d, stdout %q, stderr %q; want 2 and %q", cmd, c.flag, c.value, code, stdout, stderr, c.want)
			}
		}
	}
}
