// Package models installs the assistant's model files into its model folder: a local file is
// copied, a URL downloaded, the SHA-256 checked, and the file moved into place atomically, so the
// folder holds either the old file or the new one, never half of one. An interrupted download
// keeps what it had in a hidden .partial file and the next run resumes it with an HTTP Range
// request.
package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rpiq/rpiq/internal/tempfiles"
)

// ErrBadInput is wrapped by errors in what the caller gave: a checksum that is not 64
// hexadecimal digits, a file that does not exist, a URL that is not http(s), a bad name.
var ErrBadInput = errors.New("bad input")

// ErrChecksum is wrapped when the file's SHA-256 is not the one given.
var ErrChecksum = errors.New("checksum mismatch")

// InterruptedError is returned when the context ended a download; Kept bytes wait in Partial for
// the next run.
type InterruptedError struct {
	Partial string
	Kept    int64
	Err     error
}

func (e *InterruptedError) Error() string {
	if e.Kept == 0 {
		return fmt.Sprintf("interrupted (%v); nothing was kept", e.Err)
	}
	return fmt.Sprintf("interrupted (%v); %d bytes kept in %s: run the same command again to resume", e.Err, e.Kept, e.Partial)
}
func (e *InterruptedError) Unwrap() error { return e.Err }

// Options says what to install where.
type Options struct {
	Source string // a file path, or an http:// or https:// URL
	SHA256 string // the file's expected SHA-256, 64 hexadecimal digits
	Dir    string // the model folder (created when missing)
	Name   string // the file name in Dir; default: the last part of Source
	// Progress gets the progress bar's updates: called with the bytes done and the total (total
	// 0 when the server does not say). Nil: none.
	Progress func(done, total int64)
	Client   *http.Client // default: http.DefaultClient
}

// Result is what Install did.
type Result struct {
	Path      string // the installed file
	Bytes     int64  // its size
	Resumed   int64  // bytes a previous, interrupted download had kept
	Replaced  bool   // an older, different file was replaced
	Unchanged bool   // the file was already installed with this checksum: nothing was done
	// Swept are the temporaries of this file that a killed run had left (its writer gone),
	// removed before the copy (tempfiles.Sweep).
	Swept []tempfiles.Stale
}

// IsURL reports whether source is a URL rather than a file name.
func IsURL(source string) bool {
	return strings.HasPrefix(source, "http://") || strings.HasPrefix(source, "https://") || strings.Contains(source, "://")
}

// check validates the options and fills in the name.
func (o *Options) check() error {
	o.SHA256 = strings.ToLower(strings.TrimSpace(o.SHA256))
	if len(o.SHA256) != 64 {
		return fmt.Errorf("%w: --sha256 must be 64 hexadecimal digits, got %d characters", ErrBadInput, len(o.SHA256))
	}
	if _, err := hex.DecodeString(o.SHA256); err != nil {
		return fmt.Errorf("%w: --sha256 %q is not hexadecimal", ErrBadInput, o.SHA256)
	}
	if o.Source == "" {
		return fmt.Errorf("%w: no file or URL to install", ErrBadInput)
	}
	if o.Dir == "" {
		return fmt.Errorf("%w: no model folder", ErrBadInput)
	}
	if IsURL(o.Source) {
		u, err := url.Parse(o.Source)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: %q is not an http:// or https:// URL", ErrBadInput, o.Source)
		}
		if o.Name == "" {
			o.Name = filepath.Base(u.Path)
		}
	} else {
		st, err := os.Stat(o.Source)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadInput, err)
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%w: %s is not a regular file", ErrBadInput, o.Source)
		}
		if o.Name == "" {
			o.Name = filepath.Base(o.Source)
		}
	}
	if o.Name == "" || o.Name == "." || o.Name == ".." || o.Name == "/" || strings.ContainsAny(o.Name, "/\\\x00") || strings.HasPrefix(o.Name, ".") {
		return fmt.Errorf("%w: %q is not a plain file name for the model folder (use --name)", ErrBadInput, o.Name)
	}
	return nil
}

