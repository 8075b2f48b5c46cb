package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rpiq/rpiq/internal/cli"
	"github.com/rpiq/rpiq/internal/units"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/models/tokenizer"
)

func init() {
	register("inspect", "architecture, parameters, dtypes, quantization of a model folder", runInspect)
}

// modelReport is what `rpiq inspect --json` prints.
type modelReport struct {
	Model            string                 `json:"model"`
	Architecture     string                 `json:"architecture"`
	ModelType        string                 `json:"model_type,omitempty"`
	Layers           int                    `json:"num_hidden_layers"`
	Hidden           int                    `json:"hidden_size"`
	Intermediate     int                    `json:"intermediate_size"`
	Heads            int                    `json:"num_attention_heads"`
	KVHeads          int                    `json:"num_key_value_heads"`
	HeadDim          int                    `json:"head_dim"`
	Vocab            int                    `json:"vocab_size"`
	Context          int                    `json:"max_position_embeddings"`
	TiedEmbeddings   bool                   `json:"tie_word_embeddings"`
	TorchDType       string                 `json:"torch_dtype,omitempty"`
	Parameters       int64                  `json:"parameters"`
	ParametersSource string                 `json:"parameters_source"` // "headers", "config" (estimate) or "unknown"
	Bytes            int64                  `json:"bytes"`             // tensor bytes (headers, else the index's total_size)
	Tensors          int                    `json:"tensors"`
	DTypes           map[string]*dtypeStats `json:"dtypes"`
	Quantization     *quantReport           `json:"quantization"`
	Files            []string               `json:"files"`
	MissingFiles     []string               `json:"missing_files,omitempty"`
	// arch is the architecture's own part (hfmodel.Inspect), written under its Key.
	arch *hfmodel.Inspection
	// Problems are what config.json, the tensors and the tokenizer disagree on (exit status 2).
	Problems []string `json:"problems,omitempty"`
}

type dtypeStats struct {
	Tensors  int   `json:"tensors"`
	Elements int64 `json:"elements"`
	Bytes    int64 `json:"bytes"`
}

type quantReport struct {
	Method           string `json:"method"`
	Bits             int    `json:"bits"`
	GroupSize        int    `json:"group_size"`
	DescAct          bool   `json:"desc_act"`
	Sym              bool   `json:"sym"`
	CheckpointFormat string `json:"checkpoint_format,omitempty"`
	QuantizedLayers  int    `json:"quantized_layers"` // tensors named *.qweight in the headers
	Source           string `json:"source"`
	RPIQ             any    `json:"rpiq,omitempty"`
}

func runInspect(args []string, stdout, stderr io.Writer) error {
	fl := newFlags("inspect", stderr)
	asJSON := fl.Bool("json", false, "print one JSON object")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: rpiq inspect MODEL [--json]\n\nDescribes a model folder from config.json and the safetensors index/headers, without reading weights.")
		fl.PrintDefaults()
	}
	pos, err := parseInterspersed(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("inspect: want one MODEL folder, got %d arguments", len(pos))
	}
	if strings.HasSuffix(strings.ToLower(pos[0]), ".gguf") {
		return inspectGGUF(pos[0], *asJSON, stdout) // export.go
	}
	rep, err := inspectModel(pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReport(stdout, rep)
	}
	if len(rep.Problems) == 0 {
		return nil
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(stderr, "problem:", p)
	}
	return cli.Reported{Err: fmt.Errorf("%w: %s: %d problems", ErrBadInput, pos[0], len(rep.Problems))}
}

