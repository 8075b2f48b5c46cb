package hf

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/rpiq/rpiq/models/hf/safetensors"
)

// WriteJSON writes v as indented JSON (with a final newline) to path atomically.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	b = append(b, '\n')
	return safetensors.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// WriteCheckpoint writes tensors into dir as model.safetensors or, when their bytes exceed
// maxShardBytes (> 0), as HF shards model-0000k-of-0000n.safetensors plus
// model.safetensors.index.json. Shards take tensors in the order given; each file is atomic.
func WriteCheckpoint(dir string, tensors []safetensors.Tensor, metadata map[string]string, maxShardBytes int64) error {
	var total int64
	for _, t := range tensors {
		total += int64(len(t.Data))
	}
	if maxShardBytes <= 0 || total <= maxShardBytes {
		return safetensors.Write(filepath.Join(dir, SingleFile), tensors, metadata)
	}
	var shards [][]safetensors.Tensor
	var cur []safetensors.Tensor
	var curBytes int64
	for _, t := range tensors {
		if len(cur) > 0 && curBytes+int64(len(t.Data)) > maxShardBytes {
			shards = append(shards, cur)
			cur, curBytes = nil, 0
		}
		cur = append(cur, t)
		curBytes += int64(len(t.Data))
	}
	shards = append(shards, cur)
	weightMap := map[string]string{}
	for i, s := range shards {
		name := shardName(i+1, len(shards))
		if err := safetensors.Write(filepath.Join(dir, name), s, metadata); err != nil {
			return err
		}
		for _, t := range s {
			weightMap[t.Name] = name
		}
	}
	return WriteJSON(filepath.Join(dir, IndexFile), map[string]any{
		"metadata":   map[string]any{"total_size": total},
		"weight_map": weightMap,
	})
}
