package trigger

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// KeyMap maps key names to commands. Names are lower case: a printable character ("d", "+"),
// or a name from KeyNames ("space", "enter", "escape", "up", "volumeup", "playpause", "f1", ...).
// Evdev names may also be written as the kernel spells them ("KEY_SPACE") or as a decimal key
// code ("57").
type KeyMap map[string]Command

// DefaultKeys is a layout that works on a keyboard and on a media clicker.
func DefaultKeys() KeyMap {
	return KeyMap{
		"space": ReadThis, "enter": ReadThis, "playpause": ReadThis,
		"d": Describe, "r": Repeat, "s": Stop, "escape": Stop, "stopcd": Stop,
		"right": Faster, "left": Slower, "up": Louder, "down": Quieter,
		"volumeup": Louder, "volumedown": Quieter, "nextsong": Faster, "previoussong": Slower,
	}
}

// NormalizeKey returns the canonical name of a key as KeyMap uses it.
func NormalizeKey(name string) string {
	n := strings.TrimSpace(name)
	if len(n) == 1 {
		return strings.ToLower(n)
	}
	n = strings.ToLower(n)
	n = strings.TrimPrefix(n, "key_")
	switch n {
	case "esc":
		return "escape"
	case "return":
		return "enter"
	}
	if code, err := strconv.Atoi(n); err == nil {
		if name, ok := evdevNames[uint16(code)]; ok && code >= 0 && code < 1<<16 {
			return name
		}
	}
	return n
}

// Validate checks every key name against the keys a terminal or evdev device can send.
func (m KeyMap) Validate() error {
	known := map[string]bool{}
	for _, n := range evdevNames {
		known[n] = true
	}
	var bad []string
	for k, c := range m {
		if c <= None || int(c) >= len(commandNames) {
			return fmt.Errorf("trigger: key %q is mapped to an unknown command %d", k, c)
		}
		n := NormalizeKey(k)
		if len(n) == 1 && n[0] > ' ' && n[0] < 0x7f {
			continue
		}
		if !known[n] {
			bad = append(bad, fmt.Sprintf("%q", k))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("trigger: unknown key name(s) %s; use a single character or one of: space, enter, escape, tab, backspace, up, down, left, right, f1..f12, volumeup, volumedown, playpause", strings.Join(bad, ", "))
	}
	return nil
}

func (m KeyMap) lookup(name string) (Command, bool) {
	if c, ok := m[name]; ok {
		return c, true
	}
	for k, c := range m { // keys written in another spelling ("KEY_SPACE", "Space", "57")
		if NormalizeKey(k) == name {
			return c, true
		}
	}
	return None, false
}

// Terminal reads keys from a terminal (or any byte stream, such as a pipe in tests). On a real
// terminal it turns off line buffering and echo while it runs, so a key acts at once; Ctrl-C still
// sends SIGINT.
type Terminal struct {
	In   io.Reader
	Keys KeyMap // nil means DefaultKeys
}

// Run implements Trigger. It returns nil at end of input or when ctx ends.
func (t *Terminal) Run(ctx context.Context, events chan<- Event) error {
	keys := t.Keys
	if keys == nil {
		keys = DefaultKeys()
	}
	if f, ok := t.In.(*os.File); ok {
		if restore, err := cbreak(int(f.Fd())); err == nil {
			defer restore()
		}
	}
	type chunk struct {
		b   []byte
		err error
	}
	chunks := make(chan chunk)
	go func() { // a blocked terminal read cannot be cancelled; this goroutine ends at the next key
		r := bufio.NewReader(t.In)
		for {
			buf := make([]byte, 64)
			n, err := r.Read(buf)
			select {
			case chunks <- chunk{buf[:n], err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case c := <-chunks:
			for _, name := range terminalKeys(c.b) {
				if cmd, ok := keys.lookup(name); ok {
					if !send(ctx, events, Event{Command: cmd, Origin: FromKey, Time: time.Now(), Phrase: name}) {
						return nil
					}
				}
			}
			if c.err == io.EOF {
				return nil
			}
			if c.err != nil {
				return fmt.Errorf("trigger: reading keys: %w", c.err)
			}
		}
	}
}

// terminalKeys splits the bytes of one read into key names, decoding the escape sequences of
// arrow and function keys (ESC [ A ...). A lone ESC is the escape key.
func terminalKeys(b []byte) []string {
	var keys []string
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == 0x1b:
			if i+2 < len(b) && (b[i+1] == '[' || b[i+1] == 'O') {
				seq := b[i+2]
				if name, ok := map[byte]string{'A': "up", 'B': "down", 'C': "right", 'D': "left", 'P': "f1", 'Q': "f2", 'R': "f3", 'S': "f4", 'H': "home", 'F': "end"}[seq]; ok {
					keys = append(keys, name)
					i += 2
					continue
				}
				// ESC [ digits ~ (F5.., page up ...): skip the whole sequence.
				j := i + 2
				for j < len(b) && b[j] >= '0' && b[j] <= '9' || j < len(b) && b[j] == ';' {
					j++
				}
				if j < len(b) && b[j] == '~' {
					i = j
					continue
				}
			}
			keys = append(keys, "escape")
		case c == ' ':
			keys = append(keys, "space")
		case c == '\r' || c == '\n':
			keys = append(keys, "enter")
		case c == '\t':
			keys = append(keys, "tab")
		case c == 0x7f || c == 0x08:
			keys = append(keys, "backspace")
		case c > ' ' && c < 0x7f:
			keys = append(keys, strings.ToLower(string(rune(c))))
		}
	}
	return keys
}

// cbreak turns off canonical mode and echo on a terminal and returns a function that restores it.
func cbreak(fd int) (func(), error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err // not a terminal
	}
	raw := *old
	raw.Lflag &^= unix.ICANON | unix.ECHO
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, err
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}