// checkModel lists what config.json, the tensors in the files (or the index's names when a
// shard is absent) and the tokenizer disagree on.
func checkModel(dir string, cfg *hf.Config, inv *hf.Inventory) []string {
	shapes := map[string][]int{}
	if inv.Index != nil {
		for name := range inv.Index.WeightMap {
			shapes[name] = nil
		}
	}
	for _, t := range inv.Tensors {
		shapes[t.Name] = append([]int{}, t.Shape...)
	}
	var probs []string
	if len(shapes) > 0 {
		for _, p := range hf.SizeProblems(cfg, dir, shapes) {
			probs = append(probs, p.Error())
		}
	}
	has := false
	for _, pat := range []string{"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "tokenizer.bin", "tok*.bin", "tokenizer.model"} {
		if m, _ := filepath.Glob(filepath.Join(dir, pat)); len(m) > 0 {
			has = true
		}
	}
	if !has {
		return probs // a folder without a tokenizer is described, not faulted
	}
	tok, err := tokenizer.Load(dir)
	switch {
	case err != nil:
		probs = append(probs, err.Error())
	case tok.VocabSize() > cfg.VocabSize && cfg.VocabSize > 0:
		probs = append(probs, fmt.Sprintf("%s: vocab_size: %d, but the tokenizer has %d tokens (ids up to %d have no embedding row)",
			filepath.Join(dir, hf.ConfigFile), cfg.VocabSize, tok.VocabSize(), tok.VocabSize()-1))
	}
	return probs
}

func inspectModel(dir string) (*modelReport, error) {
	cfg, err := hf.LoadConfig(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s: no %s (want a Hugging Face model folder)", ErrBadInput, dir, hf.ConfigFile)
	}
	if err != nil {
		return nil, err
	}
	inv, err := hf.ReadInventory(dir)
	if err != nil {
		return nil, err
	}
	rep := &modelReport{
		Model: dir, Architecture: cfg.Architecture, ModelType: cfg.ModelType, Layers: cfg.NumLayers,
		Hidden: cfg.HiddenSize, Intermediate: cfg.IntermediateSize, Heads: cfg.NumHeads, KVHeads: cfg.NumKVHeads,
		HeadDim: cfg.HeadDim, Vocab: cfg.VocabSize, Context: cfg.MaxPositions, TiedEmbeddings: cfg.TieWordEmbeddings,
		TorchDType: cfg.TorchDType, DTypes: map[string]*dtypeStats{}, Files: inv.Files, MissingFiles: inv.MissingFiles,
		Tensors: len(inv.Tensors),
	}
	if rep.Files == nil {
		rep.Files = []string{}
	}
	bits := 0
	if q := cfg.Quantization; q != nil {
		bits = q.Bits
		rep.Quantization = &quantReport{Method: q.Method, Bits: q.Bits, GroupSize: q.GroupSize, DescAct: q.DescAct, Sym: q.Sym,
			CheckpointFormat: q.CheckpointFormat, Source: filepath.Base(q.Source), RPIQ: q.Raw["rpiq"]}
	}
	for _, t := range inv.Tensors {
		s := rep.DTypes[string(t.DType)]
		if s == nil {
			s = &dtypeStats{}
			rep.DTypes[string(t.DType)] = s
		}
		s.Tensors++
		s.Elements += t.Numel()
		s.Bytes += t.Bytes()
		rep.Bytes += t.Bytes()
		rep.Parameters += logicalParams(t.TensorInfo, bits, rep.Quantization)
	}
	switch {
	case len(inv.Tensors) > 0 && len(inv.MissingFiles) == 0:
		rep.ParametersSource = "headers"
	default:
		if inv.Index != nil && inv.Index.TotalSize > 0 {
			rep.Bytes = inv.Index.TotalSize
		}
		if inv.Index != nil {
			rep.Tensors = len(inv.Index.WeightMap)
		}
		rep.Parameters, rep.ParametersSource = 0, "unknown"
	}
	stored := int64(0) // the tensor bytes (headers or the index's total_size) of a dense checkpoint
	if rep.Quantization == nil {
		stored = rep.Bytes
	}
	insp, err := hfmodel.Inspect(cfg, stored)
	if err != nil {
		return nil, err
	}
	rep.arch = insp
	if insp != nil && insp.Parameters > 0 && rep.ParametersSource != "headers" {
		rep.Parameters, rep.ParametersSource = insp.Parameters, "config"
	}
	rep.Problems = checkModel(dir, cfg, inv)
	return rep, nil
}

