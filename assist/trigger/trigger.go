// Package trigger turns a button press or a spoken command into a Command event.
//
// Buttons are keys: a key on the terminal (stdin, read without waiting for Enter) or a key of an
// evdev input device under /dev/input (a USB or Bluetooth clicker, a headset's play button).
// Voice commands are spotted offline with PocketSphinx's keyphrase search, bound without cgo
// through purego, with a small embedded pronunciation dictionary (the stock one says "read" as
// "red", and keyphrase search only uses a word's first pronunciation).
//
// Every trigger implements Trigger: Run sends Events on a channel until its context ends.
package trigger

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Command is what the user asked for.
type Command int

const (
	None     Command = iota
	ReadThis         // read the text in front of the camera
	Describe         // describe the scene ("what is in front of me")
	Repeat           // say the last answer again
	Stop             // silence speech now
	Faster           // speak faster
	Slower           // speak slower
	Louder           // speak louder
	Quieter          // speak more quietly
	Colour           // "what colour is this": the colour in the middle of the picture
	Light            // "is the light on"
	People           // "how many people"
	TextHere         // "is there text here" (whether "read this" would find anything)
)

var commandNames = [...]string{
	None: "none", ReadThis: "read", Describe: "describe", Repeat: "repeat", Stop: "stop",
	Faster: "faster", Slower: "slower", Louder: "louder", Quieter: "quieter",
	Colour: "colour", Light: "light", People: "people", TextHere: "text",
}

// String is the command's configuration name ("read", "describe", ...).
func (c Command) String() string {
	if c < 0 || int(c) >= len(commandNames) {
		return fmt.Sprintf("trigger.Command(%d)", int(c))
	}
	return commandNames[c]
}

// Commands lists every real command, in a stable order.
func Commands() []Command {
	return []Command{ReadThis, Describe, Repeat, Stop, Faster, Slower, Louder, Quieter, Colour, Light, People, TextHere}
}

// ParseCommand reads a configuration name ("read", "describe", ...; "read this" also works).
func ParseCommand(s string) (Command, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	switch t {
	case "read this", "read_this", "readthis":
		return ReadThis, nil
	case "what is in front of me", "scene":
		return Describe, nil
	case "softer":
		return Quieter, nil
	case "color", "what colour is this", "what color is this":
		return Colour, nil
	case "is the light on":
		return Light, nil
	case "how many people":
		return People, nil
	case "text-here", "text_here", "is there text here":
		return TextHere, nil
	}
	for _, c := range Commands() {
		if c.String() == t {
			return c, nil
		}
	}
	var names []string
	for _, c := range Commands() {
		names = append(names, c.String())
	}
	return None, fmt.Errorf("trigger: unknown command %q; expected one of %s", s, strings.Join(names, ", "))
}

// Origin says which kind of trigger produced an event.
type Origin int

const (
	FromVoice Origin = iota + 1
	FromKey
	FromText // a typed question (assist ask)
)

func (o Origin) String() string {
	switch o {
	case FromVoice:
		return "voice"
	case FromKey:
		return "key"
	case FromText:
		return "text"
	}
	return fmt.Sprintf("trigger.Origin(%d)", int(o))
}

// Event is one trigger.
type Event struct {
	Command Command
	Origin  Origin
	Time    time.Time // when it was detected
	Phrase  string    // the words spotted, or the key's name
	// Offset is, for voice, where the phrase ended in the audio stream since the spotter started
	// (so tests can check it against the WAV); zero for keys.
	Offset time.Duration
	// Start is, for voice, where the phrase began in the stream.
	Start time.Duration
	// Score is, for voice, how much better the phrase explains the sound than any other speech
	// (PocketSphinx's phone loop), as a power of ten: the phrase is heard when Score is at least
	// Threshold. Zero for keys.
	Score, Threshold float64
	// Confirm is, for voice heard with the confirming pass, the phrase grammar's margin over a
	// phone loop on the island (powers of ten per 10 ms frame).
	Confirm float64
	// Warped is, for voice, whether the phrase was heard by the warped decoder (the second
	// keyphrase search, on by default) on an island the usual decoder gave no command on.
	Warped bool
	// Tempo is, for voice, whether the phrase was heard by the tempo decoder (round 11) on an
	// island neither the usual nor the warped decoder gave a command on.
	Tempo bool
	// Bent is, for voice, whether the phrase was heard by the bent decoder (round 13) on an
	// island none of the usual, the warped and the tempo decoder gave a command on.
	Bent bool
}

func (e Event) String() string {
	return fmt.Sprintf("%s (%s %q at %s)", e.Command, e.Origin, e.Phrase, e.Time.Format("15:04:05.000"))
}

// Trigger produces events until ctx ends (then it returns nil) or its input fails.
type Trigger interface {
	Run(ctx context.Context, events chan<- Event) error
}

// Merge runs triggers together, sending all their events to one channel, until ctx ends. It
// returns the first error of any trigger (the others are stopped) or nil.
func Merge(ctx context.Context, events chan<- Event, triggers ...Trigger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, t := range triggers {
		wg.Add(1)
		go func(t Trigger) {
			defer wg.Done()
			if err := t.Run(ctx, events); err != nil && ctx.Err() == nil {
				once.Do(func() { first = err })
				cancel()
			}
		}(t)
	}
	wg.Wait()
	return first
}

// send delivers e unless ctx ends first.
func send(ctx context.Context, events chan<- Event, e Event) bool {
	select {
	case events <- e:
		return true
	case <-ctx.Done():
		return false
	}
}
