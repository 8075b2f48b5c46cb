package ocr

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rpiq/rpiq/assist/imagefile"
	"github.com/rpiq/rpiq/assist/textimage"
	"github.com/rpiq/rpiq/internal/shareddata"
)

// The reading pipeline against the tesseract program (the same engine and data, default
// settings) on the same pictures: the shared OCR pages, labels generated here at several sizes,
// fonts, turns, contrasts and blur, and the ICDAR 2015 photos with their marked text regions.

// picture is one test picture: a file the tesseract program reads, the same picture decoded,
// and what it should read.
type picture struct {
	name     string
	path     string
	img      image.Image
	truth    []string          // ground-truth lines (nil for the photos)
	regions  []image.Rectangle // marked text regions (photos)
	upright  string            // for a turned label: the name of the same label upright
	medicine bool              // every line must be read and no number silently wrong
}

var medicine = []textimage.Line{
	{Text: "IBUPROFEN 200 mg", Size: 56, Font: textimage.Bold},
	{Text: "Take 1 tablet every 4 hours", Size: 24},
	{Text: "Lot 44821 Exp 03/2027", Size: 24},
}

// labelSpec describes a generated label.
type labelSpec struct {
	name     string
	lines    []textimage.Line
	o        textimage.Options
	turn     int     // quarter turns clockwise
	skew     float64 // degrees
	blur     int
	upright  string
	medicine bool
	full     bool // only in the benchmark's larger set
}

func labelSpecs() []labelSpec {
	green := color.RGBA{0, 110, 60, 255}
	sized := func(size float64, f textimage.Font) []textimage.Line {
		return []textimage.Line{{Text: "Best before 12 May 2027", Size: size, Font: f}, {Text: "Keep refrigerated after opening", Size: size, Font: f}, {Text: "Price 3.49 per pack", Size: size, Font: f}}
	}
	return []labelSpec{
		{name: "medicine", lines: medicine, o: textimage.Options{Width: 720, Height: 260}, medicine: true},
		{name: "medicine-90", lines: medicine, o: textimage.Options{Width: 720, Height: 260}, turn: 1, upright: "medicine", medicine: true},
		{name: "medicine-180", lines: medicine, o: textimage.Options{Width: 720, Height: 260}, turn: 2, upright: "medicine", medicine: true},
		{name: "medicine-270", lines: medicine, o: textimage.Options{Width: 720, Height: 260}, turn: 3, upright: "medicine", medicine: true, full: true},
		{name: "medicine-skew-12", lines: medicine, o: textimage.Options{Width: 720, Height: 400, Top: 150}, skew: 12, medicine: true},
		{name: "medicine-skew-8", lines: medicine, o: textimage.Options{Width: 720, Height: 400, Top: 150}, skew: -8, medicine: true, full: true},
		{name: "medicine-mono-blur1", lines: []textimage.Line{{Text: "PARACETAMOL 500 mg", Size: 44, Font: textimage.Bold}, {Text: "Lot 70913 Exp 11/2026", Size: 22, Font: textimage.Mono}}, o: textimage.Options{Width: 640, Height: 200}, blur: 1, medicine: true},
		{name: "heading-small-line", lines: []textimage.Line{{Text: "WELCOME", Size: 90, Font: textimage.Bold}, {Text: "please ring the bell", Size: 20}}, o: textimage.Options{Width: 640, Height: 260}},
		{name: "sign-white-on-green", lines: []textimage.Line{{Text: "Oxford Road", Size: 72, Font: textimage.Bold}}, o: textimage.Options{Width: 640, Height: 200, Ink: color.White, Paper: green, Top: 120}},
		{name: "low-contrast", lines: sized(30, textimage.Regular), o: textimage.Options{Width: 720, Height: 240, Ink: color.Gray{110}, Paper: color.Gray{150}}},
		{name: "size-16-mono", lines: sized(16, textimage.Mono), o: textimage.Options{Width: 480, Height: 140}, full: true},
		{name: "size-48-italic", lines: sized(48, textimage.Italic), o: textimage.Options{Width: 1000, Height: 330}, full: true},
		{name: "skew-5-blur2", lines: sized(30, textimage.Regular), o: textimage.Options{Width: 720, Height: 260}, skew: 5, blur: 2, full: true},
		{name: "white-on-black", lines: sized(30, textimage.Bold), o: textimage.Options{Width: 720, Height: 240, Ink: color.White, Paper: color.Black}, full: true},
	}
}