// logicalParams counts the weights a tensor stands for: a GPTQ qweight packs 32/bits weights per
// int32; its qzeros, scales and g_idx are quantization overhead, not parameters.
func logicalParams(t safetensors.TensorInfo, bits int, q *quantReport) int64 {
	switch {
	case strings.HasSuffix(t.Name, ".qweight") && bits > 0:
		if q != nil {
			q.QuantizedLayers++
		}
		return t.Numel() * 32 / int64(bits)
	case bits > 0 && (strings.HasSuffix(t.Name, ".qzeros") || strings.HasSuffix(t.Name, ".scales") || strings.HasSuffix(t.Name, ".g_idx")):
		return 0
	}
	return t.Numel()
}

// MarshalJSON writes the report with the architecture's own part under its key.
func (r *modelReport) MarshalJSON() ([]byte, error) {
	type plain modelReport
	b, err := json.Marshal((*plain)(r))
	if err != nil || r.arch == nil || r.arch.Key == "" || r.arch.Report == nil {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m[r.arch.Key], err = json.Marshal(r.arch.Report); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

func printReport(w io.Writer, r *modelReport) {
	fmt.Fprintf(w, "model:         %s\n", r.Model)
	arch := r.Architecture
	if r.ModelType != "" {
		arch += " (" + r.ModelType + ")"
	}
	fmt.Fprintf(w, "architecture:  %s\n", arch)
	fmt.Fprintf(w, "shape:         %d layers, hidden %d, intermediate %d, %d heads (%d kv, head_dim %d), vocab %d, context %d",
		r.Layers, r.Hidden, r.Intermediate, r.Heads, r.KVHeads, r.HeadDim, r.Vocab, r.Context)
	if r.TiedEmbeddings {
		fmt.Fprint(w, ", tied embeddings")
	}
	fmt.Fprintln(w)
	switch r.ParametersSource {
	case "headers":
		fmt.Fprintf(w, "parameters:    %s (%d)\n", humanCount(r.Parameters), r.Parameters)
	case "config":
		fmt.Fprintf(w, "parameters:    %s (%d, estimated from config.json)\n", humanCount(r.Parameters), r.Parameters)
	default:
		fmt.Fprintln(w, "parameters:    unknown (no tensor headers)")
	}
	fmt.Fprintf(w, "tensors:       %d, %s\n", r.Tensors, humanBytes(r.Bytes))
	names := make([]string, 0, len(r.DTypes))
	for d := range r.DTypes {
		names = append(names, d)
	}
	sort.Slice(names, func(i, j int) bool { return r.DTypes[names[i]].Bytes > r.DTypes[names[j]].Bytes })
	for _, d := range names {
		s := r.DTypes[d]
		fmt.Fprintf(w, "  %-6s       %d tensors, %d elements, %s\n", d, s.Tensors, s.Elements, humanBytes(s.Bytes))
	}
	if len(names) == 0 && r.TorchDType != "" {
		fmt.Fprintf(w, "  torch_dtype  %s (from config.json)\n", r.TorchDType)
	}
	if q := r.Quantization; q != nil {
		gs := fmt.Sprint(q.GroupSize)
		if q.GroupSize == -1 {
			gs = "per column"
		}
		fmt.Fprintf(w, "quantization:  %s %d-bit, group size %s, desc_act %v, sym %v, format %s (%s)",
			q.Method, q.Bits, gs, q.DescAct, q.Sym, q.CheckpointFormat, q.Source)
		if q.QuantizedLayers > 0 {
			fmt.Fprintf(w, ", %d quantized layers", q.QuantizedLayers)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "quantization:  none")
	}
	fmt.Fprintf(w, "files:         %s\n", strings.Join(r.Files, ", "))
	if len(r.MissingFiles) > 0 {
		fmt.Fprintf(w, "missing:       %s\n", strings.Join(r.MissingFiles, ", "))
	}
	if r.arch != nil && r.arch.Print != nil {
		r.arch.Print(w)
	}
}

func humanCount(n int64) string { return units.Count(n) }

func humanBytes(n int64) string { return units.Bytes(n) }
