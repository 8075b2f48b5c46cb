package scene

import "testing"

func det(class string, score, x, y, w, h float64) Detection {
	return Detection{Class: class, Score: score, Box: Box{x, y, w, h}}
}

// TestDescribe: nearest and largest first, positions on the clock, counts, hedges, faces, and
// the three verbosities.
func TestDescribe(t *testing.T) {
	f := Findings{
		Width: 640, Height: 480, Light: Light{Mean: 60},
		Objects: []Detection{
			det("car", 0.8, 560, 100, 60, 40),     // small, far right
			det("person", 0.9, 100, 40, 120, 400), // big, 11 o'clock
			det("person", 0.7, 300, 60, 100, 330), // ahead
			det("truck", 0.31, 562, 101, 58, 40),  // the car's box again, another class
			det("dog", 0.4, 420, 300, 90, 80),     // unsure
		},
		Faces: []Detection{det("face", 0.95, 140, 60, 40, 50)}, // the first person's face
	}
	cases := map[string]string{
		"brief":    "Two people at 11 o'clock and ahead, possibly a dog and a car.",
		"normal":   "Two people, at 11 o'clock and ahead, both close, one facing you. Possibly a dog at 1 o'clock. A car, or possibly a truck, at 2 o'clock, far away.",
		"detailed": "Two people, at 11 o'clock and ahead, both close, one facing you. Possibly a dog at 1 o'clock. A car, or possibly a truck, at 2 o'clock, far away. It is bright.",
	}
	for v, want := range cases {
		if got := f.Describe(v); got != want {
			t.Errorf("%s:\n got %q\nwant %q", v, got, want)
		}
	}
	if got, want := f.PeopleSentence(), "Two people, at 11 o'clock and ahead, both close, one facing you."; got != want {
		t.Errorf("people: %q, want %q", got, want)
	}
	one := Findings{Width: 640, Height: 480, Light: Light{Mean: 60}, Faces: []Detection{det("face", 0.9, 300, 200, 40, 50)}}
	if got, want := one.PeopleSentence(), "One person ahead, facing you."; got != want {
		t.Errorf("face only: %q, want %q", got, want)
	}
	none := Findings{Width: 640, Height: 480, Light: Light{Mean: 10}, Off: []string{"I can't detect faces: the model file x.pb is missing."}}
	if got, want := none.PeopleSentence(), "I can't detect faces: the model file x.pb is missing. I don't see anyone, but it is dark."; got != want {
		t.Errorf("none: %q, want %q", got, want)
	}
	empty := Findings{Width: 640, Height: 480, Light: Light{Mean: 60}, Colours: []ColourShare{{"white", 0.9}}}
	if got, want := empty.Describe("normal"), "I don't see anything I recognise. It is white."; got != want {
		t.Errorf("empty: %q, want %q", got, want)
	}
}

func TestPlural(t *testing.T) {
	for in, want := range map[string]string{"person": "people", "bus": "buses", "dog": "dogs", "wine glass": "wine glasses", "knife": "knives", "bench": "benches", "box": "boxes"} {
		if got := plural(in); got != want {
			t.Errorf("plural(%q) = %q, want %q", in, got, want)
		}
	}
	if got := count(3, "person"); got != "three people" {
		t.Error(got)
	}
	if got := count(1, "umbrella"); got != "an umbrella" {
		t.Error(got)
	}
	if got := count(14, "car"); got != "14 cars" {
		t.Error(got)
	}
}
