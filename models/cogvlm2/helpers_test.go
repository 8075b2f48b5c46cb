package cogvlm2

import (
	"errors"
	"strings"

	"github.com/rpiq/rpiq/models/hf"
)

func replace(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("test edit: " + old + " not found")
	}
	return strings.Replace(s, old, new, 1)
}

func asHF(err error, he **hf.Error) bool { return errors.As(err, he) }
