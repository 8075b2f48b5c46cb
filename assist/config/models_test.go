package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestModelsSection: the detector files are names in the model folder (relative to the
// configuration's folder), absolute paths stay, and each key is checked.
func TestModelsSection(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.toml")
	os.WriteFile(path, []byte("[models]\ndir = \"models\"\nfaces = \"/opt/faces.pb\"\n"), 0o644)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Models.Path(cfg.Models.Objects); got != filepath.Join(dir, "models", "yolox_nano.onnx") {
		t.Errorf("objects: %s", got)
	}
	if got := cfg.Models.Path(cfg.Models.Faces); got != "/opt/faces.pb" {
		t.Errorf("faces: %s", got)
	}
	fs := cfg.ModelFiles()
	if len(fs) != 7 || fs[6].Field != "models.text_detector" || fs[4].Field != "models.text_recognizer" || fs[5].Capability != "the text-recognition network" || fs[0].Field != "models.objects" || fs[0].Capability != "object recognition" {
		t.Errorf("model files: %+v", fs)
	}
	t.Setenv("XDG_DATA_HOME", "/data")
	if got := Default().Models.Folder(); got != "/data/assist/models" {
		t.Errorf("default folder: %s", got)
	}

	bad := []struct{ file, want string }{
		{"[models]\nobjects = \"\"\n", "m.toml:2: models.objects: object recognition needs both models.objects and models.classes"},
		{"[models]\nfaces_config = \"\"\n", "m.toml:2: models.faces_config: face detection needs both"},
		{"[models]\ntext_dictionary = \"\"\n", "m.toml:2: models.text_dictionary: the text-recognition network needs both models.text_recognizer and models.text_dictionary"},
		{"[models]\ntext_recognizer = \"rec.pdmodel\"\n", `m.toml:2: models.text_recognizer: "rec.pdmodel" is not a .onnx file`},
		{"[models]\ntext_detector = \"det.pdmodel\"\n", `m.toml:2: models.text_detector: "det.pdmodel" is not a .onnx file`},
		{"[models]\nobjects = \"yolox.pt\"\n", `m.toml:2: models.objects: "yolox.pt" is not a .onnx file`},
		{"[models]\nfaces = \"models/\"\n", "names a folder"},
		{"[models]\nvlm = \"cogvlm2/model.safetensors\"\n", "m.toml:2: models.vlm: \"cogvlm2/model.safetensors\" is a file; name the model's folder"},
		{"[models]\nvlm = \" cogvlm2\"\n", "m.toml:2: models.vlm: \" cogvlm2\" is not a folder name"},
		{"[models]\nobject = \"x.onnx\"\n", `m.toml:2: models.object: unknown setting; did you mean "objects"?`},
		{"[engines]\nvlm_wait = 0\n", "m.toml:2: engines.vlm_wait: 0 seconds is out of range"},
		{"[engines]\ndescribe = \"scene\"\nask = \"scene\"\n", `m.toml:3: engines.ask: "scene" is not one of "vlm", "none"`},
	}
	for _, c := range bad {
		_, err := Parse("m.toml", []byte(c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v\nwant %s", c.file, err, c.want)
		}
	}
	// Switching both off is fine.
	if _, err := Parse("m.toml", []byte("[models]\nobjects = \"\"\nclasses = \"\"\nfaces = \"\"\nfaces_config = \"\"\ntext_recognizer = \"\"\ntext_dictionary = \"\"\ntext_detector = \"\"\n")); err != nil {
		t.Errorf("all off: %v", err)
	}
}
