package cogvlm2

import (
	"fmt"
	"io"

	"github.com/rpiq/rpiq/internal/units"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hfmodel"
)

// InspectReport is what `rpiq inspect --json` prints under "cogvlm".
type InspectReport struct {
	ImageSize        int             `json:"image_size"`
	PatchSize        int             `json:"patch_size"`
	ImageTokens      int             `json:"image_tokens"`
	VisionLayers     int             `json:"vision_layers"`
	VisionHidden     int             `json:"vision_hidden_size"`
	TemplateVersion  string          `json:"template_version"`
	LMParameters     int64           `json:"lm_parameters"`
	VisionParameters int64           `json:"vision_parameters"`
	TableBytesBF16   int64           `json:"table_bytes_bf16"` // from the tensor table derived from config.json
	TableMatches     *bool           `json:"table_matches_index,omitempty"`
	Memory           []MemoryVariant `json:"memory"`
	Goal             float64         `json:"goal_of_bf16"`
	KVBytesPerToken  int64           `json:"kv_bytes_per_token_f16"`
	KVBytesQuestion  int64           `json:"kv_bytes_question_f16"` // image + 16 question tokens + 256 answer tokens
}

// inspect is rpiq inspect's CogVLM2 part: the vision settings, parameters per part and the
// weight memory under the differentiated bit widths, from config.json alone.
func inspect(lm *hf.Config, storedBytes int64) (*hfmodel.Inspection, error) {
	c, err := FromHF(hf.ConfigFile, lm)
	if err != nil {
		return nil, err
	}
	lmp, vis := c.Parameters()
	r := &InspectReport{
		ImageSize: c.Vision.ImageSize, PatchSize: c.Vision.PatchSize, ImageTokens: c.Vision.ImageTokens(),
		VisionLayers: c.Vision.NumLayers, VisionHidden: c.Vision.HiddenSize, TemplateVersion: c.TemplateVersion,
		LMParameters: lmp, VisionParameters: vis, Memory: c.MemoryVariants(), Goal: MemoryGoal,
	}
	r.TableBytesBF16 = r.Memory[0].Bytes
	r.KVBytesPerToken = int64(2 * c.LM.NumLayers * c.LM.NumKVHeads * c.LM.HeadDim * 2)
	r.KVBytesQuestion = r.KVBytesPerToken * int64(1+c.Vision.ImageTokens()+16+256)
	if storedBytes > 0 {
		ok := storedBytes == r.TableBytesBF16
		r.TableMatches = &ok
	}
	return &hfmodel.Inspection{Parameters: lmp + vis, Key: "cogvlm", Report: r, Print: r.print}, nil
}

// print is the report as rpiq inspect prints it.
func (r *InspectReport) print(w io.Writer) {
	fmt.Fprintf(w, "vision:        EVA2-CLIP %d layers, hidden %d, image %d px / patch %d → %d image tokens; template %q\n",
		r.VisionLayers, r.VisionHidden, r.ImageSize, r.PatchSize, r.ImageTokens, r.TemplateVersion)
	fmt.Fprintf(w, "parameters:    language model %s, vision tower + adapter %s\n", units.Count(r.LMParameters), units.Count(r.VisionParameters))
	if r.TableMatches != nil {
		verdict := "matches"
		if !*r.TableMatches {
			verdict = "does NOT match"
		}
		fmt.Fprintf(w, "tensor table:  %d bytes at BF16 from config.json, %s the checkpoint's tensor bytes\n", r.TableBytesBF16, verdict)
	}
	fmt.Fprintf(w, "weight memory (GPTQ group size 128; embeddings, norms, biases, positions stay 16-bit; goal for 4-bit LM + 8-bit vision: ≤ %.0f%% of BF16):\n", 100*r.Goal)
	for i, v := range r.Memory {
		mark := ""
		if i > 0 {
			mark = "  above the goal"
			if v.OfBF16 <= r.Goal {
				mark = "  meets the goal"
			}
		}
		fmt.Fprintf(w, "  %-56s %9s  %5.1f%%%s\n", v.Name, units.Bytes(v.Bytes), 100*v.OfBF16, mark)
	}
	fmt.Fprintf(w, "KV cache:      %s per token (f16), %s for one question (image + 16 question + 256 answer tokens), on top of the weights\n",
		units.Bytes(r.KVBytesPerToken), units.Bytes(r.KVBytesQuestion))
}
