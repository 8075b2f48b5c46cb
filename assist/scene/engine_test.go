package scene

import (
	"context"
	"errors"
	"image"
	"image/color"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rpiq/rpiq/assist"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func sharedEngine(tb testing.TB, verbosity string) *Engine {
	tb.Helper()
	e := New(Options{
		Objects: visionFile(tb, "yolox_nano.onnx"), Classes: visionFile(tb, "coco.names"),
		Faces: visionFile(tb, "opencv_face_detector_uint8.pb"), FacesConfig: visionFile(tb, "opencv_face_detector.pbtxt"),
		Verbosity: verbosity, Log: quiet(), VLMWait: 300 * time.Millisecond,
	})
	for _, c := range e.Capabilities() {
		if c.Err != nil && c.Name != "textdet" { // the text-detection network is optional
			tb.Fatalf("%s: %v", c.Name, c.Err)
		}
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

func answer(tb testing.TB, e assist.Engine, img image.Image, q string) string {
	tb.Helper()
	var sb strings.Builder
	if err := e.Answer(context.Background(), img, q, func(p assist.Piece) error { sb.WriteString(p.Text); return nil }); err != nil {
		tb.Fatal(err)
	}
	return sb.String()
}

// TestEngineOnPhotos asks each question about the shared photos.
func TestEngineOnPhotos(t *testing.T) {
	e := sharedEngine(t, "normal")
	dog := readCV(t, visionFile(t, "dog.jpg"))
	got := answer(t, e, dog, "what is in front of me")
	t.Logf("dog.jpg: %s", got)
	for _, w := range []string{"A bicycle", "A dog", "A car, or possibly a truck"} {
		if !strings.Contains(got, w) {
			t.Errorf("dog.jpg: %q lacks %q", got, w)
		}
	}
	if i, j := strings.Index(got, "bicycle"), strings.Index(got, "dog"); i > j {
		t.Errorf("the bicycle (largest) should come first: %q", got)
	}
	messi := readCV(t, visionFile(t, "messi5.jpg"))
	people := answer(t, e, messi, "how many people")
	t.Logf("messi5.jpg: %s", people)
	if !strings.Contains(people, "facing you") {
		t.Errorf("messi5.jpg: %q: the face is not said", people)
	}
	eagle := readCV(t, visionFile(t, "eagle.jpg"))
	if got := answer(t, e, eagle, "describe"); !strings.HasPrefix(got, "A bird") {
		t.Errorf("eagle.jpg: %q", got)
	}
	if got := answer(t, e, eagle, "how many people"); got != "I don't see anyone." {
		t.Errorf("eagle.jpg people: %q", got)
	}
	blue := patch(640, 480, color.NRGBA{25, 35, 95, 255}, color.NRGBA{235, 235, 235, 255})
	if got := answer(t, e, blue, "what colour is this"); got != "It is dark blue." {
		t.Errorf("colour: %q", got)
	}
	if got := answer(t, e, blue, "is the light on"); got != "Yes, it is bright." {
		t.Errorf("light: %q", got)
	}
	if got := answer(t, e, blue, "is there text here"); got != "I don't see any text." {
		t.Errorf("text: %q", got)
	}
	if n := LiveMats(); n != 0 {
		t.Errorf("%d Mats left open", n)
	}
}

// TestEngineMissingModel: a missing object model and a damaged face model switch those parts
// off, the answer says so by file name, and colour and light keep working.
func TestEngineMissingModel(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "opencv_face_detector_uint8.pb")
	writeFile(t, bad, []byte("damaged"))
	e := New(Options{
		Objects: filepath.Join(dir, "yolox_nano.onnx"), Classes: visionFile(t, "coco.names"),
		Faces: bad, FacesConfig: visionFile(t, "opencv_face_detector.pbtxt"), Log: quiet(),
	})
	defer e.Close()
	caps := e.Capabilities()
	if caps[0].Err == nil || caps[1].Err == nil {
		t.Fatalf("capabilities: %+v", caps)
	}
	blue := patch(640, 480, color.NRGBA{25, 35, 95, 255}, color.NRGBA{235, 235, 235, 255})
	got := answer(t, e, blue, "what is in front of me")
	want := "I can't recognise objects: the model file yolox_nano.onnx is missing. I can't detect faces: the model file opencv_face_detector_uint8.pb is damaged. I don't see anything I recognise. It is dark blue."
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := answer(t, e, blue, "what colour is this"); got != "It is dark blue." {
		t.Errorf("colour: %q", got)
	}
	// Said once per run (issue 11): the next answers keep the rest, without the sentences.
	if got := answer(t, e, blue, "what is in front of me"); got != "I don't see anything I recognise. It is dark blue." {
		t.Errorf("second describe: %q", got)
	}
	if got := answer(t, e, blue, "how many people"); strings.Contains(got, "I can't") || got == "" {
		t.Errorf("people after the describe: %q", got)
	}
	// A new engine (a settings reload builds one) says it again, here for "how many people".
	e2 := New(Options{
		Objects: filepath.Join(dir, "yolox_nano.onnx"), Classes: visionFile(t, "coco.names"),
		Faces: bad, FacesConfig: visionFile(t, "opencv_face_detector.pbtxt"), Log: quiet(),
	})
	defer e2.Close()
	if got := answer(t, e2, blue, "how many people"); !strings.HasPrefix(got, "I can't recognise objects: the model file yolox_nano.onnx is missing. I can't detect faces:") {
		t.Errorf("after a reload: %q", got)
	}
	if got := answer(t, e2, blue, "what is in front of me"); got != "I don't see anything I recognise. It is dark blue." {
		t.Errorf("describe after people said it: %q", got)
	}
}

// fakeVLM stands in for the vision-language model (a 39 GB model this machine cannot run in a
// test): it answers, fails, or never answers.
type fakeVLM struct {
	mode    string
	prompt  string
	started time.Time     // "busy": when Answer began
	ended   chan struct{} // "busy": closed when Answer returns
}

func (f *fakeVLM) Name() string { return "vlm" }
func (f *fakeVLM) Answer(ctx context.Context, img image.Image, q string, emit func(assist.Piece) error) error {
	f.prompt = q
	switch f.mode {
	case "fail":
		return errors.New("out of memory")
	case "hang":
		<-ctx.Done()
		return ctx.Err()
	case "busy": // encoding a large picture: it sees ctx only when that is done
		f.started = time.Now()
		defer close(f.ended)
		time.Sleep(5 * time.Second)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if err := emit(assist.Piece{Text: "A brown dog sits by a bicycle.", Confidence: -1}); err != nil {
		return err
	}
	return nil
}

// TestDescribeWithVLM: with a vision-language model, "describe" goes to it with the findings in
// the prompt; when it fails or is too slow, the findings are the answer.
func TestDescribeWithVLM(t *testing.T) {
	e := sharedEngine(t, "brief")
	dog := readCV(t, visionFile(t, "dog.jpg"))
	v := &fakeVLM{}
	e.SetDelegate(v)
	if got := answer(t, e, dog, "what is in front of me"); got != "A brown dog sits by a bicycle." {
		t.Errorf("vlm answer: %q", got)
	}
	if !strings.Contains(v.prompt, "detector found") || !strings.Contains(v.prompt, "A dog") {
		t.Errorf("prompt lacks the findings: %q", v.prompt)
	}
	for _, mode := range []string{"fail", "hang"} {
		v.mode = mode
		start := time.Now()
		got := answer(t, e, dog, "what is in front of me")
		if !strings.Contains(got, "a dog") || !strings.Contains(got, "A bicycle") {
			t.Errorf("%s: fallback %q", mode, got)
		}
		if el := time.Since(start); mode == "hang" && el > 20*time.Second { // the detectors run first: generous under -race and load
			t.Errorf("hang: fell back after %v", el)
		}
	}
	// A model busy for longer than vlm_wait (a many-tile picture, which it cannot stop in the
	// middle of) does not hold the detectors' answer back.
	v.mode, v.ended = "busy", make(chan struct{})
	var spoke time.Time
	if err := e.Answer(context.Background(), dog, "what is in front of me", func(p assist.Piece) error {
		spoke = time.Now()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if d := spoke.Sub(v.started); d > 3*time.Second {
		t.Errorf("busy model: the detectors' answer came %v after the model was asked (vlm_wait 300 ms)", d)
	}
	<-v.ended
	// Colour questions never wait for the model.
	v.mode = "hang"
	if got := answer(t, e, dog, "what colour is this"); strings.Contains(got, "brown dog") {
		t.Errorf("colour went to the model: %q", got)
	}
}
