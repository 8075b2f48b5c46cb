package llama

import (
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hfmodel"
)

// inspect counts the parameters config.json implies, with the HF modules' shapes (rpiq inspect
// on a folder without its shards).
func inspect(c *hf.Config, _ int64) (*hfmodel.Inspection, error) {
	H, I, L, V := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.NumLayers), int64(c.VocabSize)
	q, kv := int64(c.NumHeads*c.HeadDim), int64(c.NumKVHeads*c.HeadDim)
	layer := H*q + 2*H*kv + q*H + 3*H*I + 2*H
	if c.AttentionBias {
		layer += q + 2*kv
	}
	if c.AttentionOutBias {
		layer += H
	}
	if c.MLPBias {
		layer += 2*I + H
	}
	if c.QKNorm {
		layer += 2 * int64(c.HeadDim)
	}
	n := V*H + L*layer + H
	if !c.TieWordEmbeddings {
		n += V * H
	}
	return &hfmodel.Inspection{Parameters: n}, nil
}
