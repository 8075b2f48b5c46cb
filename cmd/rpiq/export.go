package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"

	"github.com/rpiq/rpiq/internal/cli"
	"github.com/rpiq/rpiq/models/gguf"
)

func init() {
	register("export", "write a LLaMA/Qwen2/Qwen3 model (dense or GPTQ) as a llama.cpp GGUF file", runExport)
}

func runExport(args []string, stdout, stderr io.Writer) error {
	fl := newFlags("export", stderr)
	asGGUF := fl.Bool("gguf", false, "write GGUF v3 (the only format)")
	dense := fl.String("dense", "keep", "type of dense matrices: keep (the checkpoint's F32/F16/BF16), f32 or f16")
	asJSON := fl.Bool("json", false, "print the per-tensor report as one JSON object")
	quiet := fl.Bool("quiet", false, "no warnings on stderr (they stay in the --json report)")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: rpiq export --gguf MODEL OUT.gguf [--dense keep|f32|f16] [--json]")
		fmt.Fprintln(stderr, "GPTQ modules with bits 4, group size 32, no act-order become Q4_0 (sym, bit-exact) or")
		fmt.Fprintln(stderr, "Q4_1 (asym, d = s, m = fp16(-s*z)); other layouts are dequantized to Q8_0 (F16 when the")
		fmt.Fprintln(stderr, "input size is not a multiple of 32), with a warning naming the tensor.")
		fl.PrintDefaults()
	}
	pos, err := parseInterspersed(fl, args)
	if err != nil {
		return err
	}
	opt := gguf.ExportOptions{}
	switch strings.ToLower(*dense) {
	case "keep":
	case "f32":
		opt.Dense = gguf.DenseF32
	case "f16":
		opt.Dense = gguf.DenseF16
	default:
		return usagef("export: --dense must be keep, f32 or f16, got %q", *dense)
	}
	switch {
	case !*asGGUF:
		return usagef("export: --gguf is required (the only output format)")
	case len(pos) != 2:
		return usagef("export: want MODEL and OUT.gguf, got %d arguments", len(pos))
	}
	if st, err := os.Stat(pos[0]); err != nil || !st.IsDir() {
		return fmt.Errorf("%w: %s: not a model folder", ErrBadInput, pos[0])
	}
	if err := cli.CheckOutputFile(pos[1]); err != nil { // before any work
		return err
	}
	if !*quiet {
		opt.Log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	sweepTarget(stderr, "export", pos[1])
	before, _ := os.Stat(pos[1])
	defer onInterrupt(stderr, "export", func() string {
		// The message is made once no write can finish any more (tempfiles.Abandon), so the
		// file there now is what stays.
		if now, err := os.Stat(pos[1]); err == nil && (before == nil || !os.SameFile(before, now)) {
			return pos[1] + " was written in full just before the signal: nothing to redo"
		}
		return pos[1] + " was not written (a file there before is unchanged): run the same command again"
	})()
	rep, err := gguf.Export(pos[0], pos[1], opt)
	if err != nil {
		return err
	}
	st, err := os.Stat(pos[1])
	if err != nil {
		return err
	}
	count := map[string]int{}
	worst := map[string]float64{}
	for _, t := range rep.Tensors {
		count[t.Type.String()]++
		worst[t.Type.String()] = math.Max(worst[t.Type.String()], t.MaxAbsErr)
	}
	if *asJSON {
		type tensor struct {
			Name      string  `json:"name"`
			Source    string  `json:"source"`
			Type      string  `json:"type"`
			Rule      string  `json:"rule"`
			MaxAbsErr float64 `json:"max_abs_err"`
		}
		out := struct {
			File     string   `json:"file"`
			Bytes    int64    `json:"bytes"`
			FileType uint32   `json:"file_type"`
			Tensors  []tensor `json:"tensors"`
			Warnings []string `json:"warnings"`
		}{File: pos[1], Bytes: st.Size(), FileType: rep.FileType, Warnings: rep.Warnings}
		for _, t := range rep.Tensors {
			out.Tensors = append(out.Tensors, tensor{t.Name, t.Source, t.Type.String(), t.Rule, t.MaxAbsErr})
		}
		if out.Warnings == nil {
			out.Warnings = []string{}
		}
		return json.NewEncoder(stdout).Encode(out)
	}
	var parts []string
	for _, ty := range []string{"F32", "F16", "BF16", "Q4_0", "Q4_1", "Q8_0"} {
		if count[ty] == 0 {
			continue
		}
		p := fmt.Sprintf("%d %s", count[ty], ty)
		if worst[ty] > 0 {
			p += fmt.Sprintf(" (max |Δ| %.3g)", worst[ty])
		}
		parts = append(parts, p)
	}
	fmt.Fprintf(stdout, "wrote %s: %d tensors (%s), %s, %d warnings\n", pos[1], len(rep.Tensors), strings.Join(parts, ", "), humanBytes(st.Size()), len(rep.Warnings))
	return nil
}

