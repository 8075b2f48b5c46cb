package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 14.2: one exit-status contract for every subcommand of assist, as for rpiq (0 done,
// 1 the job failed, 2 bad input or bad use). Every registered command is run with an unknown
// flag, a flag value that does not parse, and -h; the table adds bad files and values.
func TestExitStatusContract(t *testing.T) {
	tmp := t.TempDir()
	missing := filepath.Join(tmp, "missing.toml")
	badTOML := filepath.Join(tmp, "bad.toml")
	os.WriteFile(badTOML, []byte("[speech\nvoice = "), 0o644)
	badValue := filepath.Join(tmp, "badvalue.toml")
	os.WriteFile(badValue, []byte("[speech]\nrate = \"fast\"\n"), 0o644)
	notImage := filepath.Join(tmp, "x.png")
	os.WriteFile(notImage, []byte("not a picture"), 0o644)
	const good = "../../examples/assist.toml"

	for _, cmd := range app.Commands() {
		for _, c := range []struct {
			args []string
			code int
		}{
			{[]string{"--no-such-flag"}, 2},
			{[]string{"-h"}, 0},
		} {
			if code, _, stderr := runCmd(append([]string{cmd}, c.args...)...); code != c.code {
				t.Errorf("assist %s %s: exit %d, want %d (%s)", cmd, strings.Join(c.args, " "), code, c.code, stderr)
			}
		}
	}
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"check"}, 2},
		{[]string{"check", missing}, 2},
		{[]string{"check", badTOML}, 2},
		{[]string{"check", badValue}, 2},
		{[]string{"check", "--config", missing}, 2},
		{[]string{"ask", "--config", good}, 2},
		{[]string{"ask", "--config", missing, "--image", notImage}, 2},
		{[]string{"ask", "--config", badTOML, "--image", notImage}, 2},
		{[]string{"ask", "--config", good, "--image", filepath.Join(tmp, "none.png")}, 2},
		{[]string{"ask", "--config", good, "--image", notImage}, 2},
		{[]string{"ask", "--config", good, "--image", "../../examples/sample.png", "--wav", filepath.Join(tmp, "no", "dir", "x.wav")}, 2},
		{[]string{"listen"}, 2},
		{[]string{"listen", "--wav", filepath.Join(tmp, "none.wav")}, 2},
		{[]string{"listen", "--wav", notImage}, 2},
		{[]string{"listen", "--config", badTOML, "--wav", notImage}, 2},
		{[]string{"run"}, 2},
		{[]string{"run", "--config", missing}, 2},
		{[]string{"run", "--config", badTOML}, 2},
		{[]string{"listen"}, 2},
		{[]string{"listen", "--wav", filepath.Join(tmp, "none.wav")}, 2},
		{[]string{"listen", "--wav", notImage}, 2},
		{[]string{"listen", "--wav", notImage, "--sensitivity", "nan"}, 2},
		{[]string{"listen", "--config", missing, "--wav", notImage}, 2},
		{[]string{"models"}, 2},
		{[]string{"models", "frobnicate"}, 2},
		{[]string{"models", "install", "--sha256", "xyz", notImage}, 2},
		{[]string{"models", "install", "--dir", tmp, "--sha256", strings.Repeat("0", 64), filepath.Join(tmp, "none.bin")}, 2},
		{[]string{"models", "list", "--config", missing}, 2},
		{[]string{"models", "list", "--no-such-flag"}, 2},
		{[]string{"doctor", "--config", missing}, 2},
		{[]string{"doctor", "--config", badTOML}, 2},
	}
	for _, c := range cases {
		if code, _, stderr := runCmd(c.args...); code != c.code {
			t.Errorf("assist %s: exit %d, want %d (%s)", strings.Join(c.args, " "), code, c.code, stderr)
		}
	}
}
