package smolvlm

import (
	"fmt"
	"io"

	"github.com/rpiq/rpiq/internal/units"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hfmodel"
)

// MemoryRow is one line of the memory table: the weights under one choice of bit widths, split
// by part, and the KV cache of a one-image question.
type MemoryRow struct {
	Name      string `json:"name"`
	Bits      Bits   `json:"bits"`
	Vision    int64  `json:"vision_bytes"` // encoder, patch and position embeddings
	Connector int64  `json:"connector_bytes"`
	Decoder   int64  `json:"decoder_bytes"` // layers and final norm
	Embedding int64  `json:"embedding_bytes"`
	Head      int64  `json:"head_bytes"` // 0 when tied to the embedding
	Total     int64  `json:"total_bytes"`
}

// MemoryVariants are the storage choices the table lists: the checkpoint's 16 bits, and the
// differentiated RPIQ choices (decoder 4 or 3 bits, vision 8, connector and head 8, group 128).
func MemoryVariants() []struct {
	Name string
	Bits Bits
} {
	return []struct {
		Name string
		Bits Bits
	}{
		{"bf16", Bits{Decoder: 16, Vision: 16, Connector: 16, Head: 16}},
		{"decoder4_vision8", Bits{Decoder: 4, Vision: 8, Connector: 8, Head: 8, GroupSize: 128}},
		{"decoder3_vision8", Bits{Decoder: 3, Vision: 8, Connector: 8, Head: 8, GroupSize: 128}},
		{"decoder4_vision4", Bits{Decoder: 4, Vision: 4, Connector: 8, Head: 8, GroupSize: 128}},
	}
}

// Memory is the table for c.
func (c *Config) Memory() []MemoryRow {
	var out []MemoryRow
	for _, v := range MemoryVariants() {
		r := MemoryRow{Name: v.Name, Bits: v.Bits}
		for _, t := range c.Tensors() {
			b := c.TensorBytes(t, v.Bits)
			switch p := PartOf(t); {
			case p == PartConnector:
				r.Connector += b
			case p == PartHead:
				r.Head += b
			case t.Name == textPrefix+"embed_tokens.weight":
				r.Embedding += b
			case len(t.Name) >= len(visionPrefix) && t.Name[:len(visionPrefix)] == visionPrefix:
				r.Vision += b
			default:
				r.Decoder += b
			}
		}
		r.Total = r.Vision + r.Connector + r.Decoder + r.Embedding + r.Head
		out = append(out, r)
	}
	return out
}

// Parameters are the vision (encoder + connector) and language (decoder, embedding, head)
// parameter counts.
func (c *Config) Parameters() (vision, language int64) {
	for _, t := range c.Tensors() {
		if p := PartOf(t); p == PartVision || p == PartConnector || (len(t.Name) >= len(visionPrefix) && t.Name[:len(visionPrefix)] == visionPrefix) {
			vision += t.Numel()
		} else {
			language += t.Numel()
		}
	}
	return vision, language
}

// InspectReport is what `rpiq inspect --json` prints under "smolvlm".
type InspectReport struct {
	ImageSize        int         `json:"image_size"`
	PatchSize        int         `json:"patch_size"`
	ScaleFactor      int         `json:"scale_factor"`
	TokensPerTile    int         `json:"tokens_per_tile"`
	VisionLayers     int         `json:"vision_layers"`
	VisionHidden     int         `json:"vision_hidden_size"`
	VisionParameters int64       `json:"vision_parameters"`
	LangParameters   int64       `json:"language_parameters"`
	Tied             bool        `json:"tie_word_embeddings"`
	TableBytesBF16   int64       `json:"table_bytes_bf16"`
	TableMatches     *bool       `json:"table_matches_checkpoint,omitempty"`
	Memory           []MemoryRow `json:"memory"`
	KVBytesPerToken  int64       `json:"kv_bytes_per_token_f16"`
	// A 4:3 photo with the published processor (longest edge 4 tiles): 4×3 tiles + the
	// global image, a 16-token question and a 64-token answer.
	QuestionTokens  int   `json:"question_tokens"`
	KVBytesQuestion int64 `json:"kv_bytes_question_f16"`
}

func inspect(c *hf.Config, storedBytes int64) (*hfmodel.Inspection, error) {
	sc, ok := c.Arch.(*Config)
	if !ok {
		return nil, fmt.Errorf("smolvlm: config of %s was not read by this package", c.Architecture)
	}
	vis, lang := sc.Parameters()
	r := &InspectReport{ImageSize: sc.Vision.ImageSize, PatchSize: sc.Vision.PatchSize, ScaleFactor: sc.ScaleFactor,
		TokensPerTile: sc.ImageSeqLen(), VisionLayers: sc.Vision.NumLayers, VisionHidden: sc.Vision.HiddenSize,
		VisionParameters: vis, LangParameters: lang, Tied: sc.TieWordEmbeddings, Memory: sc.Memory()}
	r.TableBytesBF16 = r.Memory[0].Total
	if storedBytes > 0 {
		ok := storedBytes == r.TableBytesBF16
		r.TableMatches = &ok
	}
	t := sc.Text
	r.KVBytesPerToken = int64(2 * t.NumLayers * t.NumKVHeads * t.HeadDim * 2)
	r.QuestionTokens = 13*(sc.ImageSeqLen()+3) + 16 + 64
	r.KVBytesQuestion = r.KVBytesPerToken * int64(r.QuestionTokens)
	return &hfmodel.Inspection{Parameters: vis + lang, Key: "smolvlm", Report: r, Print: r.print}, nil
}

func (r *InspectReport) print(w io.Writer) {
	fmt.Fprintf(w, "vision:        SigLIP %d layers, hidden %d, tile %d px / patch %d, pixel shuffle %d → %d tokens per tile\n",
		r.VisionLayers, r.VisionHidden, r.ImageSize, r.PatchSize, r.ScaleFactor, r.TokensPerTile)
	fmt.Fprintf(w, "parameters:    vision encoder + connector %s, language model %s (embeddings tied: %v)\n",
		units.Count(r.VisionParameters), units.Count(r.LangParameters), r.Tied)
	if r.TableMatches != nil {
		verdict := "matches"
		if !*r.TableMatches {
			verdict = "does NOT match"
		}
		fmt.Fprintf(w, "tensor table:  %s at 16 bits %s the checkpoint\n", units.Bytes(r.TableBytesBF16), verdict)
	}
	fmt.Fprintf(w, "memory (weights; group 128):\n")
	fmt.Fprintf(w, "  %-18s %10s %10s %10s %10s %10s %10s\n", "variant", "vision", "connector", "decoder", "embedding", "head", "total")
	for _, m := range r.Memory {
		fmt.Fprintf(w, "  %-18s %10s %10s %10s %10s %10s %10s\n", m.Name, units.Bytes(m.Vision), units.Bytes(m.Connector),
			units.Bytes(m.Decoder), units.Bytes(m.Embedding), units.Bytes(m.Head), units.Bytes(m.Total))
	}
	fmt.Fprintf(w, "KV cache:      %s per token (f16); a 4:3 photo (13 tiles) + question + answer, %d tokens: %s\n",
		units.Bytes(r.KVBytesPerToken), r.QuestionTokens, units.Bytes(r.KVBytesQuestion))
}
