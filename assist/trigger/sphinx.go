package trigger

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// ErrNoRecognizer means the PocketSphinx library or its English model is not installed.
var ErrNoRecognizer = errors.New("the speech recogniser (PocketSphinx) is not installed; install the Debian packages pocketsphinx, libpocketsphinx3 and pocketsphinx-en-us")

// sphinxAPI holds the PocketSphinx 5prealpha C functions (Debian 12: libpocketsphinx.so.3 and
// libsphinxbase.so.3). The variadic cmd_ln_init is avoided in favour of cmd_ln_parse_r.
type sphinxAPI struct {
	psArgs        func() uintptr
	cmdLnParseR   func(inout, defn uintptr, argc int32, argv **byte, strict int32) uintptr
	cmdLnFreeR    func(cfg uintptr) int32
	psInit        func(cfg uintptr) uintptr
	psFree        func(ps uintptr) int32
	psSetKws      func(ps uintptr, name, keyfile string) int32
	psSetSearch   func(ps uintptr, name string) int32
	psStartUtt    func(ps uintptr) int32
	psEndUtt      func(ps uintptr) int32
	psProcRaw     func(ps uintptr, data *int16, n uintptr, noSearch, fullUtt int32) int32
	psGetHyp      func(ps uintptr, score *int32) string
	psSegIter     func(ps uintptr) uintptr
	psSegNext     func(seg uintptr) uintptr
	psSegWord     func(seg uintptr) string
	psSegFrames   func(seg uintptr, sf, ef *int32)
	psSegFree     func(seg uintptr)
	psGetInSpeech func(ps uintptr) uint8
}

var (
	sphinxOnce sync.Once
	sphinx     *sphinxAPI
	sphinxErr  error
)

// loadSphinx opens the libraries once per process.
func loadSphinx() (*sphinxAPI, error) {
	sphinxOnce.Do(func() {
		base, err := purego.Dlopen("libsphinxbase.so.3", purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			sphinxErr = fmt.Errorf("%w (%v)", ErrNoRecognizer, err)
			return
		}
		ps, err := purego.Dlopen("libpocketsphinx.so.3", purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			sphinxErr = fmt.Errorf("%w (%v)", ErrNoRecognizer, err)
			return
		}
		a := &sphinxAPI{}
		reg := func(fn any, lib uintptr, name string) {
			if sphinxErr != nil {
				return
			}
			if _, err := purego.Dlsym(lib, name); err != nil {
				sphinxErr = fmt.Errorf("%w (symbol %s missing: %v)", ErrNoRecognizer, name, err)
				return
			}
			purego.RegisterLibFunc(fn, lib, name)
		}
		reg(&a.cmdLnParseR, base, "cmd_ln_parse_r")
		reg(&a.cmdLnFreeR, base, "cmd_ln_free_r")
		reg(&a.psArgs, ps, "ps_args")
		reg(&a.psInit, ps, "ps_init")
		reg(&a.psFree, ps, "ps_free")
		reg(&a.psSetKws, ps, "ps_set_kws")
		reg(&a.psSetSearch, ps, "ps_set_search")
		reg(&a.psStartUtt, ps, "ps_start_utt")
		reg(&a.psEndUtt, ps, "ps_end_utt")
		reg(&a.psProcRaw, ps, "ps_process_raw")
		reg(&a.psGetHyp, ps, "ps_get_hyp")
		reg(&a.psSegIter, ps, "ps_seg_iter")
		reg(&a.psSegNext, ps, "ps_seg_next")
		reg(&a.psSegWord, ps, "ps_seg_word")
		reg(&a.psSegFrames, ps, "ps_seg_frames")
		reg(&a.psSegFree, ps, "ps_seg_free")
		reg(&a.psGetInSpeech, ps, "ps_get_in_speech")
		if sphinxErr == nil {
			sphinx = a
		}
	})
	return sphinx, sphinxErr
}

// cArgv is a NUL-terminated argv in Go memory. cmd_ln_parse_r copies every string it keeps,
// so the pointers are pinned only for the duration of that call (see parse); the Go memory stays
// referenced by the Spotter anyway.
type cArgv struct {
	strs [][]byte
	ptrs []*byte
}

func newCArgv(args []string) *cArgv {
	a := &cArgv{}
	for _, s := range args {
		b := append([]byte(s), 0)
		a.strs = append(a.strs, b)
		a.ptrs = append(a.ptrs, &b[0])
	}
	a.ptrs = append(a.ptrs, nil)
	return a
}

// parse calls cmd_ln_parse_r with the pointers pinned.
func (a *cArgv) parse(api *sphinxAPI) uintptr {
	var p runtime.Pinner
	defer p.Unpin()
	for _, b := range a.strs {
		p.Pin(&b[0])
	}
	p.Pin(&a.ptrs[0])
	return api.cmdLnParseR(0, api.psArgs(), int32(len(a.strs)), (**byte)(unsafe.Pointer(&a.ptrs[0])), 1)
}
