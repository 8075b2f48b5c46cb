package opt

import (
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hfmodel"
)

// inspect counts the parameters config.json implies, with the HF modules' shapes (rpiq inspect
// on a folder without its shards).
func inspect(c *hf.Config, _ int64) (*hfmodel.Inspection, error) {
	H, I, L, V := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.NumLayers), int64(c.VocabSize)
	P := int64(c.WordEmbedProjDim)
	oc := configOf(c)
	layer := 4*H*H + 2*H*I
	if c.AttentionBias {
		layer += 4*H + I + H
	}
	if oc.LayerNormElementwiseAffine {
		layer += 4 * H
	}
	n := V*P + (int64(c.MaxPositions)+int64(c.PositionOffset))*H + L*layer
	if P != H {
		n += 2 * H * P
	}
	if oc.DoLayerNormBefore && !oc.RemoveFinalLayerNorm && oc.LayerNormElementwiseAffine {
		n += 2 * H
	}
	if !c.TieWordEmbeddings {
		n += V * P
	}
	return &hfmodel.Inspection{Parameters: n}, nil
}
