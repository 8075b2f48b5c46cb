package cogvlm2

import (
	"os"
	"testing"

	"github.com/rpiq/rpiq/runtime/cudabackend"
)

// The whole model on the CUDA backend against the float64 reference (GPU tests run only with
// RPIQ_REQUIRE_GPU=1). The KV cache is float32 here so the tolerance can stay tight.
func TestForwardOnGPUMatchesReference(t *testing.T) {
	if os.Getenv("RPIQ_REQUIRE_GPU") != "1" {
		t.Skip("GPU tests run with RPIQ_REQUIRE_GPU=1")
	}
	be, err := cudabackend.New(cudabackend.Options{CacheF32: true})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	dir, cfg, w := writeTiny(t, 2, 1)
	m, closer, err := Load(dir, be)
	if err != nil {
		t.Fatal(err)
	}
	defer closer()
	img := randImage(cfg, 2)
	got, _ := run(t, m, img, question)
	closeRel(t, "logits on "+be.Name(), got, refForward(cfg, w, img, toInts(question)), 1e-3)
}
