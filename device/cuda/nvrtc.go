package cuda

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// NVRTC is the runtime CUDA C compiler. It needs no GPU: CI compiles every kernel with it.
type NVRTC struct {
	lib          string
	major, minor int
	mu           sync.Mutex // compiles one at a time: older NVRTCs are not documented as thread-safe

	nvrtcVersion, nvrtcCreateProgram, nvrtcCompileProgram, nvrtcDestroyProgram uintptr
	nvrtcGetProgramLogSize, nvrtcGetProgramLog, nvrtcGetPTXSize, nvrtcGetPTX   uintptr
	nvrtcGetCUBINSize, nvrtcGetCUBIN                                           uintptr
	nvrtcGetNumSupportedArchs, nvrtcGetSupportedArchs                          uintptr
}

// NVRTCEnv names the environment variable that points at a specific libnvrtc file.
const NVRTCEnv = "RPIQ_NVRTC_LIB"

// nvrtcCandidates are the sonames of recent toolkits, newest first, then the CUDA install dirs.
var nvrtcCandidates = []string{
	"libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2",
	"/usr/local/cuda/lib64/libnvrtc.so", "/usr/local/cuda/targets/aarch64-linux/lib/libnvrtc.so",
}

var (
	nvrtcOnce sync.Once
	nvrtcVal  *NVRTC
	nvrtcErr  error
)

// LoadNVRTC opens libnvrtc once per process: the file named by RPIQ_NVRTC_LIB when set (and only
// that one, so a wrong setting is an error rather than a silent fallback), else the usual names.
func LoadNVRTC() (*NVRTC, error) {
	nvrtcOnce.Do(func() { nvrtcVal, nvrtcErr = loadNVRTC(os.Getenv(NVRTCEnv)) })
	return nvrtcVal, nvrtcErr
}

func loadNVRTC(override string) (*NVRTC, error) {
	candidates := nvrtcCandidates
	if override != "" {
		candidates = []string{override}
	}
	h, name, err := openLibrary(candidates)
	if err != nil {
		where := "the usual names (" + strings.Join(candidates, ", ") + ")"
		if override != "" {
			where = NVRTCEnv + "=" + override
		}
		return nil, fmt.Errorf("%w: tried %s: %v", ErrNoNVRTC, where, err)
	}
	preloadBuiltins(name)
	return newNVRTC(name, dlsymTable(h))
}

// preloadBuiltins opens libnvrtc-builtins from the folder of an NVRTC opened by path. NVRTC
// dlopens the builtins by soname at compile time, which fails (NVRTC_ERROR_BUILTIN_OPERATION_FAILURE)
// for a library unpacked outside the loader's search path, as scripts/fetch-nvrtc.sh does; once
// loaded, the soname matches the resident copy.
func preloadBuiltins(lib string) {
	if !strings.Contains(lib, "/") {
		return
	}
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(lib), "libnvrtc-builtins.so*"))
	sort.Slice(matches, func(i, j int) bool { return len(matches[i]) < len(matches[j]) })
	for _, m := range matches {
		if _, err := purego.Dlopen(m, purego.RTLD_NOW|purego.RTLD_GLOBAL); err == nil {
			return
		}
	}
}

func newNVRTC(lib string, sym symbolTable) (*NVRTC, error) {
	n := &NVRTC{lib: lib}
	syms := []symbol{
		{"nvrtcVersion", &n.nvrtcVersion, false},
		{"nvrtcCreateProgram", &n.nvrtcCreateProgram, false},
		{"nvrtcCompileProgram", &n.nvrtcCompileProgram, false},
		{"nvrtcDestroyProgram", &n.nvrtcDestroyProgram, false},
		{"nvrtcGetProgramLogSize", &n.nvrtcGetProgramLogSize, false},
		{"nvrtcGetProgramLog", &n.nvrtcGetProgramLog, false},
		{"nvrtcGetPTXSize", &n.nvrtcGetPTXSize, false},
		{"nvrtcGetPTX", &n.nvrtcGetPTX, false},
		{"nvrtcGetCUBINSize", &n.nvrtcGetCUBINSize, true}, // CUDA 11.1+
		{"nvrtcGetCUBIN", &n.nvrtcGetCUBIN, true},
		{"nvrtcGetNumSupportedArchs", &n.nvrtcGetNumSupportedArchs, true}, // CUDA 11.2+
		{"nvrtcGetSupportedArchs", &n.nvrtcGetSupportedArchs, true},
	}
	if err := bindSymbols(lib, sym, syms); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoNVRTC, err)
	}
	var major, minor int32
	if err := n.call("nvrtcVersion", n.nvrtcVersion, uintptr(unsafe.Pointer(&major)), uintptr(unsafe.Pointer(&minor))); err != nil {
		return nil, err
	}
	n.major, n.minor = int(major), int(minor)
	return n, nil
}

//go:uintptrescapes
func (n *NVRTC) call(name string, fn uintptr, args ...uintptr) error {
	if fn == 0 {
		return fmt.Errorf("%w: %s is missing from %s", ErrUnsupported, name, n.lib)
	}
	r, _, _ := purego.SyscallN(fn, args...)
	return nvrtcError(name, r)
}

// Version is NVRTC's CUDA version, e.g. 11, 8.
func (n *NVRTC) Version() (major, minor int) { return n.major, n.minor }

// Library reports which file was opened.
func (n *NVRTC) Library() string { return n.lib }