// ggufReport is what `rpiq inspect FILE.gguf --json` prints.
type ggufReport struct {
	File      string            `json:"file"`
	Version   uint32            `json:"version"`
	Alignment uint64            `json:"alignment"`
	Metadata  map[string]any    `json:"metadata"` // arrays longer than 8 are summarised
	Tensors   []ggufTensorInfo  `json:"tensors"`
	ByType    map[string]uint64 `json:"bytes_by_type"`
	Bytes     uint64            `json:"tensor_bytes"`
}

type ggufTensorInfo struct {
	Name  string   `json:"name"`
	Type  string   `json:"type"`
	Dims  []uint64 `json:"dims"` // ggml order: the contiguous dimension first
	Bytes uint64   `json:"bytes"`
}

// inspectGGUF describes a GGUF file from its header alone (gguf.ReadInfo reads no tensor data).
func inspectGGUF(path string, asJSON bool, stdout io.Writer) error {
	f, err := gguf.ReadInfo(path)
	if err != nil {
		return err
	}
	rep := ggufReport{File: path, Version: f.Version, Alignment: f.Alignment, Metadata: map[string]any{}, ByType: map[string]uint64{}}
	for _, kv := range f.KVs {
		rep.Metadata[kv.Key] = summarise(kv.Value)
	}
	for _, t := range f.Tensors {
		rep.Tensors = append(rep.Tensors, ggufTensorInfo{t.Name, t.Type.String(), t.Dims, t.Bytes()})
		rep.ByType[t.Type.String()] += t.Bytes()
		rep.Bytes += t.Bytes()
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(stdout, "%s: GGUF v%d, alignment %d, %d metadata keys, %d tensors, %s of tensor data\n",
		path, f.Version, f.Alignment, len(f.KVs), len(f.Tensors), humanBytes(int64(rep.Bytes)))
	for _, kv := range f.KVs {
		fmt.Fprintf(stdout, "  %-44s %v\n", kv.Key, summarise(kv.Value))
	}
	for _, t := range rep.Tensors {
		fmt.Fprintf(stdout, "  %-32s %-5s %v %s\n", t.Name, t.Type, t.Dims, humanBytes(int64(t.Bytes)))
	}
	return nil
}

// summarise keeps scalars and short arrays, and writes long arrays as their length and type.
func summarise(v any) any {
	switch x := v.(type) {
	case []string:
		if len(x) > 8 {
			return fmt.Sprintf("[%d strings]", len(x))
		}
	case []float32:
		if len(x) > 8 {
			return fmt.Sprintf("[%d float32]", len(x))
		}
	case []int32:
		if len(x) > 8 {
			return fmt.Sprintf("[%d int32]", len(x))
		}
	}
	if s := fmt.Sprint(v); len(s) > 200 {
		return fmt.Sprintf("%T of %d characters", v, len(s))
	}
	return v
}
