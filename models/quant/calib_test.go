package quant

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Golden values printed by CPython 3: random.seed(s); [random.randint(...) ...], random.random().
func TestPyRandomMatchesCPython(t *testing.T) {
	r := NewPyRandom(0)
	var got []int
	for i := 0; i < 5; i++ {
		got = append(got, r.RandInt(0, 117))
	}
	want := []int{108, 49, 97, 113, 53}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("seed 0 randint(0,117) = %v, CPython %v", got, want)
		}
	}
	if f := r.Random(); f != 0.04048437818077755 {
		t.Fatalf("random() = %v, CPython 0.04048437818077755", f)
	}
	r = NewPyRandom(12345678901)
	want = []int{991965, 625564, 343932}
	for i, w := range want {
		if g := r.RandInt(0, 1000000); g != w {
			t.Fatalf("seed 12345678901 draw %d = %d, CPython %d", i, g, w)
		}
	}
	r = NewPyRandom(0)
	want = []int{849735321549, 87705687125}
	for i, w := range want {
		if g := r.RandInt(0, 1<<40); g != w {
			t.Fatalf("seed 0 randint(0, 2**40) draw %d = %d, CPython %d", i, g, w)
		}
	}
}

type byteEncoder struct{}

func (byteEncoder) Encode(s string, addSpecial bool) ([]int, error) {
	ids := []int{}
	if addSpecial {
		ids = append(ids, 1)
	}
	for _, b := range []byte(s) {
		ids = append(ids, int(b))
	}
	return ids, nil
}

func TestWindows(t *testing.T) {
	docs := []string{"short", strings.Repeat("abcdefghij", 5), "tiny"}
	ws, err := Windows("x", docs, byteEncoder{}, 6, 20, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 6 {
		t.Fatalf("%d windows", len(ws))
	}
	long, _ := byteEncoder{}.Encode(docs[1], true)
	for _, w := range ws {
		if len(w) != 20 {
			t.Fatalf("window of %d tokens", len(w))
		}
		// every window is a slice of the only long document
		found := false
		for i := 0; i+20 <= len(long); i++ {
			ok := true
			for j := range w {
				if int(w[j]) != long[i+j] {
					ok = false
					break
				}
			}
			found = found || ok
		}
		if !found {
			t.Fatalf("window %v is not part of the long document", w)
		}
	}
	// same seed, same windows; short documents only: joined stream
	ws2, _ := Windows("x", docs, byteEncoder{}, 6, 20, 0)
	if string(toBytes(ws2[3])) != string(toBytes(ws[3])) {
		t.Fatal("windows are not reproducible")
	}
	if _, err := Windows("x", []string{"ab", "cd"}, byteEncoder{}, 2, 3, 0); err != nil {
		t.Fatalf("joined short documents: %v", err)
	}
	if _, err := Windows("x", []string{"ab"}, byteEncoder{}, 2, 30, 0); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("too-short text: err = %v", err)
	}
}

func toBytes(w []int32) []byte {
	b := make([]byte, len(w))
	for i, v := range w {
		b[i] = byte(v)
	}
	return b
}

func TestReadCalibration(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	docs, err := ReadCalibration(write("a.jsonl", "{\"text\": \"one\"}\n\n{\"text\": \"two\", \"url\": \"x\"}\n"))
	if err != nil || len(docs) != 2 || docs[1] != "two" {
		t.Fatalf("jsonl: %v %v", docs, err)
	}
	docs, err = ReadCalibration(write("b.txt", "first line\r\n\nsecond\n"))
	if err != nil || len(docs) != 2 || docs[0] != "first line" {
		t.Fatalf("text: %q %v", docs, err)
	}
	for name, s := range map[string]string{"empty.txt": " \n\n", "bad.jsonl": "{\"text\": 1}\n", "notext.jsonl": "{\"t\": \"a\"}\n"} {
		if _, err := ReadCalibration(write(name, s)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v, want an error naming the file", name, err)
		}
	}
}

func FuzzReadCalibration(f *testing.F) {
	f.Add([]byte("{\"text\": \"a\"}\n{\"text\": \"b\"}"))
	f.Add([]byte("plain\ntext\n"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "c.txt")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		docs, err := ReadCalibration(p)
		if err == nil && len(docs) == 0 {
			t.Fatal("no documents and no error")
		}
	})
}
