package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestWAVRoundTrip(t *testing.T) {
	for _, ch := range []int{1, 2} {
		p := &PCM{Rate: 22050, Channels: ch}
		for i := 0; i < 1000*ch; i++ {
			p.Samples = append(p.Samples, int16(i*37-16000))
		}
		path := filepath.Join(t.TempDir(), "x.wav")
		if err := WriteWAVFile(path, p); err != nil {
			t.Fatal(err)
		}
		q, err := ReadWAVFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if q.Rate != p.Rate || q.Channels != p.Channels || !equal16(q.Samples, p.Samples) {
			t.Fatalf("channels %d: round trip changed the audio: %d Hz x%d, %d samples", ch, q.Rate, q.Channels, len(q.Samples))
		}
		if d := q.Duration(); d < 45e6 || d > 46e6 {
			t.Errorf("duration %v, expected 1000/22050 s", d)
		}
	}
}

func equal16(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// wavBytes builds a WAV by hand, independently of EncodeWAV.
func wavBytes(format, channels uint16, rate uint32, bits uint16, data []byte, extensible bool) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	fmtLen := uint32(16)
	if extensible {
		fmtLen = 40
	}
	b.WriteString("RIFF")
	binary.Write(&b, le, uint32(4+8+fmtLen+8+uint32(len(data))))
	b.WriteString("WAVE")
	b.WriteString("LIST") // an unrelated chunk of odd size before fmt, to test padding
	binary.Write(&b, le, uint32(3))
	b.Write([]byte{1, 2, 3, 0})
	b.WriteString("fmt ")
	binary.Write(&b, le, fmtLen)
	tag := format
	if extensible {
		tag = wavFormatExtensible
	}
	binary.Write(&b, le, tag)
	binary.Write(&b, le, channels)
	binary.Write(&b, le, rate)
	binary.Write(&b, le, rate*uint32(channels)*uint32(bits/8))
	binary.Write(&b, le, channels*bits/8)
	binary.Write(&b, le, bits)
	if extensible {
		binary.Write(&b, le, uint16(22))
		binary.Write(&b, le, bits)
		binary.Write(&b, le, uint32(0))
		binary.Write(&b, le, format)
		b.Write([]byte{0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71})
	}
	b.WriteString("data")
	binary.Write(&b, le, uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

func TestWAVFormats(t *testing.T) {
	le := binary.LittleEndian
	want := []int16{0, 16384, -16384, 32767}
	cases := []struct {
		name   string
		format uint16
		bits   uint16
		enc    func(v float64) []byte // v in [-1, 1)
		tol    int
	}{
		{"u8", 1, 8, func(v float64) []byte { return []byte{byte(int(math.Round(v*128)) + 128)} }, 256},
		{"s16", 1, 16, func(v float64) []byte { return le.AppendUint16(nil, uint16(int16(math.Round(v*32767)))) }, 1},
		{"s24", 1, 24, func(v float64) []byte {
			x := int32(math.Round(v * 8388607))
			return []byte{byte(x), byte(x >> 8), byte(x >> 16)}
		}, 1},
		{"s32", 1, 32, func(v float64) []byte { return le.AppendUint32(nil, uint32(int32(math.Round(v*2147483647)))) }, 1},
		{"f32", 3, 32, func(v float64) []byte { return le.AppendUint32(nil, math.Float32bits(float32(v))) }, 1},
		{"f64", 3, 64, func(v float64) []byte { return le.AppendUint64(nil, math.Float64bits(v)) }, 1},
	}
	for _, c := range cases {
		for _, ext := range []bool{false, true} {
			var data []byte
			for _, w := range want {
				v := float64(w) / 32767
				if c.bits == 8 && w == 32767 {
					v = 127.0 / 128
				}
				data = append(data, c.enc(v)...)
			}
			p, err := ReadWAV(bytes.NewReader(wavBytes(c.format, 1, 8000, c.bits, data, ext)))
			if err != nil {
				t.Fatalf("%s extensible=%v: %v", c.name, ext, err)
			}
			if p.Rate != 8000 || p.Channels != 1 || len(p.Samples) != len(want) {
				t.Fatalf("%s: got %d Hz x%d, %d samples", c.name, p.Rate, p.Channels, len(p.Samples))
			}
			for i, w := range want {
				if d := int(p.Samples[i]) - int(w); d > c.tol || d < -c.tol {
					t.Errorf("%s extensible=%v sample %d: got %d, want %d", c.name, ext, i, p.Samples[i], w)
				}
			}
		}
	}
}

func TestWAVStreamingSize(t *testing.T) {
	// espeak-ng --stdout and other streaming writers leave 0xFFFFFFFF-ish sizes in the header.
	b := wavBytes(1, 1, 16000, 16, []byte{1, 0, 2, 0, 3, 0}, false)
	binary.LittleEndian.PutUint32(b[len(b)-6-4:], 0x7fffffff)
	p, err := ReadWAV(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if !equal16(p.Samples, []int16{1, 2, 3}) {
		t.Fatalf("got %v", p.Samples)
	}
}

func TestWAVErrors(t *testing.T) {
	good := wavBytes(1, 1, 16000, 16, []byte{1, 0}, false)
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	fmtAt := bytes.Index(good, []byte("fmt ")) + 8
	cases := map[string][]byte{
		"empty":        nil,
		"not riff":     mut(func(b []byte) []byte { copy(b, "RIFX"); return b }),
		"no fmt":       mut(func(b []byte) []byte { copy(b[fmtAt-8:], "junk"); return b }),
		"no data":      mut(func(b []byte) []byte { copy(b[len(b)-10:], "junk"); return b }),
		"mp3 format":   mut(func(b []byte) []byte { b[fmtAt] = 0x55; return b }),
		"zero chans":   mut(func(b []byte) []byte { b[fmtAt+2] = 0; return b }),
		"bad rate":     mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[fmtAt+4:], 7); return b }),
		"12 bits":      mut(func(b []byte) []byte { b[fmtAt+14] = 12; return b }),
		"bad align":    mut(func(b []byte) []byte { b[fmtAt+12] = 7; return b }),
		"short fmt":    mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[fmtAt-4:], 4); return b }),
		"huge fmt":     mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[fmtAt-4:], 1<<31); return b }),
		"header only":  good[:12],
		"truncated 20": good[:20],
	}
	for name, b := range cases {
		_, err := ReadWAV(bytes.NewReader(b))
		if !errors.Is(err, ErrBadWAV) {
			t.Errorf("%s: got %v, want an ErrBadWAV error", name, err)
		}
	}
	// The file name is in the error.
	path := filepath.Join(t.TempDir(), "broken.wav")
	os.WriteFile(path, []byte("RIFF1234WAVEnope"), 0o644)
	if _, err := ReadWAVFile(path); err == nil || !bytes.Contains([]byte(err.Error()), []byte("broken.wav")) {
		t.Errorf("error %v does not name the file", err)
	}
}

