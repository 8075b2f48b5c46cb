package smolvlm

import (
	"fmt"
	"strings"
)

// The processor's special strings (Idefics3Processor: fake_image_token, image_token,
// global_image_tag; the row/column tags are written per tile).
const (
	FakeToken   = "<fake_token_around_image>"
	ImageToken  = "<image>"
	GlobalToken = "<global-img>"
	EndOfTurn   = "<end_of_utterance>"
)

// ImagePrompt is the text that replaces one <image> in the prompt (processing_idefics3.py's
// _prompt_split_image / _prompt_single_image): per tile row r and column c,
// <fake_token_around_image><row_r_col_c> and seqLen <image> tokens, a newline after each row,
// then a newline and the global image between <fake_token_around_image> tags; a single-tile
// image is <fake_token_around_image><global-img>, the tokens and <fake_token_around_image>.
func ImagePrompt(seqLen, rows, cols int) string {
	img := strings.Repeat(ImageToken, seqLen)
	global := FakeToken + GlobalToken + img + FakeToken
	if rows == 0 && cols == 0 {
		return global
	}
	var b strings.Builder
	for r := 1; r <= rows; r++ {
		for c := 1; c <= cols; c++ {
			fmt.Fprintf(&b, "%s<row_%d_col_%d>%s", FakeToken, r, c, img)
		}
		b.WriteByte('\n')
	}
	b.WriteString("\n" + global)
	return b.String()
}

// ChatPrompt is SmolVLM's chat template (chat_template.json) for one user turn, the image (when
// there is one) before the question, and the generation prompt:
//
//	<|im_start|>User:<image>QUESTION<end_of_utterance>\nAssistant:
//
// with "User: " (a space) when the turn starts with text. The processor then expands <image>
// (ExpandImage).
func ChatPrompt(question string, withImage bool) string {
	if withImage {
		return "<|im_start|>User:" + ImageToken + question + EndOfTurn + "\nAssistant:"
	}
	return "<|im_start|>User: " + question + EndOfTurn + "\nAssistant:"
}

// ExpandImage replaces the single <image> of prompt by ImagePrompt(seqLen, rows, cols).
func ExpandImage(prompt string, seqLen, rows, cols int) (string, error) {
	if n := strings.Count(prompt, ImageToken); n != 1 {
		return "", fmt.Errorf("smolvlm: the prompt has %d %s tags, want 1", n, ImageToken)
	}
	return strings.Replace(prompt, ImageToken, ImagePrompt(seqLen, rows, cols), 1), nil
}
