package onnx

import (
	"strings"
	"testing"
)

func TestParseRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {0x08}, {0x3a, 0x05, 1, 2}, []byte("not a model")} {
		if _, err := Parse(b); err == nil {
			t.Errorf("Parse(%q) accepted", b)
		}
	}
	_, err := Load("/nonexistent/model.onnx")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/model.onnx") {
		t.Errorf("Load error %v does not name the file", err)
	}
}
