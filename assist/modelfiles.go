package assist

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rpiq/rpiq/assist/config"
)

// ModelChecker is implemented by engines that can say which model files they could not load
// (missing or damaged), by setting, for `assist check --deep`.
type ModelChecker interface {
	ModelProblems() []config.Problem
}

// checkModelFiles reports the model files the caregiver named that are not there. Files left at
// their default names in the default folder are not reported: models not installed yet are
// not a mistake in the settings (the assistant says which capability is off; `assist doctor`
// lists them).
func checkModelFiles(cfg config.Config) []config.Problem {
	def := config.Default().ModelFiles()
	isDefault := map[string]bool{}
	if cfg.Models.Dir == "" {
		for _, f := range def {
			isDefault[f.Field+"\x00"+f.Path] = true
		}
	}
	var ps []config.Problem
	for _, f := range cfg.ModelFiles() {
		if f.Dir || isDefault[f.Field+"\x00"+f.Path] {
			continue // models.vlm is checked with the other folders
		}
		st, err := os.Stat(f.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			ps = append(ps, config.Problem{Field: f.Field, Msg: fmt.Sprintf("the model file %s does not exist, so %s is off (install it with assist models install FILE --sha256 HEX)", f.Path, f.Capability)})
		case err != nil:
			ps = append(ps, config.Problem{Field: f.Field, Msg: fmt.Sprintf("the model file %s cannot be read (%v), so %s is off", f.Path, err, f.Capability)})
		case st.IsDir():
			ps = append(ps, config.Problem{Field: f.Field, Msg: fmt.Sprintf("%s is a folder; name the model file", f.Path)})
		case st.Size() == 0:
			ps = append(ps, config.Problem{Field: f.Field, Msg: fmt.Sprintf("the model file %s is empty, so %s is off", f.Path, f.Capability)})
		}
	}
	return ps
}

// ModelNotes says which capabilities are off because their model files, left at their default
// names in the default folder, are not installed yet: not a mistake in the settings, but worth
// a line after `assist check`'s OK.
func ModelNotes(cfg config.Config) []string {
	if cfg.Models.Dir != "" {
		return nil // a folder the caregiver chose: checkModelFiles reports what is missing
	}
	def := map[string]string{}
	for _, f := range config.Default().ModelFiles() {
		def[f.Field] = f.Path
	}
	off := map[string][]string{}
	var order []string
	for _, f := range cfg.ModelFiles() {
		if f.Dir || def[f.Field] != f.Path {
			continue
		}
		if _, err := os.Stat(f.Path); errors.Is(err, fs.ErrNotExist) {
			if _, seen := off[f.Capability]; !seen {
				order = append(order, f.Capability)
			}
			off[f.Capability] = append(off[f.Capability], filepath.Base(f.Path))
		}
	}
	var notes []string
	for _, c := range order {
		verb := "is"
		if len(off[c]) > 1 {
			verb = "are"
		}
		notes = append(notes, fmt.Sprintf("note: %s is off until %s %s installed in %s (assist models install FILE|URL --sha256 HEX)", c, strings.Join(off[c], " and "), verb, cfg.Models.Folder()))
	}
	return notes
}