// SupportedArchs lists the sm_XY numbers this NVRTC can generate code for.
func (n *NVRTC) SupportedArchs() ([]int, error) {
	var count int32
	if err := n.call("nvrtcGetNumSupportedArchs", n.nvrtcGetNumSupportedArchs, uintptr(unsafe.Pointer(&count))); err != nil {
		return nil, err
	}
	if count <= 0 || count > 1024 {
		return nil, fmt.Errorf("cuda: nvrtcGetNumSupportedArchs returned %d", count)
	}
	archs := make([]int32, count)
	if err := n.call("nvrtcGetSupportedArchs", n.nvrtcGetSupportedArchs, uintptr(unsafe.Pointer(&archs[0]))); err != nil {
		return nil, err
	}
	out := make([]int, count)
	for i, a := range archs {
		out[i] = int(a)
	}
	return out, nil
}

// Header is a source file a program may #include by Name.
type Header struct{ Name, Source string }

// Program is a CUDA C translation unit for NVRTC.
type Program struct {
	Name    string // file name used in diagnostics, e.g. "gemv.cu"
	Source  string
	Headers []Header
	Options []string // extra options beyond the architecture
}

// Target picks the code NVRTC makes: a CUBIN for exactly sm_Arch (no JIT at load), or PTX for
// compute_Arch (the driver JIT-compiles it, also for newer GPUs than this NVRTC knows).
type Target struct {
	Arch int  // 87 for Orin, 89, 90, ...
	PTX  bool // PTX instead of CUBIN
}

func (t Target) String() string {
	if t.PTX {
		return fmt.Sprintf("compute_%d", t.Arch)
	}
	return fmt.Sprintf("sm_%d", t.Arch)
}

// Compile compiles p for t and returns the image (CUBIN or NUL-terminated PTX) and NVRTC's log
// (warnings). A compile error is an *Error with Code 6 (NVRTC_ERROR_COMPILATION) and the log.
func (n *NVRTC) Compile(p Program, t Target) (image []byte, log string, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !t.PTX && n.nvrtcGetCUBIN == 0 {
		return nil, "", fmt.Errorf("%w: NVRTC %d.%d cannot emit CUBIN; ask for PTX", ErrUnsupported, n.major, n.minor)
	}
	var pin runtime.Pinner // the C string arrays hold Go pointers: pin what they point at
	defer pin.Unpin()
	cstrings := func(ss []string) uintptr {
		if len(ss) == 0 {
			return 0
		}
		ptrs := make([]uintptr, len(ss))
		for i, s := range ss {
			b := cString(s)
			pin.Pin(&b[0])
			ptrs[i] = uintptr(unsafe.Pointer(&b[0]))
		}
		pin.Pin(&ptrs[0])
		return uintptr(unsafe.Pointer(&ptrs[0]))
	}
	var hdrSrc, hdrName []string
	for _, h := range p.Headers {
		hdrSrc = append(hdrSrc, h.Source)
		hdrName = append(hdrName, h.Name)
	}
	src, name := cString(p.Source), cString(p.Name)
	var prog uintptr
	if err := n.call("nvrtcCreateProgram", n.nvrtcCreateProgram, uintptr(unsafe.Pointer(&prog)),
		uintptr(unsafe.Pointer(&src[0])), uintptr(unsafe.Pointer(&name[0])),
		uintptr(len(p.Headers)), cstrings(hdrSrc), cstrings(hdrName)); err != nil {
		return nil, "", err
	}
	defer n.call("nvrtcDestroyProgram", n.nvrtcDestroyProgram, uintptr(unsafe.Pointer(&prog)))

	opts := append([]string{"--gpu-architecture=" + t.String()}, p.Options...)
	cerr := n.call("nvrtcCompileProgram", n.nvrtcCompileProgram, prog, uintptr(len(opts)), cstrings(opts))
	log = n.programLog(prog)
	if cerr != nil {
		if e, ok := cerr.(*Error); ok {
			e.Call += "(" + p.Name + ", " + t.String() + ")"
			e.Log = log
		}
		return nil, log, cerr
	}
	sizeFn, getFn, sizeName, getName := n.nvrtcGetCUBINSize, n.nvrtcGetCUBIN, "nvrtcGetCUBINSize", "nvrtcGetCUBIN"
	if t.PTX {
		sizeFn, getFn, sizeName, getName = n.nvrtcGetPTXSize, n.nvrtcGetPTX, "nvrtcGetPTXSize", "nvrtcGetPTX"
	}
	var size uintptr
	if err := n.call(sizeName, sizeFn, prog, uintptr(unsafe.Pointer(&size))); err != nil {
		return nil, log, err
	}
	if size == 0 {
		return nil, log, fmt.Errorf("cuda: %s(%s, %s) returned an empty image", sizeName, p.Name, t)
	}
	image = make([]byte, size)
	if err := n.call(getName, getFn, prog, uintptr(unsafe.Pointer(&image[0]))); err != nil {
		return nil, log, err
	}
	return image, log, nil
}

func (n *NVRTC) programLog(prog uintptr) string {
	var size uintptr
	if n.call("nvrtcGetProgramLogSize", n.nvrtcGetProgramLogSize, prog, uintptr(unsafe.Pointer(&size))) != nil || size <= 1 {
		return ""
	}
	buf := make([]byte, size)
	if n.call("nvrtcGetProgramLog", n.nvrtcGetProgramLog, prog, uintptr(unsafe.Pointer(&buf[0]))) != nil {
		return ""
	}
	return strings.TrimRight(string(buf), "\x00\n ")
}

// NVRTCRequired reports whether tests must fail, not skip, when NVRTC is missing: under
// RPIQ_REQUIRE_NVRTC=1 (set by .ci/run) or CI=true.
func NVRTCRequired() bool {
	return os.Getenv("RPIQ_REQUIRE_NVRTC") == "1" || os.Getenv("CI") == "true"
}
