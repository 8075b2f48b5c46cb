package opt

import "github.com/rpiq/rpiq/models/hf"

// Arch is OPT's config.json architecture name.
const Arch = "OPTForCausalLM"

// PositionOffset is the offset HF's OPTLearnedPositionalEmbedding adds to every position: the
// table embed_positions.weight has max_position_embeddings+2 rows and position p uses row p+2.
const PositionOffset = 2

// Config is what OPT reads beyond hf.Config (kept in hf.Config.Arch).
type Config struct {
	DoLayerNormBefore          bool // pre-norm (true) or post-norm (opt-350m)
	LayerNormElementwiseAffine bool // false: the norms have no parameters
	RemoveFinalLayerNorm       bool // _remove_final_layer_norm
}

// readConfig reads an OPTConfig (HF defaults where optional).
func readConfig(f *hf.Fields, c *hf.Config) {
	c.HiddenSize = f.Positive("hidden_size", true, 0)
	c.IntermediateSize = f.Positive("ffn_dim", true, 0)
	c.NumLayers = f.Positive("num_hidden_layers", true, 0)
	c.NumHeads = f.Positive("num_attention_heads", true, 0)
	c.VocabSize = f.Positive("vocab_size", true, 0)
	if f.Err() != nil {
		return
	}
	if c.HiddenSize%c.NumHeads != 0 {
		f.Fail("num_attention_heads", "%d heads do not divide hidden_size %d", c.NumHeads, c.HiddenSize)
	}
	c.NumKVHeads = c.NumHeads
	c.HeadDim = c.HiddenSize / c.NumHeads
	c.MaxPositions = f.Positive("max_position_embeddings", false, 2048)
	c.LayerNormEps = 1e-5
	c.HiddenAct = f.String("activation_function", "relu")
	oc := &Config{DoLayerNormBefore: f.Bool("do_layer_norm_before", true)}
	c.WordEmbedProjDim = f.Positive("word_embed_proj_dim", false, c.HiddenSize)
	oc.LayerNormElementwiseAffine = f.Bool("layer_norm_elementwise_affine", true)
	oc.RemoveFinalLayerNorm = f.Bool("_remove_final_layer_norm", false)
	c.Arch = oc
	bias := f.Bool("enable_bias", true)
	c.AttentionBias, c.AttentionOutBias, c.MLPBias = bias, bias, bias
	c.TieWordEmbeddings = f.Bool("tie_word_embeddings", true)
	c.PositionOffset = PositionOffset
	c.BOSTokenID = f.TokenID("bos_token_id", 2)
	c.EOSTokenIDs = f.TokenIDs("eos_token_id", []int{2})
	c.PadTokenID = f.TokenID("pad_token_id", 1)
}

// configOf is c's OPT settings (the defaults when c was not read by readConfig: models built in
// memory).
func configOf(c *hf.Config) *Config {
	if oc, ok := c.Arch.(*Config); ok {
		return oc
	}
	return &Config{DoLayerNormBefore: true, LayerNormElementwiseAffine: true}
}
