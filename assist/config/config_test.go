package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestExampleFileIsValidAndComplete(t *testing.T) {
	cfg, err := Load("../../examples/assist.toml")
	if err != nil {
		t.Fatalf("examples/assist.toml: %v", err)
	}
	want := Default()
	want.Camera.Source = "../../examples/sample.png"
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("example differs from the defaults it documents:\n got %+v\nwant %+v", cfg, want)
	}
	// Every key of the schema is documented in the example.
	data, _ := os.ReadFile("../../examples/assist.toml")
	li, err := keyLines(data)
	if err != nil {
		t.Fatal(err)
	}
	var walk func(prefix []string)
	walk = func(prefix []string) {
		for _, k := range knownKeys(prefix) {
			full := strings.Join(append(append([]string{}, prefix...), k), ".")
			if _, ok := li[full]; !ok {
				t.Errorf("example does not document %s", full)
			}
			if sub := knownKeys(append(append([]string{}, prefix...), k)); len(sub) > 0 {
				walk(append(append([]string{}, prefix...), k))
			}
		}
	}
	walk(nil)
}

func TestProblemsNameLineAndField(t *testing.T) {
	src := `language = "en"
[speech]
rate_wpm = 900
pitch = 50
volum = 80
[camera]
source = ""
[engines]
read = "ocrr"
[trigger.phrases]
red = ["read this"]
stop = ["st0p"]
`
	_, err := Parse("c.toml", []byte(src))
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want Problems, got %v", err)
	}
	if !errors.Is(err, ErrBadConfig) {
		t.Error("Problems must match ErrBadConfig")
	}
	want := []struct {
		line  int
		field string
		has   string
	}{
		{3, "speech.rate_wpm", "80 to 450"},
		{5, "speech.volum", `did you mean "volume"`},
		{7, "camera.source", "must name a camera"},
		{9, "engines.read", `did you mean "ocr"`},
		{11, "trigger.phrases.red", `did you mean "read"`},
		{12, "trigger.phrases.stop", "plain words"},
	}
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	for i, w := range want {
		p := ps[i]
		if p.Line != w.line || p.Field != w.field || !strings.Contains(p.Msg, w.has) || p.File != "c.toml" {
			t.Errorf("problem %d = %s; want line %d field %s containing %q", i, p, w.line, w.field, w.has)
		}
	}
	if !strings.HasPrefix(ps[0].String(), "c.toml:3: speech.rate_wpm: ") {
		t.Errorf("String() = %q", ps[0].String())
	}
}

func TestSyntaxAndTypeErrorsHaveLines(t *testing.T) {
	cases := []struct {
		src  string
		line int
		has  string
	}{
		{"language = \"en\"\n[speech\nrate_wpm = 100\n", 2, "not valid TOML"},
		{"language = \"en\"\n\n[speech]\nrate_wpm = \"fast\"\n", 4, "number"},
		{"[trigger]\nvoice = \"yes\"\n", 2, "true or false"},
		{"[trigger]\nkeys = \"space\"\n", 2, "list"},
		{"language = \n", 1, "not valid TOML"},
	}
	for _, c := range cases {
		_, err := Parse("f.toml", []byte(c.src))
		var ps Problems
		if !errors.As(err, &ps) || len(ps) != 1 {
			t.Errorf("%q: want one problem, got %v", c.src, err)
			continue
		}
		if ps[0].Line != c.line || !strings.Contains(ps[0].Msg, c.has) {
			t.Errorf("%q: got %s; want line %d containing %q", c.src, ps[0], c.line, c.has)
		}
	}
}

func TestPartialFileKeepsDefaults(t *testing.T) {
	cfg, err := Parse("p.toml", []byte("[speech]\nrate_wpm = 300\n[trigger.phrases]\nread = [\"read it\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Speech.RateWPM != 300 || cfg.Speech.Pitch != 50 || cfg.Camera.Source != "0" {
		t.Errorf("got %+v", cfg.Speech)
	}
	if got := cfg.Trigger.Phrases["read"]; len(got) != 1 || got[0] != "read it" {
		t.Errorf("read phrases = %v", got)
	}
	if got := cfg.Trigger.Phrases["stop"]; len(got) != 1 || got[0] != "stop" {
		t.Errorf("stop phrases lost: %v", got)
	}
}

func TestPathsAreRelativeToTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.toml")
	os.WriteFile(path, []byte("[camera]\nsource = \"cam.avi\"\n[models]\nvlm = \"/abs/vlm\"\ntessdata = \"td\"\n"), 0o644)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Camera.Source != filepath.Join(dir, "cam.avi") || cfg.Models.VLM != "/abs/vlm" || cfg.Models.Tessdata != filepath.Join(dir, "td") {
		t.Errorf("got %+v %+v", cfg.Camera, cfg.Models)
	}
	for _, src := range []string{"0", "rtsp://cam/x", "v4l2src ! appsink"} {
		os.WriteFile(path, []byte("[camera]\nsource = \""+src+"\"\n"), 0o644)
		if cfg, _ := Load(path); cfg.Camera.Source != src {
			t.Errorf("%q became %q", src, cfg.Camera.Source)
		}
	}
}

