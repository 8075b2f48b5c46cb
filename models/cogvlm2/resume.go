package cogvlm2

// Per-block checkpoints of a quantization run (--resume): after each block its modules are
// packed into OUT/.rpiq-partial/block-NNNN.safetensors (module metadata in the header), next
// to settings.json. A resumed run with the same settings reuses the consecutive blocks from 0,
// quantizes the rest, and gives the same checkpoint as an uninterrupted run (the packing is
// lossless, so the reused weights are exactly the ones the first run propagated).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/quant"
)

// PartialDir is where the per-block checkpoints of a run writing outDir are kept.
func PartialDir(outDir string) string { return filepath.Join(outDir, ".rpiq-partial") }

type blockModule struct {
	Name   string  `json:"name"`
	Part   Part    `json:"part"`
	Tokens int     `json:"tokens"`
	Method string  `json:"method"`
	Err    float64 `json:"err"`
	Bits   int     `json:"bits"`
}

// BlockCheckpointer records settings (anything JSON: what must match for a resume) and returns
// the QuantOptions.OnBlock function that saves each finished block.
func BlockCheckpointer(outDir string, o QuantOptions, settings any) (func(int, []*QuantModule) error, error) {
	dir := PartialDir(outDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := hf.WriteJSON(filepath.Join(dir, "settings.json"), settings); err != nil {
		return nil, err
	}
	v2 := !o.Stage1.Sym
	return func(block int, mods []*QuantModule) error {
		var ts []safetensors.Tensor
		var meta []blockModule
		for _, m := range mods {
			p, err := quant.Pack(m.Q, v2)
			if err != nil {
				return fmt.Errorf("cogvlm2: packing %s: %w", m.Name, err)
			}
			ts = append(ts, p.Tensors(m.Name, nil)...)
			meta = append(meta, blockModule{m.Name, m.Part, m.Tokens, m.Method, m.Err, m.Bits})
		}
		b, err := json.Marshal(meta)
		if err != nil {
			return err
		}
		// atomic: a block file is complete or absent
		return safetensors.Write(filepath.Join(dir, fmt.Sprintf("block-%04d.safetensors", block)), ts, map[string]string{"modules": string(b)})
	}, nil
}

// LoadBlocks reads the blocks a previous run with the same settings finished (consecutive from
// block 0), with their quantized weights. Nothing to resume gives an empty map; other settings
// are an error.
func LoadBlocks(outDir string, o QuantOptions, settings any) (map[int][]*QuantModule, error) {
	dir := PartialDir(outDir)
	raw, err := os.ReadFile(filepath.Join(dir, "settings.json"))
	if os.IsNotExist(err) {
		return map[int][]*QuantModule{}, nil
	}
	if err != nil {
		return nil, err
	}
	want, err := json.MarshalIndent(settings, "", "  ")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(bytes.TrimSpace(raw), bytes.TrimSpace(want)) {
		return nil, fmt.Errorf("%s: --resume with different settings: the unfinished run used %s, this one %s", dir, bytes.TrimSpace(raw), want)
	}
	ents, _ := filepath.Glob(filepath.Join(dir, "block-*.safetensors"))
	sort.Strings(ents)
	done := map[int][]*QuantModule{}
	if len(ents) == 0 {
		return done, nil
	}
	ck, err := hf.OpenCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	for _, path := range ents {
		var block int
		if _, err := fmt.Sscanf(filepath.Base(path), "block-%04d.safetensors", &block); err != nil {
			continue
		}
		if block != len(done) {
			break // only a consecutive prefix of blocks can be reused
		}
		hdr, err := safetensors.ReadHeader(path)
		if err != nil {
			return nil, err
		}
		var meta []blockModule
		if err := json.Unmarshal([]byte(hdr.Metadata["modules"]), &meta); err != nil {
			return nil, fmt.Errorf("%s: metadata \"modules\": %v", path, err)
		}
		mods := []*QuantModule{}
		for _, bm := range meta {
			p, err := quant.ReadPacked(ck, bm.Name, quant.Format{Bits: bm.Bits, GroupSize: o.Stage1.GroupSize, V2: !o.Stage1.Sym})
			if err != nil {
				return nil, err
			}
			q, err := p.Unpack()
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, bm.Name, err)
			}
			q.GroupSize = o.Stage1.GroupSize
			q.Grid.Sym = o.Stage1.Sym
			mods = append(mods, &QuantModule{Name: bm.Name, Part: bm.Part, Tokens: bm.Tokens, Method: bm.Method, Err: bm.Err, Bits: bm.Bits, Q: q})
		}
		done[block] = mods
	}
	return done, nil
}
