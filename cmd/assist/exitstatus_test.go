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
	// Outputs that cannot be written (issue 14): a file where a folder is expected, a folder
	// where a file is, a folder without write permission.
	aFile := filepath.Join(tmp, "afile")
	os.WriteFile(aFile, []byte("x"), 0o644)
	aDir := filepath.Join(tmp, "adir")
	os.MkdirAll(aDir, 0o755)
	readOnly := filepath.Join(tmp, "readonly")
	os.MkdirAll(readOnly, 0o555)
	zeros := strings.Repeat("0", 64)

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
		{[]string{"ask", "--config", good, "--image", "../../examples/sample.png", "--wav", filepath.Join(aFile, "x.wav")}, 2},
		{[]string{"ask", "--config", good, "--image", "../../examples/sample.png", "--wav", aDir}, 2},
		{[]string{"models", "install", "--dir", aFile, "--sha256", zeros, notImage}, 2},
		{[]string{"models", "install", "--dir", filepath.Join(aFile, "m"), "--sha256", zeros, notImage}, 2},
	}
	// Root ignores permission bits: these cases hold only for other users.
	if os.Geteuid() != 0 {
		cases = append(cases, []struct {
			args []string
			code int
		}{
			{[]string{"ask", "--config", good, "--image", "../../examples/sample.png", "--wav", filepath.Join(readOnly, "x.wav")}, 2},
			{[]string{"models", "install", "--dir", readOnly, "--sha256", zeros, notImage}, 2},
			{[]string{"models", "install", "--dir", filepath.Join(readOnly, "m"), "--sha256", zeros, notImage}, 2},
		}...)
	} else {
		t.Log("running as root: the permission-denied cases are skipped (root writes anyway)")
	}
	for _, c := range cases {
		code, _, stderr := runCmd(c.args...)
		if code != c.code {
			t.Errorf("assist %s: exit %d, want %d (%s)", strings.Join(c.args, " "), code, c.code, stderr)
		}
		// An output that cannot be written is named, with what was expected.
		for _, a := range c.args {
			if (strings.HasPrefix(a, aFile) || strings.HasPrefix(a, readOnly) || a == aDir) && (!strings.Contains(stderr, a) || !strings.Contains(stderr, "expected")) {
				t.Errorf("assist %s: the error does not name %s and what was expected: %q", strings.Join(c.args, " "), a, stderr)
			}
		}
	}
}