func TestKeyNames(t *testing.T) {
	if _, err := Parse("k.toml", []byte("[trigger]\nkeys = [\"space\", \"f5\", \"x\", \"KEY_ENTER\", \"volumeup\"]\n")); err != nil {
		t.Errorf("good keys: %v", err)
	}
	_, err := Parse("k.toml", []byte("[trigger]\nkeys = [\"spcae\"]\n"))
	if err == nil || !strings.Contains(err.Error(), `k.toml:2: trigger.keys: unknown key name(s) "spcae"`) {
		t.Errorf("bad key: %v", err)
	}
}

func TestDebugCaptureNeedsDir(t *testing.T) {
	_, err := Parse("p.toml", []byte("[privacy]\ndebug_capture = true\n"))
	if err == nil || !strings.Contains(err.Error(), "p.toml:1: privacy.debug_dir") {
		t.Errorf("got %v", err)
	}
}

func TestWatcherKeepsLastGoodAndAnnouncesOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.toml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("[speech]\nrate_wpm = 200\n")
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWatcher(path, cfg)
	if _, changed, err := w.Poll(); changed || err != nil {
		t.Fatalf("unchanged file: changed=%v err=%v", changed, err)
	}
	write("[speech]\nrate_wpm = 9000\n")
	if c, changed, err := w.Poll(); changed || err == nil || c.Speech.RateWPM != 200 {
		t.Fatalf("broken edit: changed=%v err=%v rate=%d", changed, err, c.Speech.RateWPM)
	}
	if c, changed, err := w.Poll(); changed || err != nil || c.Speech.RateWPM != 200 {
		t.Fatalf("broken edit announced twice: changed=%v err=%v", changed, err)
	}
	write("[speech]\nrate_wpm = 250\n")
	if c, changed, err := w.Poll(); !changed || err != nil || c.Speech.RateWPM != 250 {
		t.Fatalf("fixed edit: changed=%v err=%v rate=%d", changed, err, c.Speech.RateWPM)
	}
	os.Remove(path)
	if c, _, err := w.Poll(); err == nil || c.Speech.RateWPM != 250 {
		t.Fatalf("removed file: err=%v", err)
	}
}

func TestSuggest(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"rate", "rate_wpm"}, {"volum", "volume"}, {"pich", "pitch"}, {"zzzzzz", ""},
	} {
		if got := suggest(c.in, knownKeys([]string{"speech"})); got != c.want {
			t.Errorf("suggest(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	ex, _ := os.ReadFile("../../examples/assist.toml")
	f.Add(ex)
	f.Add([]byte("[speech]\nrate_wpm = 900\n"))
	f.Add([]byte("[trigger.phrases]\nred = [\"x\"]\n[[a]]\nb=1\n"))
	f.Add([]byte("a.b.c = {d = [1, 2, {e = 3}]}\n"))
	f.Add([]byte("language = \"\\u0000\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.toml", data)
		if err == nil {
			if ps := validate(&cfg); len(ps) != 0 {
				t.Fatalf("accepted an invalid config: %v", ps)
			}
			return
		}
		var ps Problems
		if !errors.As(err, &ps) || len(ps) == 0 {
			t.Fatalf("error is not Problems: %v", err)
		}
		for _, p := range ps {
			if p.Msg == "" || p.File != "fuzz.toml" {
				t.Fatalf("empty problem: %+v", p)
			}
		}
	})
}

// A phrase given to two commands is a problem on the command the file changed.
func TestPhraseClash(t *testing.T) {
	_, err := Parse("c.toml", []byte("[trigger.phrases]\nrepeat = [\"again\"]\nread = [\"read this\", \"Stop\"]\n"))
	if err == nil || !strings.Contains(err.Error(), `c.toml:3: trigger.phrases.read: "Stop" is also a phrase of the stop command`) || strings.Contains(err.Error(), "trigger.phrases.stop") {
		t.Errorf("clash: %v", err)
	}
	if _, err := Parse("c.toml", []byte("[trigger.phrases]\nread = [\"read this\", \"read it\"]\n")); err != nil {
		t.Errorf("no clash: %v", err)
	}
}
