package trigger

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func collect(t *testing.T, tr Trigger) []Event {
	t.Helper()
	events := make(chan Event, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tr.Run(ctx, events); err != nil {
		t.Fatal(err)
	}
	close(events)
	var got []Event
	for e := range events {
		got = append(got, e)
	}
	return got
}

func commands(evs []Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Command.String())
	}
	return strings.Join(s, " ")
}

func TestTerminalKeys(t *testing.T) {
	in := " d\x1b[Ar\x1b[B\x1b[C\x1b[Dsx\n\x1b\x1b[15~q"
	got := collect(t, &Terminal{In: strings.NewReader(in)})
	want := "read describe louder repeat quieter faster slower stop read stop"
	if commands(got) != want {
		t.Fatalf("got %q\nwant %q", commands(got), want)
	}
	for _, e := range got {
		if e.Origin != FromKey || e.Time.IsZero() {
			t.Errorf("event %+v", e)
		}
	}
	// A custom map; names in any spelling.
	got = collect(t, &Terminal{In: strings.NewReader("ab "), Keys: KeyMap{"A": Stop, "KEY_SPACE": Repeat}})
	if commands(got) != "stop repeat" {
		t.Errorf("custom map: %q", commands(got))
	}
}

func TestTerminalStopsOnCancel(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	events := make(chan Event, 1)
	go func() { done <- (&Terminal{In: r}).Run(ctx, events) }()
	w.Write([]byte("s"))
	if e := <-events; e.Command != Stop {
		t.Fatalf("got %v", e)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func writeEvents(t *testing.T, evs ...InputEvent) string {
	t.Helper()
	var b []byte
	for _, e := range evs {
		b = append(b, EncodeInputEvent(e)...)
	}
	path := filepath.Join(t.TempDir(), "event0")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEvdev(t *testing.T) {
	now := time.Unix(1700000000, 123456000)
	code := func(n string) uint16 {
		c, ok := KeyCode(n)
		if !ok {
			t.Fatalf("no code for %s", n)
		}
		return c
	}
	path := writeEvents(t,
		InputEvent{Time: now, Type: evKey, Code: code("space"), Value: 1},         // press: read
		InputEvent{Time: now, Type: 0, Code: 0, Value: 0},                         // SYN_REPORT
		InputEvent{Time: now, Type: evKey, Code: code("space"), Value: 2},         // auto-repeat: ignored
		InputEvent{Time: now, Type: evKey, Code: code("space"), Value: 0},         // release: ignored
		InputEvent{Time: now, Type: evKey, Code: code("volumeup"), Value: 1},      // louder
		InputEvent{Time: now, Type: evKey, Code: code("KEY_PLAYPAUSE"), Value: 1}, // read
		InputEvent{Time: now, Type: evKey, Code: code("x"), Value: 1},             // unmapped
		InputEvent{Time: now, Type: 4, Code: 4, Value: 458792},                    // EV_MSC scan code
	)
	got := collect(t, &Evdev{Path: path})
	if commands(got) != "read louder read" {
		t.Fatalf("got %q", commands(got))
	}
	got = collect(t, &Evdev{Path: path, Keys: KeyMap{"57": Stop}})
	if commands(got) != "stop" {
		t.Errorf("numeric key code: %q", commands(got))
	}
	// Missing device: a clear error naming the path.
	err := (&Evdev{Path: "/dev/input/event99"}).Run(context.Background(), make(chan Event))
	if err == nil || !strings.Contains(err.Error(), "/dev/input/event99") {
		t.Errorf("missing device: %v", err)
	}
	// A truncated record is an error, not a hang or a panic.
	os.WriteFile(path, EncodeInputEvent(InputEvent{Type: evKey, Code: 57, Value: 1})[:10], 0o644)
	if err := (&Evdev{Path: path}).Run(context.Background(), make(chan Event, 1)); err == nil {
		t.Error("truncated event accepted")
	}
}

func TestInputEventRoundTrip(t *testing.T) {
	e := InputEvent{Time: time.Unix(12, 345000), Type: 1, Code: 115, Value: -3}
	got, err := ParseInputEvent(EncodeInputEvent(e))
	if err != nil || !got.Time.Equal(e.Time) || got.Type != e.Type || got.Code != e.Code || got.Value != e.Value {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if _, err := ParseInputEvent(make([]byte, 16)); err == nil {
		t.Error("accepted 16 bytes")
	}
	bad := EncodeInputEvent(e)
	binary.LittleEndian.PutUint64(bad[8:], 2000000)
	if _, err := ParseInputEvent(bad); err == nil {
		t.Error("accepted 2000000 microseconds")
	}
}

func FuzzParseInputEvent(f *testing.F) {
	f.Add(EncodeInputEvent(InputEvent{Time: time.Unix(1, 0), Type: 1, Code: 57, Value: 1}))
	f.Add(make([]byte, 24))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseInputEvent(b)
		if err != nil {
			return
		}
		if again, _ := ParseInputEvent(EncodeInputEvent(e)); again != e {
			t.Fatalf("re-encode changed %+v to %+v", e, again)
		}
	})
}

func FuzzTerminalKeys(f *testing.F) {
	f.Add([]byte(" d\x1b[A\x1b[15~\x1b"))
	f.Add([]byte("\x1b["))
	f.Add([]byte("\x1bO"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, k := range terminalKeys(b) {
			if k == "" {
				t.Fatal("empty key name")
			}
		}
	})
}

func TestKeyMapValidate(t *testing.T) {
	if err := DefaultKeys().Validate(); err != nil {
		t.Fatal(err)
	}
	err := KeyMap{"spacebar": ReadThis, "F13": Stop, "q": Stop}.Validate()
	if err == nil || !strings.Contains(err.Error(), `"spacebar"`) || !strings.Contains(err.Error(), `"F13"`) {
		t.Errorf("Validate: %v", err)
	}
	if err := (KeyMap{"q": Command(99)}).Validate(); err == nil {
		t.Error("accepted command 99")
	}
}

func TestParseCommand(t *testing.T) {
	for in, want := range map[string]Command{"read": ReadThis, "Read This": ReadThis, "describe": Describe,
		"what is in front of me": Describe, "softer": Quieter, "QUIETER": Quieter, "stop": Stop} {
		if got, err := ParseCommand(in); err != nil || got != want {
			t.Errorf("ParseCommand(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseCommand("jump"); err == nil || !strings.Contains(err.Error(), "read, describe") {
		t.Errorf("unknown command: %v", err)
	}
	for _, c := range Commands() {
		if back, err := ParseCommand(c.String()); err != nil || back != c {
			t.Errorf("round trip %v: %v %v", c, back, err)
		}
	}
}

type failing struct{ after time.Duration }

func (f failing) Run(ctx context.Context, _ chan<- Event) error {
	select {
	case <-time.After(f.after):
		return errors.New("unplugged")
	case <-ctx.Done():
		return nil
	}
}

func TestMerge(t *testing.T) {
	events := make(chan Event, 10)
	err := Merge(context.Background(), events, &Terminal{In: strings.NewReader("s")}, failing{50 * time.Millisecond}, failing{time.Hour})
	if err == nil || err.Error() != "unplugged" {
		t.Fatalf("Merge: %v", err)
	}
	if e := <-events; e.Command != Stop {
		t.Errorf("event %v", e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := Merge(ctx, events, failing{time.Hour}); err != nil {
		t.Errorf("cancelled Merge: %v", err)
	}
}

func FuzzParseDict(f *testing.F) {
	f.Add("read R IY D\nread(2) R EH D\n;; comment\nx\n")
	f.Add("a(\nb() B\n(c) K\n")
	f.Fuzz(func(t *testing.T, s string) {
		for w, prons := range parseDict(strings.NewReader(s), nil) {
			if w == "" || len(prons) == 0 {
				t.Fatalf("entry %q with %d pronunciations", w, len(prons))
			}
			for _, p := range prons {
				if strings.TrimSpace(p) == "" {
					t.Fatalf("empty pronunciation for %q", w)
				}
			}
		}
	})
}
