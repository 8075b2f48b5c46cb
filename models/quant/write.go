package quant

import (
	"encoding/json"
	"fmt"
	"github.com/rpiq/rpiq/runtime/packfile"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
)

// Settings is everything that determines a quantization run; it is recorded in the
// checkpoint's rpiq block and must match for --resume.
type Settings struct {
	Method       string  `json:"method"`
	Bits         int     `json:"bits"`
	GroupSize    int     `json:"group_size"`
	Sym          bool    `json:"sym"`
	ActOrder     bool    `json:"desc_act"`
	StaticGroups bool    `json:"static_groups"`
	Damp         float64 `json:"damp_percent"`
	BlockSize    int     `json:"blocksize"`
	Reading      string  `json:"rpiq_reading,omitempty"`
	Iters        int     `json:"rpiq_iters,omitempty"`
	Stage2Block  int     `json:"rpiq_blocksize,omitempty"`
	Calib        string  `json:"calibration_file"`
	Samples      int     `json:"samples"`
	Seqlen       int     `json:"seqlen"`
	Seed         int64   `json:"seed"`
	Holdout      int     `json:"heldout_windows"`
}

// V2 reports whether the checkpoint uses the gptq_v2 zero convention (asymmetric grids: a zero
// of 0 cannot be stored as zero−1).
func (s Settings) V2() bool { return !s.Sym }

// quantizationConfig is the object written to quantize_config.json and to config.json's
// quantization_config.
func (s Settings) quantizationConfig(res *Result) map[string]any {
	format := CheckpointFormat(s.V2())
	rpiq := map[string]any{"settings": s}
	if res != nil {
		layers := map[string]any{}
		for _, m := range res.Modules {
			layers[m.Name] = map[string]any{"instance_error": m.Report.Instance.Final, "heldout_error": m.Report.Heldout.Final,
				"gptq_heldout_error": m.Report.Heldout.GPTQ, "rtn_heldout_error": m.Report.Heldout.RTN}
		}
		rpiq["module_errors"] = layers
		rpiq["cost"] = res.Cost
	}
	return map[string]any{
		"quant_method": "gptq", "bits": s.Bits, "group_size": s.GroupSize, "damp_percent": s.Damp,
		"desc_act": s.ActOrder, "static_groups": s.StaticGroups, "sym": s.Sym, "true_sequential": true,
		"checkpoint_format": format, "model_name_or_path": nil, "model_file_base_name": "model",
		"pack_dtype": "int32", "lm_head": false,
		"meta": map[string]any{"quantizer": "rpiq", "damp_percent": s.Damp, "static_groups": s.StaticGroups, "true_sequential": true},
		"rpiq": rpiq,
	}
}

// WriteModel writes the quantized checkpoint into outDir: model.safetensors with every
// quantized linear in the GPTQ layout and every other tensor (embeddings, norms, LM head,
// biases) copied unchanged from srcDir; config.json with quantization_config;
// quantize_config.json; and the tokenizer and generation files of srcDir. Every file is atomic,
// and the folder as a whole loads only once complete: an older output's config.json and index
// are removed first and the new config.json is written last, so a write stopped half-way
// leaves a folder that does not load rather than old and new files mixed.
func WriteModel(srcDir, outDir string, res *Result, s Settings) error {
	mods := make([]PackedModule, len(res.Modules))
	for i, m := range res.Modules {
		mods[i] = PackedModule{Name: m.Name, Q: m.Q}
	}
	if err := WritePacked("quant", srcDir, outDir, mods, nil, s.V2()); err != nil {
		return err
	}
	return WriteConfig(srcDir, outDir, s.quantizationConfig(res))
}

// PackedModule is one quantized module for WritePacked: Q is its quantized weight, or nil when
// its packed tensors are to be copied from WritePacked's packed source.
type PackedModule struct {
	Name string
	Q    *Quantized
}

// CheckpointFormat is quantization_config's checkpoint_format for the zero convention v2.
func CheckpointFormat(v2 bool) string {
	if v2 {
		return "gptq_v2"
	}
	return "gptq"
}

