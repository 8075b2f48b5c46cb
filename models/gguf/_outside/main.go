// Command outside reads GGUF files with an independent parser (gpustack/gguf-parser-go, MIT)
// and compares its view with `rpiq inspect --json`: header counts, every tensor's name, type,
// dims and byte size, and its reading of the llama.* and tokenizer keys. It is its own module
// (the parser stays out of rpiq's go.mod) and needs the Go module proxy once; run.sh drives it.
//
//	usage: outside RPIQ_BINARY FILE.gguf...
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"

	gp "github.com/gpustack/gguf-parser-go"
)

type rep struct {
	Metadata map[string]any `json:"metadata"`
	Tensors  []struct {
		Name  string   `json:"name"`
		Type  string   `json:"type"`
		Dims  []uint64 `json:"dims"`
		Bytes uint64   `json:"bytes"`
	} `json:"tensors"`
}

func main() {
	bad := 0
	for _, path := range os.Args[2:] {
		f, err := gp.ParseGGUFFile(path)
		if err != nil {
			fmt.Println(path, "gguf-parser-go error:", err)
			bad++
			continue
		}
		out, err := exec.Command(os.Args[1], "inspect", path, "--json").Output()
		if err != nil {
			panic(err)
		}
		var r rep
		json.Unmarshal(out, &r)
		fmt.Printf("%s: v%d tensors %d kvs %d, data starts at %d\n", path, f.Header.Version, f.Header.TensorCount, f.Header.MetadataKVCount, f.TensorDataStartOffset)
		if int(f.Header.TensorCount) != len(r.Tensors) {
			fmt.Println("  tensor count differs")
			bad++
		}
		for i, ti := range f.TensorInfos {
			o := r.Tensors[i]
			if ti.Name != o.Name || ti.Type.String() != o.Type || fmt.Sprint(ti.Dimensions) != fmt.Sprint(o.Dims) || ti.Bytes() != o.Bytes {
				fmt.Printf("  tensor %d: theirs %s %s %v %d, ours %s %s %v %d\n", i, ti.Name, ti.Type, ti.Dimensions, ti.Bytes(), o.Name, o.Type, o.Dims, o.Bytes)
				bad++
			}
		}
		a := f.Architecture()
		t := f.Tokenizer()
		fmt.Printf("  their view: arch %s, ctx %d, embd %d, blocks %d, ffn %d, heads %d/%d, rope dim %d, vocab %d, file type %s\n",
			a.Architecture, a.MaximumContextLength, a.EmbeddingLength, a.BlockCount, a.FeedForwardLength, a.AttentionHeadCount, a.AttentionHeadCountKV, a.RoPEDimensionCount, a.VocabularyLength, f.Metadata().FileType)
		fmt.Printf("  tokenizer: model %s, tokens %d, bos %d, eos %d, unk %d\n", t.Model, t.TokensLength, t.BOSTokenID, t.EOSTokenID, t.UnknownTokenID)
	}
	fmt.Println("mismatches:", bad)
	if bad > 0 {
		os.Exit(1)
	}
}
