package bench

import "testing"

// BenchGPTQ on a tiny shape: the random checkpoint loads through hfmodel onto the quantized
// kernels (it fails otherwise), decodes and runs a prompt.
func TestBenchGPTQSmall(t *testing.T) {
	s := Shape{Name: "tiny", Hidden: 128, Inter: 384, Layers: 2, Heads: 4, KVHeads: 2, Vocab: 512}
	for _, bits := range []int{4, 8} {
		res, err := LlamaGPTQ(LlamaOptions{Shape: s, DecodeSteps: 2, BandwidthMiB: 8, PromptTokens: 9}, bits)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 2 || !(res[0].TokS > 0) || !(res[1].TokS > 0) || !(res[0].Limits["packed_gb"] > 0) {
			t.Fatalf("%d-bit: results %+v", bits, res)
		}
		t.Log(res[0], res[1])
	}
}
