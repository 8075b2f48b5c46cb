package cuda

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// CacheEnv names the environment variable that moves the compiled-kernel cache.
const CacheEnv = "RPIQ_KERNEL_CACHE"

// Cache keeps compiled kernel images on disk so NVRTC runs once per source, architecture,
// compiler and driver: the key hashes all of them, so changing any one compiles afresh.
type Cache struct{ Dir string }

// DefaultCache is $RPIQ_KERNEL_CACHE, else the user cache folder's rpiq/kernels.
func DefaultCache() (Cache, error) {
	if d := os.Getenv(CacheEnv); d != "" {
		return Cache{Dir: d}, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return Cache{}, fmt.Errorf("cuda: no kernel cache folder (set %s): %w", CacheEnv, err)
	}
	return Cache{Dir: filepath.Join(d, "rpiq", "kernels")}, nil
}

// Key is the cache key of p compiled by NVRTC major.minor for t under a driver version
// (0 when there is no driver, as in CI).
func Key(p Program, t Target, nvrtcMajor, nvrtcMinor, driverVersion int) string {
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s;", len(s), s) }
	field(p.Name)
	field(p.Source)
	for _, hd := range p.Headers {
		field(hd.Name)
		field(hd.Source)
	}
	field(strings.Join(p.Options, "\x00"))
	field(t.String())
	field(fmt.Sprintf("nvrtc %d.%d driver %d", nvrtcMajor, nvrtcMinor, driverVersion))
	return hex.EncodeToString(h.Sum(nil))
}

func (c Cache) path(key string, t Target) string {
	ext := ".cubin"
	if t.PTX {
		ext = ".ptx"
	}
	return filepath.Join(c.Dir, key[:2], key+ext)
}

// Get returns the image stored under key, if any.
func (c Cache) Get(key string, t Target) ([]byte, bool) {
	b, err := os.ReadFile(c.path(key, t))
	if err != nil || len(b) == 0 {
		return nil, false
	}
	return b, true
}

// Put stores image under key atomically (temporary file in the same folder, fsync, rename), so a
// crash never leaves a truncated image that a later run would load.
func (c Cache) Put(key string, t Target, image []byte) error {
	dst := c.path(key, t)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("cuda: kernel cache: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(dst), ".tmp-*")
	if err != nil {
		return fmt.Errorf("cuda: kernel cache: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(image)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, dst)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("cuda: kernel cache %s: %w", dst, werr)
	}
	return nil
}

// CompileCached returns p's image for t from the cache, compiling and storing it on a miss.
// hit reports whether NVRTC was skipped. A failure to write the cache is not an error: the image
// is still returned (the cache is an optimisation).
func (n *NVRTC) CompileCached(c Cache, p Program, t Target, driverVersion int) (image []byte, hit bool, err error) {
	key := Key(p, t, n.major, n.minor, driverVersion)
	if c.Dir != "" {
		if b, ok := c.Get(key, t); ok {
			return b, true, nil
		}
	}
	image, _, err = n.Compile(p, t)
	if err != nil {
		return nil, false, err
	}
	if c.Dir != "" {
		_ = c.Put(key, t, image)
	}
	return image, false, nil
}