// WritePacked writes outDir's model.safetensors (the GPTQ checkpoint of WriteModel and of the
// mixed-bit model writers): srcDir's tensors in their order, each module's .weight replaced by
// its packed tensors (Pack(m.Q, v2), or .qweight/.qzeros/.scales/.g_idx copied from packed when
// m.Q is nil) and every other tensor copied unchanged. An older output's config.json and index
// are removed first (UnloadOutput); WriteConfig finishes the folder. model names the model in
// the error messages.
func WritePacked(model, srcDir, outDir string, mods []PackedModule, packed Tensors, v2 bool) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	ck, err := hf.OpenCheckpoint(srcDir)
	if err != nil {
		return err
	}
	defer ck.Close()
	byWeight := map[string]PackedModule{}
	for _, m := range mods {
		byWeight[m.Name+".weight"] = m
		if _, ok := ck.Info(m.Name + ".weight"); !ok {
			return fmt.Errorf("%s: quantized module %s is not in %s", model, m.Name, srcDir)
		}
	}
	var ts []safetensors.Tensor
	for _, name := range ck.Names() {
		m, ok := byWeight[name]
		if !ok {
			info, data, err := ck.Raw(name)
			if err != nil {
				return err
			}
			ts = append(ts, safetensors.Tensor{Name: name, DType: info.DType, Shape: info.Shape, Data: data})
			continue
		}
		if m.Q == nil { // streamed: the packed tensors are in the per-block checkpoint
			if packed == nil {
				return fmt.Errorf("%s: %s: quantized weights dropped and no per-block checkpoint given", model, m.Name)
			}
			for _, suf := range []string{".qweight", ".qzeros", ".scales", ".g_idx"} {
				info, data, err := packed.Raw(m.Name + suf)
				if err != nil {
					return err
				}
				ts = append(ts, safetensors.Tensor{Name: m.Name + suf, DType: info.DType, Shape: info.Shape, Data: data})
			}
			continue
		}
		p, err := Pack(m.Q, v2)
		if err != nil {
			return fmt.Errorf("%s: packing %s: %w", model, m.Name, err)
		}
		ts = append(ts, p.Tensors(m.Name, nil)...)
	}
	if err := UnloadOutput(outDir); err != nil { // config.json comes back last
		return err
	}
	return hf.WriteCheckpoint(outDir, ts, map[string]string{"format": "pt", "quantizer": "rpiq"}, 0)
}

// WriteConfig finishes a checkpoint folder WritePacked wrote: quantize_config.json with qc,
// srcDir's tokenizer, processor and generation files (CopyCompanions), and last srcDir's
// config.json with qc as its quantization_config, so that the folder loads only once complete.
func WriteConfig(srcDir, outDir string, qc map[string]any) error {
	raw, err := os.ReadFile(filepath.Join(srcDir, hf.ConfigFile))
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("%s: %v", filepath.Join(srcDir, hf.ConfigFile), err)
	}
	cfg["quantization_config"] = qc
	if err := hf.WriteJSON(filepath.Join(outDir, hf.QuantizeConfigFile), qc); err != nil {
		return err
	}
	if err := CopyCompanions(srcDir, outDir); err != nil {
		return err
	}
	return hf.WriteJSON(filepath.Join(outDir, hf.ConfigFile), cfg) // last: the folder loads from now on
}