// Install copies or downloads the model. It never leaves a half-written file under Name: the
// bytes go to a hidden file in the same folder, are checked and synced, then renamed over.
func Install(ctx context.Context, o Options) (Result, error) {
	if err := o.check(); err != nil {
		return Result{}, err
	}
	dst := filepath.Join(o.Dir, o.Name)
	res := Result{Path: dst}
	swept, err := tempfiles.Sweep(o.Dir, o.Name)
	if err != nil {
		return res, fmt.Errorf("model folder: %w", err)
	}
	res.Swept = swept
	if sum, err := fileSHA256(dst); err == nil && sum == o.SHA256 {
		st, _ := os.Stat(dst)
		res.Bytes, res.Unchanged = st.Size(), true
		return res, nil
	} else if err == nil {
		res.Replaced = true
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return res, fmt.Errorf("model folder: %w", err)
	}
	if IsURL(o.Source) {
		err = download(ctx, &o, &res)
	} else {
		err = copyFile(ctx, &o, &res)
	}
	return res, err
}

// partialName is where a download of this file with this checksum waits between runs.
func partialName(dir, name, sum string) string {
	return filepath.Join(dir, "."+name+"."+sum[:16]+".partial")
}

func copyFile(ctx context.Context, o *Options, res *Result) error {
	in, err := os.Open(o.Source)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	// Named by tempfiles.Pattern: the next run removes it if this one is killed (Install).
	tmp, release, err := tempfiles.File(filepath.Join(o.Dir, o.Name))
	if err != nil {
		return fmt.Errorf("model folder: %w", err)
	}
	defer release()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err := copyCtx(ctx, io.MultiWriter(tmp, h), in, 0, st.Size(), o.Progress)
	if err != nil {
		return err
	}
	if err := finish(tmp, h, o, n, res); err != nil {
		return err
	}
	ok = true
	return nil
}

// finish checks the checksum, syncs and closes f, and renames it to the model's name.
func finish(f *os.File, h hash.Hash, o *Options, n int64, res *Result) error {
	if got := hex.EncodeToString(h.Sum(nil)); got != o.SHA256 {
		return fmt.Errorf("%w: %s has SHA-256 %s, expected %s; nothing was installed", ErrChecksum, o.Source, got, o.SHA256)
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), res.Path); err != nil {
		return err
	}
	res.Bytes = n
	if d, err := os.Open(o.Dir); err == nil {
		d.Sync() // the rename itself survives a power cut
		d.Close()
	}
	return nil
}

// copyCtx copies src to dst until EOF or ctx ends, reporting progress from done of total.
func copyCtx(ctx context.Context, dst io.Writer, src io.Reader, done, total int64, progress func(int64, int64)) (int64, error) {
	buf := make([]byte, 256<<10)
	last := time.Time{}
	for {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return done, err
			}
			done += int64(n)
			if progress != nil && time.Since(last) > 50*time.Millisecond {
				progress(done, total)
				last = time.Now()
			}
		}
		if rerr == io.EOF {
			if progress != nil {
				progress(done, total)
			}
			return done, nil
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return done, ctx.Err()
			}
			return done, rerr
		}
	}
}

