package speech

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
)

// Program is eSpeak NG run as a subprocess (`espeak-ng --stdout`), one process per sentence: the
// arm's-length alternative to ESpeak for a distributor who wants a process boundary between
// this program and the GPL-licensed synthesiser. It costs a process start (60-90 ms here) per
// sentence.
type Program struct {
	Path string // the espeak-ng program; default found in $PATH
	rate int
}

// ErrNoProgram is wrapped when the espeak-ng program cannot be run.
var ErrNoProgram = errors.New("the espeak-ng program is not installed (apt-get install espeak-ng)")

// OpenProgram finds the program and learns its sample rate by synthesising a short word.
func OpenProgram(path string) (*Program, error) {
	if path == "" {
		p, err := exec.LookPath("espeak-ng")
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoProgram, err)
		}
		path = p
	}
	p := &Program{Path: path}
	var rate int
	err := p.run(context.Background(), "a", DefaultVoice, func(r int) { rate = r }, func([]int16) bool { return true })
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoProgram, err)
	}
	p.rate = rate
	return p, nil
}

// SampleRate implements Synthesizer.
func (p *Program) SampleRate() int { return p.rate }

// Synthesize implements Synthesizer: the PCM is handed over as the program writes it.
func (p *Program) Synthesize(ctx context.Context, text string, v Voice, chunk func([]int16) bool) error {
	if err := v.Validate(); err != nil {
		return err
	}
	return p.run(ctx, text, v, func(r int) {}, chunk)
}

func (p *Program) run(ctx context.Context, text string, v Voice, rate func(int), chunk func([]int16) bool) error {
	name := v.Name
	if name == "" {
		name = "en"
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := false
	cmd := exec.CommandContext(ctx, p.Path, "--stdout", "-v", name, "-s", strconv.Itoa(v.RateWPM),
		"-p", strconv.Itoa(v.Pitch), "-a", strconv.Itoa(v.Volume))
	cmd.Stdin = strings.NewReader(strings.ReplaceAll(text, "\x00", " "))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	r := bufio.NewReaderSize(out, 1<<14)
	sr, perr := readWAVHeader(r)
	if perr == nil {
		rate(sr)
		buf := make([]byte, 2*sr/50) // 20 ms
		for {
			n, err := io.ReadFull(r, buf)
			n &^= 1
			if n > 0 {
				s := make([]int16, n/2)
				for i := range s {
					s[i] = int16(binary.LittleEndian.Uint16(buf[2*i:]))
				}
				if !chunk(s) {
					stopped = true
					cancel()
					break
				}
			}
			if err != nil {
				break
			}
		}
	}
	io.Copy(io.Discard, r)
	werr := cmd.Wait()
	if stopped {
		return nil
	}
	if err := parent.Err(); err != nil {
		return err
	}
	if perr != nil {
		return fmt.Errorf("speech: espeak-ng wrote no WAV: %v (%s)", perr, strings.TrimSpace(stderr.String()))
	}
	if werr != nil {
		return fmt.Errorf("speech: espeak-ng: %v (%s)", werr, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// readWAVHeader reads a RIFF/WAVE header up to the data chunk and returns the sample rate. It
// accepts only what espeak-ng writes: 16-bit mono PCM; the data size (which espeak-ng leaves
// unknown when writing to a pipe) is ignored.
func readWAVHeader(r *bufio.Reader) (int, error) {
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return 0, err
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return 0, errors.New("not a RIFF/WAVE stream")
	}
	rate := 0
	for i := 0; i < 16; i++ {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return 0, err
		}
		size := binary.LittleEndian.Uint32(ch[4:])
		switch string(ch[0:4]) {
		case "fmt ":
			if size < 16 || size > 64 {
				return 0, fmt.Errorf("fmt chunk of %d bytes", size)
			}
			f := make([]byte, size)
			if _, err := io.ReadFull(r, f); err != nil {
				return 0, err
			}
			if binary.LittleEndian.Uint16(f[0:]) != 1 || binary.LittleEndian.Uint16(f[2:]) != 1 || binary.LittleEndian.Uint16(f[14:]) != 16 {
				return 0, errors.New("not 16-bit mono PCM")
			}
			rate = int(binary.LittleEndian.Uint32(f[4:]))
			if rate < 8000 || rate > 96000 {
				return 0, fmt.Errorf("sample rate %d", rate)
			}
		case "data":
			if rate == 0 {
				return 0, errors.New("data before fmt")
			}
			return rate, nil
		default:
			if size > 1<<16 {
				return 0, fmt.Errorf("chunk %q of %d bytes", ch[0:4], size)
			}
			if _, err := r.Discard(int(size + size&1)); err != nil {
				return 0, err
			}
		}
	}
	return 0, errors.New("no data chunk")
}
