package scene_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rpiq/rpiq/assist"
	"github.com/rpiq/rpiq/assist/config"
	"github.com/rpiq/rpiq/assist/devices"
	"github.com/rpiq/rpiq/assist/speech"
	"github.com/rpiq/rpiq/assist/trigger"
	_ "github.com/rpiq/rpiq/assist/vlm" // the "vlm" engine
	"github.com/rpiq/rpiq/internal/shareddata"
	"github.com/rpiq/rpiq/kernels/cpu"
	"github.com/rpiq/rpiq/models/multimodal"
	"github.com/rpiq/rpiq/models/quant"
	"github.com/rpiq/rpiq/models/smolvlm"
	"github.com/rpiq/rpiq/runtime/cpubackend"
)

// vlmCacheKey names the cached benchmark checkpoints; change it when what smolvlm256M writes
// changes (sizes, seed, tokenizer, quantizer settings).
const vlmCacheKey = "bench-smolvlm-256m-gpt2tok-seed1-v1"

// smolvlm256M returns two SmolVLM-256M-Instruct-shaped model folders, as a caregiver would
// install them under [models] vlm: "float" (config.json as published, float32 weights drawn at
// random by smolvlm.WriteRandom, seed 1, and a tokenizer cut from GPT-2's, WriteGPT2Tokenizer)
// and "q4", the same quantized as `rpiq quantize --method rtn --bits 4` does (decoder 4-bit
// g128, vision 8-bit, connector and head kept). Nothing is downloaded: they are written by this
// code on first use (about a minute) and kept under the user cache folder (vlmCacheKey) for the
// next run. The weights are random: what the model says is nonsense, and only its timing counts.
func smolvlm256M(tb testing.TB) (floatDir, q4Dir string) {
	tb.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	root := filepath.Join(cache, "rpiq", vlmCacheKey)
	floatDir, q4Dir = filepath.Join(root, "float"), filepath.Join(root, "q4")
	if _, err := os.Stat(filepath.Join(q4Dir, "config.json")); err == nil {
		return floatDir, q4Dir
	}
	vocab, err := os.ReadFile(shareddata.Path(tb, "tokenizers/gpt2/vocab.json"))
	if err != nil {
		tb.Fatal(err)
	}
	merges, err := os.ReadFile(shareddata.Path(tb, "tokenizers/gpt2/merges.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		tb.Fatal(err)
	}
	tmp, err := os.MkdirTemp(root, ".partial-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	tf := filepath.Join(tmp, "float")
	if err := os.Mkdir(tf, 0o755); err != nil {
		tb.Fatal(err)
	}
	if _, err := smolvlm.WriteRandom(tf, smolvlm.Sizes256M, 1); err != nil {
		tb.Fatal(err)
	}
	if err := smolvlm.WriteGPT2Tokenizer(tf, smolvlm.Sizes256M, vocab, merges); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("wrote the random SmolVLM-256M in %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	// One calibration sample (rpiq quantize --calib: a picture, a question and an answer; rtn
	// uses it only for the report's errors): dog.jpg at one tile.
	vq, closeM, err := multimodal.Open(oneTile(tb, tf), cpubackend.New(cpu.DefaultThreads()))
	if err != nil {
		tb.Fatal(err)
	}
	defer closeM()
	img, err := multimodal.DecodeImageFile(vision(tb, "dog.jpg"))
	if err != nil {
		tb.Fatal(err)
	}
	im, err := vq.Model.PreprocessImage("dog.jpg", img)
	if err != nil {
		tb.Fatal(err)
	}
	in, err := vq.Model.Prompt(vq.Tok, im, "What is in front of me?")
	if err != nil {
		tb.Fatal(err)
	}
	ans, err := vq.Tok.Encode(" A dog beside a bicycle.", false)
	if err != nil {
		tb.Fatal(err)
	}
	for _, id := range ans {
		in.IDs = append(in.IDs, int32(id))
	}
	qz, ok := vq.Model.(multimodal.Quantizer)
	if !ok {
		tb.Fatal("SmolVLM has no quantizer")
	}
	tq := filepath.Join(tmp, "q4")
	// rpiq quantize's defaults for --method rtn --bits 4 (group 128, asymmetric, fp16 scales;
	// vision 8, adapter and head 16).
	o := multimodal.QuantOptions{Method: "rtn", Bits: 4, VisionBits: 8, AdapterBits: 16, HeadBits: 16,
		Stage1: quant.Config{Grid: quant.Grid{Bits: 4, ScaleFP16: true}, GroupSize: 128, Damp: 0.01, BlockSize: 128}}
	sum, err := qz.Quantize(tf, tq, []multimodal.Sample{{Input: in}}, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("quantized it (%s) in %v", sum.Parts, time.Since(start).Round(time.Millisecond))
	for _, d := range []string{"float", "q4"} {
		if err := os.Rename(filepath.Join(tmp, d), filepath.Join(root, d)); err != nil && !os.IsExist(err) {
			tb.Fatal(err)
		}
	}
	return floatDir, q4Dir
}

// oneTile is dir with a preprocessor_config.json whose longest edge is one tile (512 px): a
// camera frame becomes one 64-token image instead of the published default's 12 tiles and the
// global image (longest edge 2048).
func oneTile(tb testing.TB, dir string) string {
	tb.Helper()
	out := tb.TempDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range ents {
		if err := os.Symlink(filepath.Join(dir, e.Name()), filepath.Join(out, e.Name())); err != nil {
			tb.Fatal(err)
		}
	}
	pc := `{"do_resize": true, "size": {"longest_edge": 512}, "do_image_splitting": true, "max_image_size": {"longest_edge": 512}}`
	if err := os.WriteFile(filepath.Join(out, "preprocessor_config.json"), []byte(pc), 0o644); err != nil {
		tb.Fatal(err)
	}
	return out
}

// newVLMRig is the daemon's loop as newRig's, with the settings' own router: "describe" goes to
// the scene engine (YOLOX-Nano and the face detector from the shared data), which hands it to
// the vision-language model in vlmDir with its findings in the prompt (the path a caregiver's
// `[models] vlm = DIR` takes). wait is engines.vlm_wait.
func newVLMRig(tb testing.TB, synth speech.Synthesizer, vlmDir string, wait time.Duration) *rig {
	tb.Helper()
	w, h := 640, 480
	video := photoVideo(tb, "dog.jpg", w, h, 6)
	cfg := config.Default()
	cfg.Models.Dir = filepath.Dir(vision(tb, "yolox_nano.onnx"))
	cfg.Models.Objects, cfg.Models.Classes = "yolox_nano.onnx", "coco.names"
	cfg.Models.Faces, cfg.Models.FacesConfig = "opencv_face_detector_uint8.pb", "opencv_face_detector.pbtxt"
	cfg.Models.VLM = vlmDir
	cfg.Engines.VLMWait = wait.Seconds()
	cam, err := devices.OpenCamera(video, w, h, cfg.Camera.Burst)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cam.Close() })
	router := assist.NewRouter(cfg)
	router.SetLog(quiet())
	tb.Cleanup(router.Close)
	res := make(chan assist.Result, 4)
	a, err := assist.New(assist.Options{Config: cfg, Frames: cam, Router: router, Synth: synth, Sink: &speech.Recorder{}, Log: quiet(), Results: res})
	if err != nil {
		tb.Fatal(err)
	}
	return &rig{a: a, results: res}
}

func (r *rig) describeWithin(tb testing.TB, d time.Duration) assist.Result {
	r.a.Handle(context.Background(), trigger.Event{Command: trigger.Describe, Origin: trigger.FromVoice, Time: time.Now()})
	select {
	case res := <-r.results:
		if res.Err != nil {
			tb.Fatal(res.Err)
		}
		return res
	case <-time.After(d):
		tb.Fatal("no answer")
	}
	return assist.Result{}
}

// processCPU is this process's user + system time (all threads): on a shared machine, what a
// describe costs whatever the load; on an idle 2-core one the wall time is at least half of it.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func uptime() string {
	b, err := exec.Command("uptime").Output()
	if err != nil {
		return "uptime: " + err.Error()
	}
	return strings.TrimSpace(string(b))
}

// BenchmarkVLMDescribeLatency is "what is in front of me" answered by a vision-language model:
// the same rig and the same measurement as BenchmarkDescribeLatency (a 640x480 video of dog.jpg
// through OpenCV, the detectors, eSpeak NG, a recording sink; trigger to the first sample of
// speech), with [models] vlm set to a SmolVLM-256M-shaped folder with random weights
// (smolvlm256M), float32 and 4-bit, each with the published preprocessing (13 tiles for this
// frame) and with a one-tile preprocessor_config.json. engines.vlm_wait is raised to 10 minutes
// so that the model's own time is measured, not the detectors' fallback; the figure is compared
// with the default vlm_wait (10 s) in the log. The answer is normal verbosity's 96 tokens at
// most (vlm.MaxTokens); random weights say random words, so the first sentence ends wherever a
// full stop or a line break happens to fall: ms-first-token (the model's first piece of text)
// is the figure a real model's first word would follow by about one sentence of decoding.
// Threads: RPIQ_THREADS or GOMAXPROCS (2 here). Run:
//
//	go test -run '^$' -bench VLMDescribeLatency -benchtime 1x -timeout 60m ./assist/scene/
//
// (one describe after the first, which loads the model; -benchtime Nx loads it again for each
// round). ms-cpu is the process's CPU time per describe: the figure to trust on a loaded machine.
func BenchmarkVLMDescribeLatency(b *testing.B) {
	floatDir, q4Dir := smolvlm256M(b)
	synth := espeak(b)
	for _, c := range []struct{ name, dir string }{
		{"q4-1tile", oneTile(b, q4Dir)}, {"float-1tile", oneTile(b, floatDir)},
		{"q4-13tiles", q4Dir}, {"float-13tiles", floatDir},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := newVLMRig(b, synth, c.dir, 10*time.Minute)
			start := time.Now()
			res := r.describeWithin(b, 10*time.Minute) // loads the model (the daemon warms it at start)
			b.Logf("first describe, model load included: %v; trigger to first audio %v", time.Since(start).Round(time.Millisecond), res.Trace.FirstSample.Round(time.Millisecond))
			var sum assist.Trace
			var cpuSum time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c0 := processCPU()
				res := r.describeWithin(b, 10*time.Minute)
				cpuSum += processCPU() - c0
				sum.Capture += res.Trace.Capture
				sum.Engine += res.Trace.Engine
				sum.Synthesis += res.Trace.Synthesis
				sum.FirstSample += res.Trace.FirstSample
				sum.Total += res.Trace.Total
				b.Logf("%s: %s; said %d words (%d bytes); CPU %v; load: %s", c.name, res.Trace, len(strings.Fields(res.Text)), len(res.Text), (processCPU() - c0).Round(time.Millisecond), uptime())
				if i == 0 {
					b.Logf("said: %.200q", res.Text)
				}
			}
			n := float64(b.N)
			ms := func(d time.Duration) float64 { return float64(d) / 1e6 / n }
			b.ReportMetric(ms(sum.FirstSample), "ms-first-audio")
			b.ReportMetric(ms(sum.Capture+sum.Engine), "ms-first-token")
			b.ReportMetric(ms(sum.Synthesis), "ms-tts")
			b.ReportMetric(ms(sum.Total), "ms-whole-answer")
			b.ReportMetric(ms(cpuSum), "ms-cpu")
			if first := sum.FirstSample / time.Duration(b.N); first > 10*time.Second {
				b.Logf("%s: first audio %v is over the default engines.vlm_wait (10 s): the detectors would answer instead", c.name, first.Round(time.Millisecond))
			}
		})
	}
	fmt.Fprintln(os.Stderr, "load:", uptime())
}