func download(ctx context.Context, o *Options, res *Result) error {
	part := partialName(o.Dir, o.Name, o.SHA256)
	// Partial downloads of another version of this file are of no use now.
	if old, _ := filepath.Glob(filepath.Join(o.Dir, "."+o.Name+".*.partial")); len(old) > 0 {
		for _, p := range old {
			if p != part {
				os.Remove(p)
			}
		}
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("model folder: %w", err)
	}
	defer func() { // an empty partial file is nothing to resume
		if st, err := os.Stat(part); err == nil && st.Size() == 0 {
			os.Remove(part)
		}
	}()
	closed := false
	defer func() {
		if !closed {
			f.Close()
		}
	}()
	h := sha256.New()
	have, err := io.Copy(h, f) // hash what an earlier run kept
	if err != nil {
		return err
	}
	client := o.Client
	if client == nil {
		client = http.DefaultClient
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.Source, nil)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadInput, err)
		}
		if have > 0 {
			req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return interrupted(f, part, have, ctx.Err(), &closed)
			}
			return fmt.Errorf("download %s: %w (%d bytes kept in %s: run the same command again to resume)", o.Source, err, have, part)
		}
		reset := func() error {
			if err := f.Truncate(0); err != nil {
				return err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
			h.Reset()
			have = 0
			return nil
		}
		// again drops this response and the kept bytes, and asks for the whole file once more.
		again := func() error {
			resp.Body.Close()
			if attempt > 0 {
				return fmt.Errorf("download %s: the server neither resumes nor sends the whole file", o.Source)
			}
			return reset()
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			// The whole file from byte 0 (also when the server ignored the range).
			if have > 0 {
				if err := reset(); err != nil {
					resp.Body.Close()
					return err
				}
			}
			return body(ctx, o, res, f, h, resp, 0, part, &closed)
		case resp.StatusCode == http.StatusPartialContent && have > 0:
			start, ok := rangeStart(resp.Header.Get("Content-Range"))
			if !ok || start != have {
				if err := again(); err != nil {
					return err
				}
				continue
			}
			res.Resumed = have
			if _, err := f.Seek(have, io.SeekStart); err != nil {
				resp.Body.Close()
				return err
			}
			return body(ctx, o, res, f, h, resp, have, part, &closed)
		case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
			// The partial file may already be whole.
			if hex.EncodeToString(h.Sum(nil)) == o.SHA256 {
				resp.Body.Close()
				res.Resumed = have
				closed = true
				return finish(f, h, o, have, res)
			}
			if err := again(); err != nil {
				return err
			}
			continue
		default:
			resp.Body.Close()
			return fmt.Errorf("download %s: the server answered %s", o.Source, resp.Status)
		}
	}
}

// body writes the response to f from offset have, checks it and installs it.
func body(ctx context.Context, o *Options, res *Result, f *os.File, h hash.Hash, resp *http.Response, have int64, part string, closed *bool) error {
	defer resp.Body.Close()
	total := int64(0)
	if resp.ContentLength > 0 {
		total = have + resp.ContentLength
	}
	n, err := copyCtx(ctx, io.MultiWriter(f, h), resp.Body, have, total, o.Progress)
	if err != nil {
		if ctx.Err() != nil {
			return interrupted(f, part, n, ctx.Err(), closed)
		}
		f.Sync()
		return fmt.Errorf("download %s: %w (%d bytes kept in %s: run the same command again to resume)", o.Source, err, n, part)
	}
	if total > 0 && n != total {
		return fmt.Errorf("download %s: got %d bytes, the server announced %d (run the same command again to resume)", o.Source, n, total)
	}
	*closed = true
	if err := finish(f, h, o, n, res); err != nil {
		if errors.Is(err, ErrChecksum) {
			f.Close()
			os.Remove(part) // a wrong file is not worth resuming
		}
		return err
	}
	return nil
}

// interrupted syncs what was downloaded so the next run can resume it.
func interrupted(f *os.File, part string, kept int64, cause error, closed *bool) error {
	f.Sync()
	f.Close()
	*closed = true
	if kept == 0 {
		os.Remove(part)
	}
	return &InterruptedError{Partial: part, Kept: kept, Err: cause}
}

// rangeStart parses "bytes START-END/TOTAL".
func rangeStart(cr string) (int64, bool) {
	s, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	i := strings.IndexByte(s, '-')
	if i <= 0 {
		return 0, false
	}
	for _, c := range s[:i] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s[:i], 10, 64)
	return v, err == nil
}

// fileSHA256 is the SHA-256 of the file at path, in hexadecimal.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
