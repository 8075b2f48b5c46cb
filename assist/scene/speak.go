package scene

import (
	"fmt"
	"image"
	"sort"
	"strings"
)

// Findings is what the detectors and the light and colour measures found in one picture.
type Findings struct {
	Width, Height int
	Objects       []Detection // YOLOX, best first
	Faces         []Detection // res10 SSD
	Light         Light
	Colours       []ColourShare // of the middle of the picture
	// Off lists the capabilities that could not run, each as a sentence to say ("I can't
	// recognise objects: the model file yolox_nano.onnx is missing.").
	Off []string

	img image.Image // the picture, for the colour of each thing in detailed descriptions
}

// spokenName turns the COCO label into the word a person says.
var spokenName = map[string]string{
	"motorbike": "motorbike", "aeroplane": "aeroplane", "sofa": "sofa", "pottedplant": "potted plant",
	"diningtable": "table", "tvmonitor": "television", "cell phone": "mobile phone",
	"sports ball": "ball", "hair drier": "hair dryer", "face": "face",
}

// plural forms that do not take a plain "s".
var irregular = map[string]string{
	"person": "people", "mouse": "mice", "sheep": "sheep", "knife": "knives", "skis": "skis",
	"scissors": "scissors", "bus": "buses", "couch": "couches", "bench": "benches", "sandwich": "sandwiches",
	"toothbrush": "toothbrushes", "wine glass": "wine glasses", "glass": "glasses", "broccoli": "broccoli",
	"hot dog": "hot dogs", "teddy bear": "teddy bears",
}

func word(class string) string {
	if s, ok := spokenName[class]; ok {
		return s
	}
	return class
}

func plural(name string) string {
	if p, ok := irregular[name]; ok {
		return p
	}
	for _, suf := range []string{"s", "x", "ch", "sh"} {
		if strings.HasSuffix(name, suf) {
			return name + "es"
		}
	}
	return name + "s"
}

var numberWords = []string{"no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"}

// count says n things: "a dog", "two dogs", "15 dogs".
func count(n int, name string) string {
	switch {
	case n == 1:
		return article(name) + " " + name
	case n < len(numberWords):
		return numberWords[n] + " " + plural(name)
	}
	return fmt.Sprintf("%d %s", n, plural(name))
}

func article(name string) string {
	if name != "" && strings.ContainsRune("aeiou", rune(name[0])) {
		return "an"
	}
	return "a"
}

// clock is the position of a horizontal centre (0 left edge .. 1 right edge) as a wearer's
// clock face: the picture is split in fifths, 10 to 2 o'clock, 12 said as "ahead".
func clock(x float64) string {
	switch {
	case x < 0.2:
		return "at 10 o'clock"
	case x < 0.4:
		return "at 11 o'clock"
	case x <= 0.6:
		return "ahead"
	case x <= 0.8:
		return "at 1 o'clock"
	}
	return "at 2 o'clock"
}

// side is the same position in words for light: left, ahead, right.
func side(x float64) string {
	switch {
	case x < 0.35:
		return "on your left"
	case x > 0.65:
		return "on your right"
	}
	return "ahead"
}

// distance says "close" or "far away" from how much of the picture the box fills (a wearer's
// camera: something filling most of the frame is within reach).
func distance(b Box, w, h int) string {
	f := max(b.W/float64(w), b.H/float64(h))
	switch {
	case f >= 0.6:
		return "close"
	case f < 0.15:
		return "far away"
	}
	return ""
}

// hedge is said before a name the detector is not sure of.
func hedge(score float64) string {
	switch {
	case score < 0.45:
		return "possibly "
	case score < 0.6:
		return "probably "
	}
	return ""
}

// thing is one detection as spoken, with the faces that belong to it and any lower-scored
// other class for the same box ("a car, or possibly a truck").
type thing struct {
	d        Detection
	facing   bool
	alt      []string
	faceOnly bool // a face with no person box around it: its box is the face's
}

// dist says how near the thing is; a face alone is a small box even close by.
func (t thing) dist(w, h int) string {
	if !t.faceOnly {
		return distance(t.d.Box, w, h)
	}
	switch f := t.d.Box.H / float64(h); {
	case f >= 0.3:
		return "close"
	case f < 0.05:
		return "far away"
	}
	return ""
}

// group is one kind of thing, the biggest first.
type group struct {
	name   string
	things []thing
}

