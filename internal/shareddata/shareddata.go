// Package shareddata finds the outside test material in ../shared/data (next to the repository
// root) for tests, and decides whether a test may skip when it is absent.
//
// Tests call Dir or Path; when the data is missing they skip with a clear message, unless
// RPIQ_REQUIRE_DATA=1 is set (as in CI), in which case they fail. RPIQ_DATA overrides the folder.
package shareddata

import (
	"os"
	"path/filepath"
	"testing"
)

// Root returns the shared data folder, or "" when it cannot be found.
func Root() string {
	if d := os.Getenv("RPIQ_DATA"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			d := filepath.Join(dir, "..", "shared", "data")
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				return d
			}
			return ""
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

// Required reports whether RPIQ_REQUIRE_DATA=1 forbids skipping.
func Required() bool { return os.Getenv("RPIQ_REQUIRE_DATA") == "1" }

// Path returns the absolute path of rel inside the shared data folder. If the file is missing the
// test is skipped, or failed when RPIQ_REQUIRE_DATA=1.
func Path(t testing.TB, rel string) string {
	t.Helper()
	root := Root()
	p := filepath.Join(root, rel)
	if root == "" {
		missing(t, "shared data folder ../shared/data not found (set RPIQ_DATA)")
		return ""
	}
	if _, err := os.Stat(p); err != nil {
		missing(t, "shared test data "+rel+" not found: "+err.Error())
		return ""
	}
	return p
}

func missing(t testing.TB, msg string) {
	t.Helper()
	if Required() {
		t.Fatal(msg + " (RPIQ_REQUIRE_DATA=1)")
	}
	t.Skip(msg)
}