// Evdev reads key presses from a Linux input device (/dev/input/eventN, or a symlink from
// /dev/input/by-id). Auto-repeat and releases are ignored.
type Evdev struct {
	Path string
	Keys KeyMap // nil means DefaultKeys
}

// evdev event constants from linux/input-event-codes.h.
const (
	evKey        = 0x01
	keyPress     = 1
	inputEvent64 = 24 // struct input_event with a 64-bit struct timeval
)

// ErrDeviceGone is returned when an input device is unplugged while it is being read.
var ErrDeviceGone = errors.New("the button device was disconnected")

// Run implements Trigger.
func (e *Evdev) Run(ctx context.Context, events chan<- Event) error {
	keys := e.Keys
	if keys == nil {
		keys = DefaultKeys()
	}
	f, err := os.Open(e.Path)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("trigger: button device %s: permission denied (add the user to the \"input\" group): %w", e.Path, err)
		}
		return fmt.Errorf("trigger: button device %s: %w", e.Path, err)
	}
	stop := context.AfterFunc(ctx, func() { f.Close() }) // unblocks the read
	defer stop()
	defer f.Close()
	r := bufio.NewReaderSize(f, 64*inputEvent64)
	buf := make([]byte, inputEvent64)
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if err == io.EOF {
				return nil // a recorded event file ends
			}
			if errors.Is(err, unix.ENODEV) {
				return fmt.Errorf("trigger: %s: %w", e.Path, ErrDeviceGone)
			}
			return fmt.Errorf("trigger: reading button device %s: %w", e.Path, err)
		}
		ev, err := ParseInputEvent(buf)
		if err != nil {
			return fmt.Errorf("trigger: %s: %w", e.Path, err)
		}
		if ev.Type != evKey || ev.Value != keyPress {
			continue
		}
		name, ok := evdevNames[ev.Code]
		if !ok {
			name = strconv.Itoa(int(ev.Code))
		}
		if cmd, ok := keys.lookup(name); ok {
			if !send(ctx, events, Event{Command: cmd, Origin: FromKey, Time: time.Now(), Phrase: name}) {
				return nil
			}
		}
	}
}

// InputEvent is a decoded struct input_event.
type InputEvent struct {
	Time  time.Time
	Type  uint16
	Code  uint16
	Value int32
}

// ParseInputEvent decodes one 24-byte struct input_event (64-bit time, as on amd64 and arm64).
func ParseInputEvent(b []byte) (InputEvent, error) {
	if len(b) != inputEvent64 {
		return InputEvent{}, fmt.Errorf("input event is %d bytes, expected %d", len(b), inputEvent64)
	}
	le := binary.LittleEndian
	sec := int64(le.Uint64(b[0:8]))
	usec := int64(le.Uint64(b[8:16]))
	if usec < 0 || usec >= 1e6 {
		return InputEvent{}, fmt.Errorf("input event time has %d microseconds, expected 0..999999", usec)
	}
	return InputEvent{
		Time:  time.Unix(sec, usec*1000),
		Type:  le.Uint16(b[16:18]),
		Code:  le.Uint16(b[18:20]),
		Value: int32(le.Uint32(b[20:24])),
	}, nil
}

// EncodeInputEvent is the inverse of ParseInputEvent, for tests and recorded event files.
func EncodeInputEvent(ev InputEvent) []byte {
	b := make([]byte, inputEvent64)
	le := binary.LittleEndian
	le.PutUint64(b[0:8], uint64(ev.Time.Unix()))
	le.PutUint64(b[8:16], uint64(ev.Time.Nanosecond()/1000))
	le.PutUint16(b[16:18], ev.Type)
	le.PutUint16(b[18:20], ev.Code)
	le.PutUint32(b[20:24], uint32(ev.Value))
	return b
}

// KeyCode returns the evdev code of a key name, for tests and recorded event files.
func KeyCode(name string) (uint16, bool) {
	n := NormalizeKey(name)
	for code, s := range evdevNames {
		if s == n {
			return code, true
		}
	}
	return 0, false
}

// evdevNames are the key codes of linux/input-event-codes.h a button is likely to send.
var evdevNames = map[uint16]string{
	1: "escape", 2: "1", 3: "2", 4: "3", 5: "4", 6: "5", 7: "6", 8: "7", 9: "8", 10: "9", 11: "0",
	12: "-", 13: "=", 14: "backspace", 15: "tab",
	16: "q", 17: "w", 18: "e", 19: "r", 20: "t", 21: "y", 22: "u", 23: "i", 24: "o", 25: "p",
	28: "enter", 30: "a", 31: "s", 32: "d", 33: "f", 34: "g", 35: "h", 36: "j", 37: "k", 38: "l",
	44: "z", 45: "x", 46: "c", 47: "v", 48: "b", 49: "n", 50: "m", 57: "space",
	59: "f1", 60: "f2", 61: "f3", 62: "f4", 63: "f5", 64: "f6", 65: "f7", 66: "f8", 67: "f9", 68: "f10",
	87: "f11", 88: "f12", 102: "home", 103: "up", 104: "pageup", 105: "left", 106: "right", 107: "end",
	108: "down", 109: "pagedown", 113: "mute", 114: "volumedown", 115: "volumeup",
	163: "nextsong", 164: "playpause", 165: "previoussong", 166: "stopcd",
	207: "play", 119: "pause", 226: "media", 212: "camera", 583: "assistant",
	272: "btn_left", 273: "btn_right", 274: "btn_middle", 256: "btn_0", 257: "btn_1", 304: "btn_south",
}