// arrange merges each box that another class already names (a car also seen as a truck), marks
// people whose face is visible, adds faces without a person box as people, and groups by kind,
// nearest and largest first.
func (f Findings) arrange() []group {
	var things []thing
	objs := append([]Detection(nil), f.Objects...)
	sort.SliceStable(objs, func(i, j int) bool { return objs[i].Score > objs[j].Score })
	for _, d := range objs {
		merged := false
		for i := range things {
			if things[i].d.Class != d.Class && iou(things[i].d.Box, d.Box) > 0.6 {
				things[i].alt = append(things[i].alt, word(d.Class))
				merged = true
				break
			}
		}
		if !merged {
			things = append(things, thing{d: d})
		}
	}
	for _, face := range f.Faces {
		inside := false
		for i := range things {
			t := &things[i]
			if t.d.Class == "person" && contains(t.d.Box, face.Box) {
				t.facing, inside = true, true
				break
			}
		}
		if !inside {
			things = append(things, thing{d: Detection{Class: "person", Score: face.Score, Box: face.Box}, facing: true, faceOnly: true})
		}
	}
	sort.SliceStable(things, func(i, j int) bool { return things[i].d.Box.area() > things[j].d.Box.area() })
	var groups []group
	idx := map[string]int{}
	for _, t := range things {
		n := word(t.d.Class)
		i, ok := idx[n]
		if !ok {
			i = len(groups)
			idx[n] = i
			groups = append(groups, group{name: n})
		}
		groups[i].things = append(groups[i].things, t)
	}
	return groups
}

// contains reports whether most of inner lies in outer.
func contains(outer, inner Box) bool {
	x1, y1 := max(outer.X, inner.X), max(outer.Y, inner.Y)
	x2, y2 := min(outer.X+outer.W, inner.X+inner.W), min(outer.Y+outer.H, inner.Y+inner.H)
	in := max(x2-x1, 0) * max(y2-y1, 0)
	return inner.area() > 0 && in/inner.area() > 0.6
}

func (f Findings) centreX(b Box) float64 { return (b.X + b.W/2) / float64(max(f.Width, 1)) }

// positions lists the distinct positions of a group's things, in order.
func (f Findings) positions(g group) []string {
	var ps []string
	seen := map[string]bool{}
	for _, t := range g.things {
		p := clock(f.centreX(t.d.Box))
		if !seen[p] {
			seen[p] = true
			ps = append(ps, p)
		}
	}
	return ps
}

// Describe says what is in the picture as a person would, nearest and largest first:
//
//	brief:    "A dog ahead, a bicycle and a car."
//	normal:   "A dog ahead, close. A bicycle ahead. A car at 1 o'clock, or possibly a truck."
//	detailed: the same for everything found, with each thing's colour, and the light.
func (f Findings) Describe(verbosity string) string {
	var s []string
	s = append(s, f.Off...)
	groups := f.arrange()
	if f.Light.Mean < darkL && f.Width > 0 {
		s = append(s, "It is dark, so I may miss things.")
	}
	if len(groups) == 0 {
		msg := "I don't see anything I recognise."
		if len(f.Colours) > 0 && verbosity != "brief" {
			msg += " " + f.ColourSentence()
		}
		return strings.Join(append(s, msg), " ")
	}
	limit := map[string]int{"brief": 3, "normal": 5, "detailed": 12}[verbosity]
	if limit == 0 {
		limit = 5
	}
	shown := groups
	if len(shown) > limit {
		shown = shown[:limit]
	}
	if verbosity == "brief" {
		var parts []string
		for i, g := range shown {
			p := hedge(best(g)) + count(len(g.things), g.name)
			if i == 0 {
				p += " " + strings.Join(f.positions(g), " and ")
			}
			parts = append(parts, p)
		}
		s = append(s, capital(joinAnd(parts))+".")
	} else {
		for _, g := range shown {
			s = append(s, f.groupSentence(g, verbosity == "detailed"))
		}
		if n := len(groups) - len(shown); n > 0 {
			s = append(s, fmt.Sprintf("And %s more.", count(n, "other thing")))
		}
	}
	if verbosity == "detailed" {
		if ls := f.LightSentence(); ls != "" {
			s = append(s, ls)
		}
	}
	return strings.Join(s, " ")
}

func best(g group) float64 {
	b := 0.0
	for _, t := range g.things {
		b = max(b, t.d.Score)
	}
	return b
}

