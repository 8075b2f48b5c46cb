package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

// MaxWAVBytes bounds what ReadWAV accepts (about 50 minutes of 48 kHz stereo 16-bit), so a
// corrupt or hostile header cannot make it allocate without limit.
const MaxWAVBytes = 512 << 20

// ErrBadWAV is wrapped by every error about a malformed WAV file.
var ErrBadWAV = errors.New("not a valid WAV file")

const (
	wavFormatPCM        = 1
	wavFormatFloat      = 3
	wavFormatExtensible = 0xFFFE
)

func wavErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadWAV, fmt.Sprintf(format, args...))
}

// ReadWAVFile reads a WAV file; errors name the file.
func ReadWAVFile(path string) (*PCM, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	defer f.Close()
	p, err := ReadWAV(f)
	if err != nil {
		return nil, fmt.Errorf("audio: %s: %w", path, err)
	}
	return p, nil
}

// ReadWAV decodes a RIFF/WAVE stream: integer PCM of 8, 16, 24 or 32 bits or 32/64-bit float,
// plain or WAVE_FORMAT_EXTENSIBLE, any channel count up to 8; samples are converted to 16 bits.
// A data chunk whose declared size runs past the end (as streaming writers such as
// `espeak-ng --stdout` leave it) is read to the end of the input.
func ReadWAV(r io.Reader) (*PCM, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxWAVBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxWAVBytes {
		return nil, wavErr("larger than %d bytes", MaxWAVBytes)
	}
	return parseWAV(b)
}

type wavFmt struct {
	format, channels     uint16
	rate                 uint32
	blockAlign, bits     uint16
	validBits, subFormat uint16
}

func parseWAV(b []byte) (*PCM, error) {
	if len(b) < 12 {
		return nil, wavErr("%d bytes is too short for a RIFF header (12 bytes)", len(b))
	}
	if string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, wavErr("header is %q...%q, expected \"RIFF\"...\"WAVE\"", b[0:4], b[8:12])
	}
	var f *wavFmt
	pos := 12
	for pos+8 <= len(b) {
		id := string(b[pos : pos+4])
		size := int64(binary.LittleEndian.Uint32(b[pos+4 : pos+8]))
		body := int64(pos + 8)
		end := body + size
		switch id {
		case "fmt ":
			if end > int64(len(b)) {
				return nil, wavErr("fmt chunk at byte %d declares %d bytes, only %d remain", pos, size, int64(len(b))-body)
			}
			parsed, err := parseFmt(b[body:end])
			if err != nil {
				return nil, err
			}
			f = parsed
		case "data":
			if f == nil {
				return nil, wavErr("data chunk at byte %d comes before the fmt chunk", pos)
			}
			if end > int64(len(b)) {
				end = int64(len(b)) // streaming writer: size unknown when the header was written
			}
			return decodeSamples(f, b[body:end])
		}
		if end > int64(len(b)) {
			break
		}
		pos = int(end + end&1) // chunks are padded to even sizes
	}
	if f == nil {
		return nil, wavErr("no fmt chunk")
	}
	return nil, wavErr("no data chunk")
}