func TestWAVFromESpeak(t *testing.T) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		if os.Getenv("RPIQ_REQUIRE_DATA") == "1" {
			t.Fatal("espeak-ng is required")
		}
		t.Skip("espeak-ng not installed")
	}
	path := filepath.Join(t.TempDir(), "hello.wav")
	if out, err := exec.Command("espeak-ng", "-w", path, "hello world").CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng: %v %s", err, out)
	}
	p, err := ReadWAVFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rate != 22050 || p.Channels != 1 || p.Duration() < 500e6 || p.Peak() < 5000 {
		t.Fatalf("espeak WAV: %d Hz x%d, %v, peak %d", p.Rate, p.Channels, p.Duration(), p.Peak())
	}
	// And the stdout form, whose header sizes are unknown when written.
	out, err := exec.Command("espeak-ng", "--stdout", "hello world").Output()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ReadWAV(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if q.Frames() < p.Frames()/2 {
		t.Fatalf("stdout WAV has %d frames, file has %d", q.Frames(), p.Frames())
	}
}

func FuzzReadWAV(f *testing.F) {
	f.Add(wavBytes(1, 1, 16000, 16, []byte{1, 0, 2, 0}, false))
	f.Add(wavBytes(3, 2, 48000, 32, make([]byte, 16), true))
	f.Add(wavBytes(1, 1, 8000, 8, []byte{128, 129, 3}, false))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEdata\xff\xff\xff\xff"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ReadWAV(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrBadWAV) {
				t.Fatalf("error %v does not wrap ErrBadWAV", err)
			}
			return
		}
		if p.validate() != nil {
			t.Fatalf("accepted an invalid PCM: %v", p.validate())
		}
		if 2*len(p.Samples) > 4*len(b) {
			t.Fatalf("%d samples from %d bytes", len(p.Samples), len(b))
		}
		// What was read writes and reads back the same.
		enc, err := EncodeWAV(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := ReadWAV(bytes.NewReader(enc))
		if err != nil || !equal16(p.Samples, q.Samples) {
			t.Fatalf("re-encode failed: %v", err)
		}
	})
}
