package hf

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// SizeProblems compares the sizes config.json states with the tensors of the checkpoint in
// dir, before anything is allocated from those sizes: a config.json with num_hidden_layers 2e9
// or vocab_size 4e9 once made the constructors loop and allocate for minutes. shapes maps every
// tensor name to its shape, or to nil when only the name is known (an index whose shard is
// absent). It returns one *Error per problem, each naming config.json and the field.
//
// Two kinds of check: bounds that hold for any architecture (every layer has at least one
// tensor; the embedding's vocab_size × width elements must fit in the checkpoint), and the exact
// shapes of the tensors it recognises by their HF names (embeddings, LM head, the decoder
// layers' norms, attention and MLP projections of the LLaMA/Qwen and OPT families).
func SizeProblems(c *Config, dir string, shapes map[string][]int) []*Error {
	path := filepath.Join(dir, ConfigFile)
	var probs []*Error
	add := func(field, format string, a ...any) { probs = append(probs, errf(path, field, format, a...)) }

	// Bounds for any layout. Elements are counted generously (a GPTQ int32 holds up to 16
	// 2-bit weights) so that the bound never refuses a checkpoint that could be right.
	var elems int64
	known := true
	for name, s := range shapes {
		if s == nil {
			known = false
			continue
		}
		n := int64(1)
		for _, d := range s {
			n *= int64(d)
		}
		if strings.HasSuffix(name, ".qweight") {
			n *= 16
		}
		elems += n
	}
	E := c.HiddenSize
	if c.WordEmbedProjDim > 0 {
		E = c.WordEmbedProjDim // OPT's embedding width (project_in/out map it to hidden_size)
	}
	if c.NumLayers > len(shapes) {
		add("num_hidden_layers", "%d, but the checkpoint has only %d tensors (each layer needs several)", c.NumLayers, len(shapes))
	}
	if known && len(shapes) > 0 {
		if E > 0 && int64(c.VocabSize) > elems/int64(E) { // vocab·E > elems, without overflow
			add("vocab_size", "%d × hidden width %d embedding weights, but the checkpoint holds %d weights in all", c.VocabSize, E, elems)
		}
		if int64(c.HiddenSize) > elems {
			add("hidden_size", "%d, larger than the whole checkpoint (%d weights)", c.HiddenSize, elems)
		}
	}

	// The decoder stack: its layer indices, under the prefixes the supported layouts use.
	prefix, layers := decoderLayers(shapes)
	if prefix != "" && len(layers) != c.NumLayers {
		add("num_hidden_layers", "%d, but the checkpoint has %d decoder layers (%s%s)", c.NumLayers, len(layers), prefix, layerSpan(layers))
	}

	// Exact shapes of the tensors recognised by name; nil shapes (absent shards) are skipped.
	checked := map[string]bool{}
	check := func(field, name string, want ...int) {
		s, ok := shapes[name]
		if !ok || s == nil || checked[name] || equalShape(s, want) {
			return
		}
		checked[name] = true
		add(field, "config.json implies %v for tensor %q, the checkpoint has %v", want, name, s)
	}
	root := strings.TrimSuffix(prefix, "layers.")
	if prefix == "" {
		root = "model."
	}
	for _, p := range []string{root, "model.", "model.decoder.", "decoder."} {
		check("vocab_size/hidden_size", p+"embed_tokens.weight", c.VocabSize, E)
	}
	check("vocab_size/hidden_size", "lm_head.weight", c.VocabSize, E)
	if c.PositionOffset > 0 && c.MaxPositions > 0 { // learned positions (OPT)
		check("max_position_embeddings", root+"embed_positions.weight", c.MaxPositions+c.PositionOffset, c.HiddenSize)
	}
	H, I := c.HiddenSize, c.IntermediateSize
	q, kv := c.NumHeads*c.HeadDim, c.NumKVHeads*c.HeadDim
	for _, i := range layers {
		p := fmt.Sprintf("%s%d.", prefix, i)
		check("hidden_size", p+"input_layernorm.weight", H)
		check("hidden_size", p+"post_attention_layernorm.weight", H)
		check("num_attention_heads/head_dim/hidden_size", p+"self_attn.q_proj.weight", q, H)
		check("num_key_value_heads/head_dim/hidden_size", p+"self_attn.k_proj.weight", kv, H)
		check("num_key_value_heads/head_dim/hidden_size", p+"self_attn.v_proj.weight", kv, H)
		check("num_attention_heads/head_dim/hidden_size", p+"self_attn.o_proj.weight", H, q)
		check("intermediate_size/hidden_size", p+"mlp.gate_proj.weight", I, H)
		check("intermediate_size/hidden_size", p+"mlp.up_proj.weight", I, H)
		check("intermediate_size/hidden_size", p+"mlp.down_proj.weight", H, I)
		if c.PositionOffset > 0 { // OPT's names
			check("hidden_size", p+"self_attn_layer_norm.weight", H)
			check("hidden_size", p+"final_layer_norm.weight", H)
			check("hidden_size", p+"self_attn.out_proj.weight", H, H)
			check("ffn_dim/hidden_size", p+"fc1.weight", I, H)
			check("ffn_dim/hidden_size", p+"fc2.weight", H, I)
		}
		if len(probs) > 8 {
			break // the first layer's problems say it; the rest repeat them
		}
	}
	return probs
}

