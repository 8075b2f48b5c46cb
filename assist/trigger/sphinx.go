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
	psSetJsgfStr  func(ps uintptr, name, grammar string) int32
	psSetSearch   func(ps uintptr, name string) int32
	psStartUtt    func(ps uintptr) int32
	psEndUtt      func(ps uintptr) int32
	psProcRaw     func(ps uintptr, data *int16, n uintptr, noSearch, fullUtt int32) int32
	psGetHyp      func(ps uintptr, score *int32) string
	psSegIter     func(ps uintptr) uintptr
	psSegNext     func(seg uintptr) uintptr
	psSegWord     func(seg uintptr) string
	psSegFrames   func(seg uintptr, sf, ef *int32)
	psSegProb     func(seg uintptr, ascr, lscr, lback *int32) int32
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
		reg(&a.psSetJsgfStr, ps, "ps_set_jsgf_string")
		reg(&a.psStartUtt, ps, "ps_start_utt")
		reg(&a.psEndUtt, ps, "ps_end_utt")
		reg(&a.psProcRaw, ps, "ps_process_raw")
		reg(&a.psGetHyp, ps, "ps_get_hyp")
		reg(&a.psSegIter, ps, "ps_seg_iter")
		reg(&a.psSegNext, ps, "ps_seg_next")
		reg(&a.psSegWord, ps, "ps_seg_word")
		reg(&a.psSegFrames, ps, "ps_seg_frames")
		reg(&a.psSegProb, ps, "ps_seg_prob")
		reg(&a.psSegFree, ps, "ps_seg_free")
		reg(&a.psGetInSpeech, ps, "ps_get_in_speech")
		if sphinxErr == nil {
			sphinx = a
		}
	})
	return sphinx, sphinxErr
}

// cArgv is an argv whose strings live in C memory (strdup). cmd_ln_parse_r copies the values
// but keeps the argument names as keys of its hash table, so the strings must outlive the
// configuration; C memory cannot be moved or collected, and free releases it after
// cmd_ln_free_r. Only the pointer array is Go memory, pinned for the call.
type cArgv struct {
	ptrs []uintptr
	libc *libcAPI
}

type libcAPI struct {
	strdup func(s string) uintptr
	free   func(p uintptr)
}

var (
	libcOnce sync.Once
	libc     *libcAPI
	libcErr  error
)

func loadLibc() (*libcAPI, error) {
	libcOnce.Do(func() {
		h, err := purego.Dlopen("libc.so.6", purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			libcErr = err
			return
		}
		a := &libcAPI{}
		purego.RegisterLibFunc(&a.strdup, h, "strdup")
		purego.RegisterLibFunc(&a.free, h, "free")
		libc = a
	})
	return libc, libcErr
}

func newCArgv(args []string) (*cArgv, error) {
	c, err := loadLibc()
	if err != nil {
		return nil, fmt.Errorf("trigger: %w", err)
	}
	a := &cArgv{libc: c}
	for _, s := range args {
		p := c.strdup(s)
		if p == 0 {
			a.free()
			return nil, fmt.Errorf("trigger: out of memory")
		}
		a.ptrs = append(a.ptrs, p)
	}
	a.ptrs = append(a.ptrs, 0)
	return a, nil
}

// parse calls cmd_ln_parse_r with the pointer array pinned.
func (a *cArgv) parse(api *sphinxAPI) uintptr {
	var p runtime.Pinner
	defer p.Unpin()
	p.Pin(&a.ptrs[0])
	return api.cmdLnParseR(0, api.psArgs(), int32(len(a.ptrs)-1), (**byte)(unsafe.Pointer(&a.ptrs[0])), 1)
}

// decoder is one PocketSphinx decoder with the configuration it was made from and the C
// strings that configuration's hash table points into: the spotter's and the confirming pass's.
type decoder struct {
	api  *sphinxAPI
	cfg  uintptr
	ps   uintptr
	argv *cArgv
}

// open parses args and loads the model. whose names the configuration in the error ("its",
// "the confirming decoder's") and purpose what the model is for ("" or " for …"). On an error
// the caller still calls close.
func (d *decoder) open(args []string, whose, modelDir, purpose string) error {
	var err error
	if d.argv, err = newCArgv(args); err != nil {
		return err
	}
	if d.cfg = d.argv.parse(d.api); d.cfg == 0 {
		return fmt.Errorf("%w (PocketSphinx rejected %s configuration)", ErrNoRecognizer, whose)
	}
	if d.ps = d.api.psInit(d.cfg); d.ps == 0 {
		return fmt.Errorf("%w (PocketSphinx could not load the model %s%s)", ErrNoRecognizer, modelDir, purpose)
	}
	return nil
}

// close frees the decoder, then its configuration, then the strings (the configuration's hash
// table keys point into them); each part at most once.
func (d *decoder) close() {
	if d.ps != 0 {
		d.api.psFree(d.ps)
		d.ps = 0
	}
	if d.cfg != 0 {
		d.api.cmdLnFreeR(d.cfg)
		d.cfg = 0
	}
	if d.argv != nil {
		d.argv.free()
		d.argv = nil
	}
}

// free releases the strings; call it only after cmd_ln_free_r.
func (a *cArgv) free() {
	for _, p := range a.ptrs {
		if p != 0 {
			a.libc.free(p)
		}
	}
	a.ptrs = nil
}