// groupSentence: "Two people, at 11 o'clock and ahead, one facing you." or "A dog ahead, close."
func (f Findings) groupSentence(g group, detailed bool) string {
	if len(g.things) == 1 {
		t := g.things[0]
		p := hedge(t.d.Score) + count(1, g.name)
		if detailed {
			if c := f.boxColour(t.d.Box); c != "" && t.d.Class != "person" {
				p = hedge(t.d.Score) + article(c) + " " + c + " " + g.name
			}
		}
		for _, a := range t.alt {
			p += ", or possibly " + article(a) + " " + a + ","
		}
		p += " " + clock(f.centreX(t.d.Box))
		if d := t.dist(f.Width, f.Height); d != "" {
			p += ", " + d
		}
		if t.facing {
			p += ", facing you"
		}
		return capital(p) + "."
	}
	p := hedge(best(g)) + count(len(g.things), g.name) + ", " + joinAnd(f.positions(g))
	near, facing := 0, 0
	for _, t := range g.things {
		if t.dist(f.Width, f.Height) == "close" {
			near++
		}
		if t.facing {
			facing++
		}
	}
	if near > 0 {
		p += fmt.Sprintf(", %s close", numberOr(near, len(g.things)))
	}
	if facing > 0 {
		p += fmt.Sprintf(", %s facing you", numberOr(facing, len(g.things)))
	}
	return capital(p) + "."
}

// numberOr is "one", "two" ... or "all" when n is the whole group.
func numberOr(n, all int) string {
	if n == all {
		if all == 2 {
			return "both"
		}
		return "all"
	}
	if n < len(numberWords) {
		return numberWords[n]
	}
	return fmt.Sprint(n)
}

// boxColour is the main colour of the middle of a box (detailed descriptions).
func (f Findings) boxColour(b Box) string {
	if f.img == nil {
		return ""
	}
	r := image.Rect(int(b.X), int(b.Y), int(b.X+b.W), int(b.Y+b.H)).Intersect(f.img.Bounds())
	if r.Empty() {
		return ""
	}
	cs := CentreColours(subImage{f.img, r})
	if len(cs) == 0 || cs[0].Share < 0.4 {
		return ""
	}
	return cs[0].Name
}

// PeopleSentence answers "how many people".
func (f Findings) PeopleSentence() string {
	var s []string
	s = append(s, f.Off...)
	for _, g := range f.arrange() {
		if g.name == "person" {
			return strings.Join(append(s, capital(strings.Replace(f.groupSentence(g, false), "A person", "One person", 1))), " ")
		}
	}
	msg := "I don't see anyone."
	if f.Light.Mean < darkL && f.Width > 0 {
		msg = "I don't see anyone, but it is dark."
	}
	return strings.Join(append(s, msg), " ")
}

// ColourSentence names the colours in the middle of the picture: "It is dark blue.", "It is
// blue and white.", "Mostly white, with some light grey."
func (f Findings) ColourSentence() string {
	cs := f.Colours
	if len(cs) == 0 {
		return "I can't tell the colour."
	}
	if f.Light.Mean < darkL {
		return "It is too dark to tell the colour; it looks " + cs[0].Name + "."
	}
	switch {
	case cs[0].Share >= 0.7 || len(cs) == 1:
		return "It is " + cs[0].Name + "."
	case cs[1].Share >= 0.25:
		return "It is " + cs[0].Name + " and " + cs[1].Name + "."
	}
	return "Mostly " + cs[0].Name + ", with some " + cs[1].Name + "."
}

// LightSentence says how light it is and where a bright light is.
func (f Findings) LightSentence() string {
	l := f.Light
	var s string
	switch {
	case l.Mean < darkL:
		s = "The room is dark."
	case l.Mean < dimL:
		s = "It is dim."
	default:
		s = "It is bright."
	}
	if l.Source {
		where := side(l.SourceX)
		if l.SourceY < 0.3 {
			where += ", up high"
		}
		s += " There is a bright light " + where + "."
	}
	return s
}

// LightOnSentence answers "is the light on".
func (f Findings) LightOnSentence() string {
	l := f.Light
	switch {
	case l.Mean < darkL && !l.Source:
		return "It looks dark: the light seems to be off."
	case l.Mean < darkL:
		return "It is dark, but there is a light " + side(l.SourceX) + "."
	case l.Mean < dimL && l.Source:
		return "There is some light, but it is dim. There is a light " + side(l.SourceX) + "."
	case l.Mean < dimL:
		return "There is some light, but it is dim."
	}
	if l.Source {
		return "Yes, it is bright. There is a bright light " + side(l.SourceX) + "."
	}
	return "Yes, it is bright."
}

func joinAnd(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// subImage is a window on an image (image.Image has no SubImage).
type subImage struct {
	image.Image
	r image.Rectangle
}

func (s subImage) Bounds() image.Rectangle { return s.r }
