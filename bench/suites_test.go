package bench

import (
	"errors"
	"testing"
)

// The quantizer suite's settings: a bad value is the user's error, named with what it wants;
// good ones select the name the filter sees.
func TestQuantizeSuiteEnv(t *testing.T) {
	for _, c := range []struct{ windows, layers, name string }{
		{"", "", "quantize_layer_tinyllama_rpiq_8x512"},
		{"2", "1", "quantize_layer_tinyllama_rpiq_2x512"},
		{"4", "3", "quantize_3layers_tinyllama_rpiq_4x512"},
	} {
		t.Setenv("RPIQ_BENCH_WINDOWS", c.windows)
		t.Setenv("RPIQ_BENCH_LAYERS", c.layers)
		var seen string
		if _, err := quantize(1, func(name string) bool { seen = name; return false }); err != nil || seen != c.name {
			t.Errorf("windows %q layers %q: name %q, %v; want %q", c.windows, c.layers, seen, err, c.name)
		}
	}
	for _, bad := range []struct{ name, value string }{{"RPIQ_BENCH_LAYERS", "0"}, {"RPIQ_BENCH_LAYERS", "three"}, {"RPIQ_BENCH_WINDOWS", "-1"}} {
		t.Setenv("RPIQ_BENCH_WINDOWS", "")
		t.Setenv("RPIQ_BENCH_LAYERS", "")
		t.Setenv(bad.name, bad.value)
		_, err := quantize(1, func(string) bool { t.Fatalf("%s=%s ran", bad.name, bad.value); return false })
		var be *BadEnv
		if !errors.As(err, &be) || be.Var != bad.name || !be.BadInput() {
			t.Errorf("%s=%q: %v, want a BadEnv naming it", bad.name, bad.value, err)
		}
	}
}
