package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rpiq/rpiq/device/cuda"
	"github.com/rpiq/rpiq/runtime/cudabackend"
)

func init() {
	register("cuda", "report the CUDA driver, GPU and NVRTC, and compile the kernels into the cache", runCUDA)
}

// cudaReport is what `rpiq cuda --json` prints.
type cudaReport struct {
	Driver      string   `json:"driver,omitempty"`
	GPU         string   `json:"gpu,omitempty"`
	Arch        int      `json:"arch,omitempty"`
	SMs         int      `json:"sms,omitempty"`
	MemoryGiB   float64  `json:"memory_gib,omitempty"`
	DriverVer   int      `json:"driver_version,omitempty"`
	NVRTC       string   `json:"nvrtc,omitempty"`
	Target      string   `json:"target,omitempty"`
	KernelCache string   `json:"kernel_cache,omitempty"`
	CompileMS   float64  `json:"compile_ms,omitempty"`
	Usable      bool     `json:"usable"`
	Problems    []string `json:"problems,omitempty"`
}

// runCUDA says whether the CUDA backend can run here and why not, and with --compile builds
// every kernel for this GPU (or --arch) into the on-disk cache, so the first generation does not
// pay for NVRTC. Exit status 1 when the backend cannot run (without --compile) or the compile
// failed (with it).
func runCUDA(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("cuda", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object")
	compile := fs.Bool("compile", false, "compile every kernel into the kernel cache")
	arch := fs.Int("arch", 0, "compile for sm_ARCH instead of the GPU's architecture (e.g. 87 for Jetson Orin)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("rpiq cuda takes no arguments")
	}
	var rep cudaReport
	drv, err := cuda.LoadDriver()
	var info cuda.Info
	if err != nil {
		rep.Problems = append(rep.Problems, err.Error())
	} else {
		rep.Driver = drv.Library()
		dev, err := cuda.OpenWith(drv, 0)
		if err != nil {
			rep.Problems = append(rep.Problems, err.Error())
		} else {
			info = dev.Info()
			dev.Close()
			rep.GPU, rep.Arch, rep.SMs, rep.DriverVer = info.Name, info.Arch(), info.Multiprocessors, info.DriverVersion
			rep.MemoryGiB = float64(info.TotalMemory) / (1 << 30)
		}
	}
	nv, err := cuda.LoadNVRTC()
	if err != nil {
		rep.Problems = append(rep.Problems, err.Error())
	} else {
		major, minor := nv.Version()
		rep.NVRTC = fmt.Sprintf("%s (CUDA %d.%d)", nv.Library(), major, minor)
	}
	compiled := false
	target := *arch
	if target == 0 {
		target = info.Arch()
	}
	if *compile {
		switch {
		case nv == nil:
		case target == 0:
			rep.Problems = append(rep.Problems, "no GPU to compile for: give --arch")
		default:
			cache, err := cuda.DefaultCache()
			if err != nil {
				rep.Problems = append(rep.Problems, err.Error())
				break
			}
			t := cudabackend.TargetFor(nv, target)
			rep.Target, rep.KernelCache = t.String(), cache.Dir
			start := time.Now()
			if _, err := cudabackend.CompileAll(nv, cache, t, info.DriverVersion); err != nil {
				rep.Problems = append(rep.Problems, err.Error())
			} else {
				compiled = true
			}
			rep.CompileMS = float64(time.Since(start).Microseconds()) / 1e3
		}
	}
	rep.Usable = rep.GPU != "" && rep.NVRTC != "" && len(rep.Problems) == 0
	if *asJSON {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		line := func(k, v string) {
			if v != "" {
				fmt.Fprintf(stdout, "%-13s %s\n", k, v)
			}
		}
		line("driver", rep.Driver)
		if rep.GPU != "" {
			line("gpu", fmt.Sprintf("%s, sm_%d, %d SMs, %.1f GiB, driver %d", rep.GPU, rep.Arch, rep.SMs, rep.MemoryGiB, rep.DriverVer))
		}
		line("nvrtc", rep.NVRTC)
		if rep.Target != "" {
			line("kernels", fmt.Sprintf("%s in %s (%.0f ms)", rep.Target, rep.KernelCache, rep.CompileMS))
		}
		for _, p := range rep.Problems {
			line("problem", p)
		}
		line("usable", fmt.Sprint(rep.Usable))
	}
	switch {
	case *compile && !compiled:
		return errors.New("the kernels were not compiled")
	case !*compile && !rep.Usable:
		return errors.New("the CUDA backend cannot run here (the CPU backend is used instead)")
	}
	return nil
}