// BenchmarkVLMFallbackLatency is BenchmarkVLMDescribeLatency's 4-bit model with the published
// preprocessing (13 tiles: slower than the default engines.vlm_wait of 10 s to its first word
// here) and vlm_wait at its default: trigger to the first audio of the detectors' answer, which
// must not wait for the model to finish encoding the picture.
//
//	go test -run '^$' -bench VLMFallbackLatency -benchtime 1x -timeout 30m ./assist/scene/
func BenchmarkVLMFallbackLatency(b *testing.B) {
	_, q4Dir := smolvlm256M(b)
	r := newVLMRig(b, espeak(b), q4Dir, 10*time.Second)
	r.describeWithin(b, 10*time.Minute) // loads the model
	var sum assist.Trace
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := r.describeWithin(b, 10*time.Minute)
		if !strings.Contains(res.Text, "dog") {
			b.Errorf("not the detectors' answer: %.200q", res.Text)
		}
		sum.FirstSample += res.Trace.FirstSample
		sum.Total += res.Trace.Total
		b.Logf("q4-13tiles, vlm_wait 10 s: %s; said %q; load: %s", res.Trace, res.Text, uptime())
	}
	n := float64(b.N)
	b.ReportMetric(float64(sum.FirstSample)/1e6/n, "ms-first-audio")
	b.ReportMetric(float64(sum.Total)/1e6/n, "ms-whole-answer")
}