// decoderPrefixes are where the supported layouts keep their decoder layers: LLaMA, Qwen and
// CogVLM2 under model.layers, OPT under model.decoder.layers (or decoder.layers, as
// facebook/opt-350m is stored). A vision tower's layers (model.vision.transformer.layers) are
// not matched.
var decoderLayerRE = regexp.MustCompile(`^((?:model\.)?(?:decoder\.|text_model\.|language_model\.)?layers\.)(\d+)\.`)

// decoderLayers returns the layer prefix the checkpoint uses and its layer indices, sorted.
func decoderLayers(shapes map[string][]int) (string, []int) {
	byPrefix := map[string]map[int]bool{}
	for name := range shapes {
		m := decoderLayerRE.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		i, err := strconv.Atoi(m[2])
		if err != nil {
			continue
		}
		if byPrefix[m[1]] == nil {
			byPrefix[m[1]] = map[int]bool{}
		}
		byPrefix[m[1]][i] = true
	}
	best := ""
	for p, set := range byPrefix {
		if best == "" || len(set) > len(byPrefix[best]) || (len(set) == len(byPrefix[best]) && p < best) {
			best = p
		}
	}
	var idx []int
	for i := range byPrefix[best] {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	return best, idx
}

func layerSpan(idx []int) string {
	switch {
	case len(idx) == 0:
		return "N: none"
	case idx[len(idx)-1] == len(idx)-1:
		return fmt.Sprintf("0-%d", len(idx)-1)
	}
	return fmt.Sprintf("%d-%d with gaps", idx[0], idx[len(idx)-1])
}

// CheckSizes is SizeProblems for an open checkpoint, as one error (the first problem, and how
// many more there are); nil when the sizes agree.
func CheckSizes(c *Config, ck *Checkpoint) error {
	shapes := make(map[string][]int, len(ck.Names()))
	for _, n := range ck.Names() {
		info, _ := ck.Info(n)
		shapes[n] = append([]int{}, info.Shape...) // never nil: nil means "shape unknown"
	}
	probs := SizeProblems(c, ck.Dir(), shapes)
	switch len(probs) {
	case 0:
		return nil
	case 1:
		return probs[0]
	}
	e := *probs[0]
	e.Problem += fmt.Sprintf(" (and %d more size problems: rpiq inspect lists them)", len(probs)-1)
	return &e
}

// CheckLayerCount is the layer-count check for a stack SizeProblems does not know (a vision
// tower): the distinct indices N of tensors named prefix+"N." must number n, the config's
// field. Call it before anything loops over n.
func CheckLayerCount(ck *Checkpoint, prefix, field string, n int) error {
	layers := map[string]bool{}
	for _, name := range ck.Names() {
		if rest, ok := strings.CutPrefix(name, prefix); ok {
			if i := strings.IndexByte(rest, '.'); i > 0 {
				layers[rest[:i]] = true
			}
		}
	}
	if n == len(layers) {
		return nil
	}
	missing := ""
	for i := 0; i <= len(layers) && i < n; i++ { // the first index absent (at most len(layers))
		if !layers[strconv.Itoa(i)] {
			missing = fmt.Sprintf("; no %s%d.* tensors", prefix, i)
			break
		}
	}
	return errf(filepath.Join(ck.Dir(), ConfigFile), field, "%d, but the checkpoint has %d layers (%sN)%s", n, len(layers), prefix, missing)
}

// CheckShapes compares the shapes a config implies (name → shape, e.g. an architecture's
// tensor table) with those of the tensors the checkpoint holds, naming config.json and the
// tensor at the first difference. Tensors it does not hold are left to the binder (a GPTQ
// module is stored under other names).
func CheckShapes(ck *Checkpoint, want func(yield func(name string, shape []int) bool)) error {
	var err error
	want(func(name string, shape []int) bool {
		if info, ok := ck.Info(name); ok && !equalShape(info.Shape, shape) {
			err = errf(filepath.Join(ck.Dir(), ConfigFile), fmt.Sprintf("tensor %q", name), "config.json implies shape %v, the checkpoint has %v", shape, info.Shape)
			return false
		}
		return true
	})
	return err
}