func parseFmt(c []byte) (*wavFmt, error) {
	if len(c) < 16 {
		return nil, wavErr("fmt chunk is %d bytes, expected at least 16", len(c))
	}
	f := &wavFmt{
		format:     binary.LittleEndian.Uint16(c[0:2]),
		channels:   binary.LittleEndian.Uint16(c[2:4]),
		rate:       binary.LittleEndian.Uint32(c[4:8]),
		blockAlign: binary.LittleEndian.Uint16(c[12:14]),
		bits:       binary.LittleEndian.Uint16(c[14:16]),
	}
	if f.format == wavFormatExtensible {
		if len(c) < 40 {
			return nil, wavErr("extensible fmt chunk is %d bytes, expected 40", len(c))
		}
		f.validBits = binary.LittleEndian.Uint16(c[18:20])
		f.subFormat = binary.LittleEndian.Uint16(c[24:26]) // first two bytes of the sub-format GUID
		f.format = f.subFormat
	}
	if f.format != wavFormatPCM && f.format != wavFormatFloat {
		return nil, wavErr("fmt chunk: audio format %d, expected 1 (integer PCM) or 3 (float)", f.format)
	}
	if f.channels < 1 || f.channels > 8 {
		return nil, wavErr("fmt chunk: %d channels, expected 1..8", f.channels)
	}
	if f.rate < 1000 || f.rate > 384000 {
		return nil, wavErr("fmt chunk: sample rate %d Hz, expected 1000..384000", f.rate)
	}
	switch {
	case f.format == wavFormatPCM && (f.bits == 8 || f.bits == 16 || f.bits == 24 || f.bits == 32):
	case f.format == wavFormatFloat && (f.bits == 32 || f.bits == 64):
	default:
		return nil, wavErr("fmt chunk: %d bits per sample is not supported for format %d", f.bits, f.format)
	}
	if want := f.channels * (f.bits / 8); f.blockAlign != want {
		return nil, wavErr("fmt chunk: block align %d, expected %d for %d channels of %d bits", f.blockAlign, want, f.channels, f.bits)
	}
	return f, nil
}

func decodeSamples(f *wavFmt, d []byte) (*PCM, error) {
	width := int(f.bits / 8)
	n := len(d) / int(f.blockAlign) * int(f.channels) // drop a trailing partial frame
	out := make([]int16, n)
	for i := 0; i < n; i++ {
		s := d[i*width : (i+1)*width]
		switch {
		case f.format == wavFormatFloat && width == 4:
			out[i] = floatTo16(float64(math.Float32frombits(binary.LittleEndian.Uint32(s))))
		case f.format == wavFormatFloat:
			out[i] = floatTo16(math.Float64frombits(binary.LittleEndian.Uint64(s)))
		case width == 1:
			out[i] = int16(int(s[0])-128) << 8
		case width == 2:
			out[i] = int16(binary.LittleEndian.Uint16(s))
		case width == 3:
			out[i] = int16(uint16(s[1]) | uint16(s[2])<<8)
		default:
			out[i] = int16(binary.LittleEndian.Uint32(s) >> 16)
		}
	}
	return &PCM{Rate: int(f.rate), Channels: int(f.channels), Samples: out}, nil
}

func floatTo16(v float64) int16 {
	if math.IsNaN(v) {
		return 0
	}
	return clip16(v * 32767)
}

// EncodeWAV returns p as a 16-bit PCM WAV file.
func EncodeWAV(p *PCM) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	dataBytes := 2 * len(p.Samples)
	if dataBytes > math.MaxUint32-36 {
		return nil, fmt.Errorf("audio: %d samples do not fit in a WAV file", len(p.Samples))
	}
	var buf bytes.Buffer
	buf.Grow(44 + dataBytes)
	le := binary.LittleEndian
	buf.WriteString("RIFF")
	binary.Write(&buf, le, uint32(36+dataBytes))
	buf.WriteString("WAVEfmt ")
	binary.Write(&buf, le, uint32(16))
	binary.Write(&buf, le, uint16(wavFormatPCM))
	binary.Write(&buf, le, uint16(p.Channels))
	binary.Write(&buf, le, uint32(p.Rate))
	binary.Write(&buf, le, uint32(p.Rate*p.Channels*2))
	binary.Write(&buf, le, uint16(p.Channels*2))
	binary.Write(&buf, le, uint16(16))
	buf.WriteString("data")
	binary.Write(&buf, le, uint32(dataBytes))
	binary.Write(&buf, le, p.Samples)
	return buf.Bytes(), nil
}

// WriteWAVFile writes p to path atomically: a temporary file in the same folder, synced, then
// renamed over path, so a reader never sees half a file.
func WriteWAVFile(path string, p *PCM) error {
	b, err := EncodeWAV(p)
	if err != nil {
		return fmt.Errorf("audio: %s: %w", path, err)
	}
	return writeFileAtomic(path, b)
}

func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("audio: %w", err)
	}
	name := tmp.Name()
	_, werr := tmp.Write(b)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(name, path)
	}
	if werr != nil {
		os.Remove(name)
		return fmt.Errorf("audio: writing %s: %w", path, werr)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
