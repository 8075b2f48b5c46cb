package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/device/cuda"
	"github.com/rpiq/rpiq/internal/cli"
)

func TestCUDACommand(t *testing.T) {
	var out, errb bytes.Buffer
	var ue *cli.UsageError
	if err := runCUDA([]string{"extra"}, &out, &errb); !errors.As(err, &ue) {
		t.Errorf("rpiq cuda extra: %v, want a usage error", err)
	}
	if _, err := os.Stat("/dev/nvidia0"); err == nil {
		t.Skip("this machine has a GPU: the no-GPU answers below do not apply")
	}
	out.Reset()
	err := runCUDA([]string{"--json"}, &out, &errb)
	var rep cudaReport
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
		t.Fatalf("--json output %q: %v", out.String(), jerr)
	}
	if err == nil || rep.Usable || len(rep.Problems) == 0 || !strings.Contains(strings.Join(rep.Problems, " "), "libcuda") {
		t.Fatalf("without a GPU: err %v, report %+v; want an error naming libcuda", err, rep)
	}
	if _, nerr := cuda.LoadNVRTC(); nerr != nil {
		if cuda.NVRTCRequired() {
			t.Fatal(nerr)
		}
		t.Skipf("no NVRTC for the --compile half: %v", nerr)
	}
	t.Setenv(cuda.CacheEnv, t.TempDir())
	out.Reset()
	if err := runCUDA([]string{"--compile", "--arch", "87"}, &out, &errb); err != nil {
		t.Fatalf("--compile --arch 87 without a GPU: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "sm_87") {
		t.Errorf("output lacks the target:\n%s", out.String())
	}
}