// UnloadOutput removes an older output's config.json and safetensors index from outDir before a
// new checkpoint is written there: until the writer puts the new config.json last, the folder
// does not load, so an interrupted write never leaves old and new files mixed in a loadable folder.
func UnloadOutput(outDir string) error {
	for _, stale := range []string{hf.ConfigFile, hf.IndexFile} {
		if err := os.Remove(filepath.Join(outDir, stale)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// CopyCompanions copies the tokenizer and generation files (everything that is not a weight
// file, config.json, the safetensors index or a pre-packed layout of the source's weights).
func CopyCompanions(srcDir, outDir string) error {
	ents, err := os.ReadDir(srcDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || strings.HasSuffix(name, ".safetensors") || name == hf.ConfigFile || name == hf.IndexFile ||
			name == hf.QuantizeConfigFile || name == packfile.Name || strings.HasPrefix(name, ".") {
			continue
		}
		src := filepath.Join(srcDir, name)
		if err := safetensors.WriteFileAtomic(filepath.Join(outDir, name), func(w io.Writer) error {
			f, err := os.Open(src)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(w, f)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// partialDir holds the per-layer checkpoints of an unfinished run.
func partialDir(outDir string) string { return filepath.Join(outDir, ".rpiq-partial") }

// LayerCheckpointer returns the Options.OnLayer function that saves each finished layer (packed
// modules and their report lines) under outDir/.rpiq-partial, after recording the settings.
func LayerCheckpointer(outDir string, s Settings) (func(int, []*ModuleResult) error, error) {
	dir := partialDir(outDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := hf.WriteJSON(filepath.Join(dir, "settings.json"), s); err != nil {
		return nil, err
	}
	return func(layer int, mods []*ModuleResult) error {
		var tensors []safetensors.Tensor
		var reps []ModuleReport
		for _, m := range mods {
			p, err := Pack(m.Q, s.V2())
			if err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			tensors = append(tensors, p.Tensors(m.Name, nil)...)
			reps = append(reps, m.Report)
		}
		b, err := json.Marshal(reps)
		if err != nil {
			return err
		}
		return safetensors.Write(filepath.Join(dir, fmt.Sprintf("layer-%04d.safetensors", layer)), tensors, map[string]string{"reports": string(b)})
	}, nil
}

// LoadPartial reads the layers a previous run with the same settings finished (consecutive
// from layer 0). It returns an empty map when there is nothing to resume, and an error when the
// settings differ.
func LoadPartial(outDir string, s Settings) (map[int][]*ModuleResult, error) {
	dir := partialDir(outDir)
	raw, err := os.ReadFile(filepath.Join(dir, "settings.json"))
	if os.IsNotExist(err) {
		return map[int][]*ModuleResult{}, nil
	}
	if err != nil {
		return nil, err
	}
	var prev Settings
	if err := json.Unmarshal(raw, &prev); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, "settings.json"), err)
	}
	if prev != s {
		a, _ := json.Marshal(prev)
		b, _ := json.Marshal(s)
		return nil, fmt.Errorf("%s: --resume with different settings: the unfinished run used %s, this one %s", dir, a, b)
	}
	ents, _ := filepath.Glob(filepath.Join(dir, "layer-*.safetensors"))
	sort.Strings(ents)
	done := map[int][]*ModuleResult{}
	if len(ents) == 0 {
		return done, nil
	}
	f := Format{Bits: s.Bits, GroupSize: s.GroupSize, V2: s.V2()}
	ck, err := hf.OpenCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	for _, path := range ents {
		var layer int
		if _, err := fmt.Sscanf(filepath.Base(path), "layer-%04d.safetensors", &layer); err != nil {
			continue
		}
		if layer != len(done) {
			break // only a consecutive prefix of layers can be reused
		}
		hdr, err := safetensors.ReadHeader(path)
		if err != nil {
			return nil, err
		}
		var reps []ModuleReport
		if err := json.Unmarshal([]byte(hdr.Metadata["reports"]), &reps); err != nil {
			return nil, fmt.Errorf("%s: metadata \"reports\": %v", path, err)
		}
		var mods []*ModuleResult
		for _, r := range reps {
			p, err := ReadPacked(ck, r.Name, f)
			if err != nil {
				return nil, err
			}
			q, err := p.Unpack()
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, r.Name, err)
			}
			q.GroupSize = s.GroupSize
			q.Grid.Sym = s.Sym
			mods = append(mods, &ModuleResult{Name: r.Name, Q: q, Report: r})
		}
		done[layer] = mods
	}
	return done, nil
}

// RemovePartial deletes the per-layer checkpoints once the final checkpoint is written.
func RemovePartial(outDir string) error { return os.RemoveAll(partialDir(outDir)) }