func (s labelSpec) render(t testing.TB) image.Image {
	img, err := textimage.RenderLines(s.lines, s.o)
	if err != nil {
		t.Fatal(err)
	}
	var out image.Image = img
	if s.skew != 0 {
		paper := s.o.Paper
		if paper == nil {
			paper = color.White
		}
		out = textimage.Rotate(out, s.skew, paper)
	}
	if s.blur > 0 {
		out = textimage.Blur(out, s.blur)
	}
	if s.turn != 0 {
		out = textimage.Turn(out, s.turn)
	}
	return out
}

// pictures builds the test set; full adds the larger benchmark set.
func pictures(t testing.TB, full bool) []picture {
	dir := t.TempDir()
	var ps []picture
	for _, s := range labelSpecs() {
		if s.full && !full {
			continue
		}
		img := s.render(t)
		path := filepath.Join(dir, s.name+".png")
		writePNG(t, path, img)
		var truth []string
		for _, l := range s.lines {
			truth = append(truth, l.Text)
		}
		ps = append(ps, picture{name: s.name, path: path, img: img, truth: truth, upright: s.upright, medicine: s.medicine})
	}
	pages := []string{"phototest"}
	if full {
		pages = append(pages, "eurotext", "8071_093.3B", "8087_054.3B")
	}
	for _, p := range pages {
		path := shareddata.Path(t, "ocr/"+p+".tif")
		img, err := imagefile.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(shareddata.Path(t, "ocr/"+p+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, picture{name: p, path: path, img: img, truth: nonEmptyLines(string(want))})
	}
	photos := icdar(t)
	for _, ph := range photos {
		if !full && ph.name != "img_8" {
			continue
		}
		ps = append(ps, ph)
	}
	return ps
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

func writePNG(t testing.TB, path string, img image.Image) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// icdar loads the ICDAR 2015 photos with their marked (not "ignore") regions.
func icdar(t testing.TB) []picture {
	var d struct {
		DataList []struct {
			ImgPath   string `json:"img_path"`
			Instances []struct {
				BBox   []float64 `json:"bbox"`
				Ignore bool      `json:"ignore"`
			} `json:"instances"`
		} `json:"data_list"`
	}
	b, err := os.ReadFile(shareddata.Path(t, "ocr/icdar2015-toy/textdet_test.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var ps []picture
	for _, e := range d.DataList {
		name := strings.TrimSuffix(filepath.Base(e.ImgPath), ".jpg")
		path := shareddata.Path(t, "ocr/icdar2015-toy/"+name+".jpg")
		img, err := imagefile.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		p := picture{name: name, path: path, img: img}
		for _, in := range e.Instances {
			if !in.Ignore && len(in.BBox) == 4 {
				p.regions = append(p.regions, image.Rect(int(in.BBox[0]), int(in.BBox[1]), int(in.BBox[2]), int(in.BBox[3])))
			}
		}
		ps = append(ps, p)
	}
	return ps
}

// cliWord is a word of the tesseract program's TSV output.
type cliWord struct {
	text string
	conf float64
	box  image.Rectangle
	line string // block/paragraph/line key
}

// tesseractCLI runs the tesseract program with its default settings on the pictures (one run
// over a list of them: its start-up is most of a small picture's time) and returns, for each,
// its text and words (TSV output: its text output with the boxes and confidences added).
func tesseractCLI(t testing.TB, paths []string) ([]string, [][]cliWord) {
	list := filepath.Join(t.TempDir(), "list.txt")
	if err := os.WriteFile(list, []byte(strings.Join(paths, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("tesseract", list, "-", "tsv")
	cmd.Env = append(os.Environ(), OMPThreadLimitEnv)
	out, err := cmd.Output()
	if err != nil {
		t.Errorf("tesseract: %v", err)
		return make([]string, len(paths)), make([][]cliWord, len(paths))
	}
	texts := make([]string, len(paths))
	words := make([][]cliWord, len(paths))
	last := ""
	for _, row := range strings.Split(string(out), "\n") {
		f := strings.Split(row, "\t")
		if len(f) < 12 || f[0] != "5" || strings.TrimSpace(f[11]) == "" {
			continue
		}
		n := make([]int, 10)
		for i := range n {
			n[i], _ = strconv.Atoi(f[i])
		}
		page := n[1] - 1
		if page < 0 || page >= len(paths) {
			continue
		}
		conf, _ := strconv.ParseFloat(f[10], 64)
		key := f[1] + "/" + f[2] + "/" + f[3] + "/" + f[4]
		w := cliWord{text: f[11], conf: conf, box: image.Rect(n[6], n[7], n[6]+n[8], n[7]+n[9]), line: key}
		words[page] = append(words[page], w)
		switch {
		case texts[page] == "":
		case key != last:
			texts[page] += "\n"
		default:
			texts[page] += " "
		}
		texts[page] += w.text
		last = key
	}
	return texts, words
}

// measure is what one reader did on one picture.
type measure struct {
	cer, recall float64
	missed      int // ground-truth lines with fewer than half their words read
	regions     int // marked regions with a word read in them
	text        string
}

func measureText(text string, truth []string) measure {
	want := strings.Join(truth, "\n")
	m := measure{cer: CER(text, want), recall: WordRecall(text, want), text: text}
	for _, l := range truth {
		if ws := strings.Fields(l); len(ws) > 0 && WordRecall(text, l)*2 < 1 {
			m.missed++
		}
	}
	return m
}

// regionsFound counts the marked regions holding the middle of a read word with a letter or
// digit in it.
func regionsFound(regions []image.Rectangle, boxes []image.Rectangle, texts []string) int {
	n := 0
	for _, r := range regions {
		grown := r.Inset(-max(2, r.Dy()/4))
		for i, b := range boxes {
			mid := image.Pt((b.Min.X+b.Max.X)/2, (b.Min.Y+b.Max.Y)/2)
			if hasAlnum(texts[i]) && mid.In(grown) {
				n++
				break
			}
		}
	}
	return n
}

type outcome struct {
	p         picture
	ours, cli measure
	page      Page
	elapsed   time.Duration
	// cliSure are the program's lines read with high confidence (every word at 80 or more).
	cliSure []string
	silent  []string // numbers read wrong and not hedged
}

// compare runs both readers on every picture; the tesseract program runs alongside ours.
func compare(t testing.TB, ps []picture) []outcome {
	e := engine(t)
	if _, err := exec.LookPath("tesseract"); err != nil {
		if os.Getenv("RPIQ_REQUIRE_DEPS") == "1" {
			t.Fatal(err)
		}
		t.Skip("the tesseract program is not installed (apt-get install tesseract-ocr)")
	}
	type cliOut struct {
		text  string
		words []cliWord
	}
	clis := make([]cliOut, len(ps))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var paths []string
		for _, p := range ps {
			paths = append(paths, p.path)
		}
		texts, words := tesseractCLI(t, paths)
		for i := range ps {
			clis[i] = cliOut{texts[i], words[i]}
		}
	}()
	outs := make([]outcome, len(ps))
	for i, p := range ps {
		start := time.Now()
		page, err := e.Read(context.Background(), p.img, ReadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		outs[i] = outcome{p: p, page: page, elapsed: time.Since(start)}
	}
	wg.Wait()
	for i, p := range ps {
		o := &outs[i]
		o.ours = measureText(o.page.Text(), p.truth)
		o.cli = measureText(clis[i].text, p.truth)
		if len(p.regions) > 0 {
			var boxes []image.Rectangle
			var texts []string
			for _, l := range o.page.Lines {
				for _, w := range l.Words {
					boxes = append(boxes, o.page.SourceBox(w.Box))
					texts = append(texts, w.Text)
				}
			}
			o.ours.regions = regionsFound(p.regions, boxes, texts)
			boxes, texts = nil, nil
			for _, w := range clis[i].words {
				boxes = append(boxes, w.box)
				texts = append(texts, w.text)
			}
			o.cli.regions = regionsFound(p.regions, boxes, texts)
		}
		// The program's confident lines.
		byLine := map[string][]cliWord{}
		var order []string
		for _, w := range clis[i].words {
			if _, ok := byLine[w.line]; !ok {
				order = append(order, w.line)
			}
			byLine[w.line] = append(byLine[w.line], w)
		}
		for _, k := range order {
			sure, alnum := true, false
			var ws []string
			for _, w := range byLine[k] {
				sure = sure && w.conf >= 80
				alnum = alnum || hasAlnum(w.text)
				ws = append(ws, w.text)
			}
			if sure && alnum {
				o.cliSure = append(o.cliSure, strings.Join(ws, " "))
			}
		}
		if p.truth != nil {
			o.silent = silentNumberErrors(o.page, p.truth)
		}
	}
	return outs
}

// silentNumberErrors lists the numbers the reading says that are not in the ground truth and
// that the reading does not hedge.
func silentNumberErrors(p Page, truth []string) []string {
	want := map[string]bool{}
	for _, l := range truth {
		for _, w := range strings.Fields(l) {
			want[w] = true
		}
	}
	var bad []string
	for _, l := range p.Lines {
		hedge := l.Hedge(60)
		for _, w := range l.Words {
			if hasDigit(w.Text) && !want[w.Text] && !strings.Contains(hedge, w.Text) {
				bad = append(bad, w.Text)
			}
		}
	}
	return bad
}

func report(t testing.TB, outs []outcome) {
	t.Logf("%-22s %8s %8s %7s %7s %6s %6s %7s %7s %8s  %s", "picture", "CER", "CER tes", "recall", "rec tes", "missed", "mis tes", "regions", "reg tes", "time", "numbers wrong, unhedged")
	for _, o := range outs {
		reg, regT := "", ""
		if len(o.p.regions) > 0 {
			reg, regT = fmt.Sprintf("%d/%d", o.ours.regions, len(o.p.regions)), fmt.Sprintf("%d/%d", o.cli.regions, len(o.p.regions))
		}
		if o.p.truth == nil {
			t.Logf("%-22s %8s %8s %7s %7s %6s %6s %7s %7s %8v", o.p.name, "", "", "", "", "", "", reg, regT, o.elapsed.Round(time.Millisecond))
			continue
		}
		t.Logf("%-22s %7.2f%% %7.2f%% %6.1f%% %6.1f%% %6d %6d %7s %7s %8v  %q", o.p.name, 100*o.ours.cer, 100*o.cli.cer, 100*o.ours.recall, 100*o.cli.recall, o.ours.missed, o.cli.missed, reg, regT, o.elapsed.Round(time.Millisecond), o.silent)
	}
}

// check asserts the pipeline's rules on every picture.
func check(t testing.TB, outs []outcome) {
	cerOf := map[string]float64{}
	for _, o := range outs {
		cerOf[o.p.name] = o.ours.cer
	}
	for _, o := range outs {
		p := o.p
		if p.truth != nil {
			if o.ours.recall < o.cli.recall-1e-9 {
				t.Errorf("%s: word recall %.3f below the tesseract program's %.3f\n--- ours\n%s\n--- tesseract\n%s", p.name, o.ours.recall, o.cli.recall, o.ours.text, o.cli.text)
			}
			if o.ours.missed > o.cli.missed {
				t.Errorf("%s: %d lines missed, the tesseract program %d\n--- ours\n%s", p.name, o.ours.missed, o.cli.missed, o.ours.text)
			}
		}
		if o.ours.regions < o.cli.regions {
			t.Errorf("%s: %d marked regions found, the tesseract program %d", p.name, o.ours.regions, o.cli.regions)
		}
		for _, l := range o.cliSure {
			if WordRecall(o.page.Text(), l) < 1 {
				t.Errorf("%s: the tesseract program's confident line %q is not in our reading\n%s", p.name, l, o.page.Text())
			}
		}
		if p.upright != "" {
			if up, ok := cerOf[p.upright]; ok && o.ours.cer > up+0.01 {
				t.Errorf("%s: CER %.2f%%, upright %.2f%%: more than 1 point worse", p.name, 100*o.ours.cer, 100*up)
			}
		}
		if p.medicine {
			if o.ours.missed > 0 {
				t.Errorf("%s: %d lines of a medicine label not read:\n%s", p.name, o.ours.missed, o.ours.text)
			}
			if len(o.silent) > 0 {
				t.Errorf("%s: numbers read wrong without a hedge: %q\n%s", p.name, o.silent, strings.Join(o.page.Speech(60), ""))
			}
		}
	}
}

// TestNeverBelowTesseract: on every picture of the (small) test set, the pipeline reads at least
// the words and lines the tesseract program reads, finds at least its marked photo regions, and
// drops none of its confident lines; turned labels read within 1 CER point of upright; medicine
// labels have every line read and no number silently wrong. The benchmark runs the larger set.
func TestNeverBelowTesseract(t *testing.T) {
	netFromEnv(t)
	outs := compare(t, pictures(t, false))
	report(t, outs)
	check(t, outs)
}

// BenchmarkReadVsTesseract prints the table for the full set (go test -run X -bench
// ReadVsTesseract -benchtime 1x ./assist/ocr/), and checks the same rules.
func BenchmarkReadVsTesseract(b *testing.B) {
	netFromEnv(b)
	ps := pictures(b, true)
	for i := 0; i < b.N; i++ {
		outs := compare(b, ps)
		if i == 0 {
			report(b, outs)
			sumO, sumC, regO, regC, regN := 0.0, 0.0, 0, 0, 0
			n := 0
			for _, o := range outs {
				if o.p.truth != nil {
					sumO += o.ours.recall
					sumC += o.cli.recall
					n++
				}
				regO += o.ours.regions
				regC += o.cli.regions
				regN += len(o.p.regions)
			}
			b.Logf("mean word recall: ours %.1f%%, tesseract %.1f%% (%d pictures); ICDAR regions found: ours %d/%d, tesseract %d/%d", 100*sumO/float64(n), 100*sumC/float64(n), n, regO, regN, regC, regN)
			check(b, outs)
		}
	}
}

// BenchmarkSceneTextDetectors: the ICDAR 2015 photos' marked regions found by the pipeline with
// each way of finding text in a photo alone — Tesseract's sparse-text mode (PSM 11), our rows of
// character-like marks (local threshold, connected parts) — and with both (go test -run X -bench
// SceneTextDetectors -benchtime 1x -v ./assist/ocr/).
func BenchmarkSceneTextDetectors(b *testing.B) {
	e := engine(b)
	photos := icdar(b)
	for i := 0; i < b.N; i++ {
		for _, c := range []struct {
			name string
			skip map[string]bool
		}{{"sparse mode only", map[string]bool{"rows": true}}, {"rows only", map[string]bool{"sparse": true}}, {"both", nil}} {
			found, total := 0, 0
			start := time.Now()
			for _, p := range photos {
				page, err := e.Read(context.Background(), p.img, ReadOptions{skip: c.skip})
				if err != nil {
					b.Fatal(err)
				}
				var boxes []image.Rectangle
				var texts []string
				for _, l := range page.Lines {
					for _, w := range l.Words {
						boxes = append(boxes, page.SourceBox(w.Box))
						texts = append(texts, w.Text)
					}
				}
				found += regionsFound(p.regions, boxes, texts)
				total += len(p.regions)
			}
			b.Logf("%-16s %d/%d marked regions found, %v for %d photos", c.name, found, total, time.Since(start).Round(time.Millisecond), len(photos))
		}
	}
}
