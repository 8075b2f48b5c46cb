package cuda

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"
)

// symbolTable resolves a C symbol to its address. The real one wraps dlsym; tests inject fake
// tables built from purego callbacks, so the error paths run without a GPU.
type symbolTable func(name string) (uintptr, error)

// openLibrary tries each candidate in turn and returns the first that opens, with its name.
func openLibrary(candidates []string) (handle uintptr, name string, err error) {
	var errs []string
	for _, c := range candidates {
		h, err := purego.Dlopen(c, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err == nil {
			return h, c, nil
		}
		errs = append(errs, err.Error())
	}
	return 0, "", errors.New(strings.Join(errs, "; "))
}

func dlsymTable(lib uintptr) symbolTable {
	return func(name string) (uintptr, error) { return purego.Dlsym(lib, name) }
}

// bindSymbols resolves each named symbol into its slot. Required symbols that are missing are
// reported together; optional ones stay 0 and their calls return ErrUnsupported.
type symbol struct {
	name     string
	slot     *uintptr
	optional bool
}

func bindSymbols(lib string, sym symbolTable, syms []symbol) error {
	var missing []string
	for _, s := range syms {
		p, err := sym(s.name)
		if err != nil || p == 0 {
			*s.slot = 0
			if !s.optional {
				missing = append(missing, s.name)
			}
			continue
		}
		*s.slot = p
	}
	if len(missing) > 0 {
		return fmt.Errorf("cuda: %s lacks %s", lib, strings.Join(missing, ", "))
	}
	return nil
}

// cString returns a NUL-terminated copy of s for C.
func cString(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

// goString copies the NUL-terminated C string at p (at most max bytes).
func goString(p uintptr, max int) string {
	if p == 0 {
		return ""
	}
	b := unsafe.Slice((*byte)(ptrOf(p)), max)
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// ptrOf turns a C address into an unsafe.Pointer without go vet's uintptr warning: the memory is
// C's, so the Go GC neither owns nor moves it.
func ptrOf(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }
