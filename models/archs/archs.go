// Package archs links in every architecture the programs can open. Each architecture is one
// folder that registers itself with models/hfmodel in init(); the blank import below is the one
// line outside that folder a new architecture adds (as ollama's model/models does).
package archs

import (
	_ "github.com/rpiq/rpiq/models/cogvlm2" // CogVLMForCausalLM (vision-language)
	_ "github.com/rpiq/rpiq/models/llama"   // LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM
	_ "github.com/rpiq/rpiq/models/opt"     // OPTForCausalLM
	_ "github.com/rpiq/rpiq/models/smolvlm" // Idefics3ForConditionalGeneration, SmolVLMForConditionalGeneration (vision-language)
)
