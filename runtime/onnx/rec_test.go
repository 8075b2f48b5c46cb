package onnx

import (
	"math"
	"os"
	"syscall"
	"testing"
	"time"
)

// recInput is a synthetic 48×w picture in PP-OCR's normalisation ((v/255-0.5)/0.5): dark bars
// of varying width on a light background, the same in the three colour planes.
func recInput(n, w int) Tensor {
	t := Tensor{Shape: []int{n, 3, 48, w}, Data: make([]float32, n*3*48*w)}
	for b := 0; b < n; b++ {
		for c := 0; c < 3; c++ {
			for y := 0; y < 48; y++ {
				for x := 0; x < w; x++ {
					v := float32(0.9)
					if y > 10 && y < 38 && (x/(3+b))%4 == 0 {
						v = -0.8
					}
					t.Data[((b*3+c)*48+y)*w+x] = v
				}
			}
		}
	}
	return t
}

// TestRecognizer runs PP-OCRv4's recognizer when RPIQ_ONNX_REC names the file
// (ch_PP-OCRv4_rec_infer.onnx): the output must be [N, W/8, 6625] probabilities.
func TestRecognizer(t *testing.T) {
	path := os.Getenv("RPIQ_ONNX_REC")
	if path == "" {
		t.Skip("RPIQ_ONNX_REC not set")
	}
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ n, w int }{{1, 320}, {2, 160}} {
		in := recInput(c.n, c.w)
		t0 := time.Now()
		out, err := m.Run(map[string]Tensor{m.Inputs()[0]: in})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d×3×48×%d: %v", c.n, c.w, time.Since(t0))
		o := out[m.Outputs()[0]]
		if len(o.Shape) != 3 || o.Shape[0] != c.n || o.Shape[1] != c.w/8 || o.Shape[2] != 6625 {
			t.Fatalf("output shape %v, expected [%d %d 6625]", o.Shape, c.n, c.w/8)
		}
		for s := 0; s < c.n*c.w/8; s++ {
			sum := 0.0
			for _, v := range o.Data[s*6625 : (s+1)*6625] {
				if !(v >= 0 && v <= 1) {
					t.Fatalf("step %d: probability %v", s, v)
				}
				sum += float64(v)
			}
			if math.Abs(sum-1) > 1e-3 {
				t.Fatalf("step %d: probabilities sum to %v", s, sum)
			}
		}
	}
}

// BenchmarkRecognizer times one 48×320 crop (RPIQ_ONNX_REC names the model; RPIQ_THREADS sets
// the pool size).
func BenchmarkRecognizer(b *testing.B) {
	path := os.Getenv("RPIQ_ONNX_REC")
	if path == "" {
		b.Skip("RPIQ_ONNX_REC not set")
	}
	m, err := Load(path)
	if err != nil {
		b.Fatal(err)
	}
	in := map[string]Tensor{m.Inputs()[0]: recInput(1, 320)}
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := m.Run(in); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time (user+system, all threads) is steadier than wall time on a shared machine
	b.ReportMetric(float64(cpuTime()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestDetector runs PP-OCRv4's DBNet detector when RPIQ_ONNX_DET names the file
// (ch_PP-OCRv4_det_infer.onnx): the output is a [N, 1, H, W] probability map, and the
// synthetic text bars score higher than the empty background.
func TestDetector(t *testing.T) {
	path := os.Getenv("RPIQ_ONNX_DET")
	if path == "" {
		t.Skip("RPIQ_ONNX_DET not set")
	}
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	const h, w = 96, 160
	in := Tensor{Shape: []int{1, 3, h, w}, Data: make([]float32, 3*h*w)}
	for c := 0; c < 3; c++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := float32(0.9)
				if y >= 40 && y < 56 && x >= 24 && x < 136 && (x/3)%3 != 0 {
					v = -0.9
				}
				in.Data[(c*h+y)*w+x] = v
			}
		}
	}
	out, err := m.Run(map[string]Tensor{m.Inputs()[0]: in})
	if err != nil {
		t.Fatal(err)
	}
	o := out[m.Outputs()[0]]
	if len(o.Shape) != 4 || o.Shape[0] != 1 || o.Shape[1] != 1 || o.Shape[2] != h || o.Shape[3] != w {
		t.Fatalf("output shape %v, expected [1 1 %d %d]", o.Shape, h, w)
	}
	var text, bg float64
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := float64(o.Data[y*w+x])
			if !(v >= 0 && v <= 1) {
				t.Fatalf("probability %v at %d,%d", v, y, x)
			}
			if y >= 44 && y < 52 && x >= 40 && x < 120 {
				text = math.Max(text, v)
			}
			if y < 16 {
				bg = math.Max(bg, v)
			}
		}
	}
	t.Logf("text %.3f, background %.3f", text, bg)
	if text <= bg {
		t.Errorf("text region scores %.3f, background %.3f", text, bg)
	}
}

// BenchmarkDetector times the detector on a 1×3×320×480 page (RPIQ_ONNX_DET names the model).
func BenchmarkDetector(b *testing.B) {
	path := os.Getenv("RPIQ_ONNX_DET")
	if path == "" {
		b.Skip("RPIQ_ONNX_DET not set")
	}
	m, err := Load(path)
	if err != nil {
		b.Fatal(err)
	}
	x := recInput(1, 480) // 48 rows of bars, tiled down the page
	in := Tensor{Shape: []int{1, 3, 320, 480}, Data: make([]float32, 3*320*480)}
	for i := range in.Data {
		in.Data[i] = x.Data[i%len(x.Data)]
	}
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := m.Run(map[string]Tensor{m.Inputs()[0]: in}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
}
