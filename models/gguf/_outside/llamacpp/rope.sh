#!/usr/bin/env bash
# Outside check of rpiq export --gguf for LLaMA-3.1-style rope scaling (rope_freqs.weight) with
# llama.cpp itself: stories260K converted, given rope_scaling llama3 (original context 1024, so
# all three frequency regions occur), exported, and run greedily for 120 tokens by llama.cpp
# (greedy.c against libllama) and by rpiq generate on the HF folder; the token ids must agree,
# and differ from the same model without the scaling. Needs a llama.cpp build (LLAMACPP, default
# /work/llamacpp with build/bin/libllama.so) and ../shared/data; not run by CI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
data=${RPIQ_DATA:-$root/../shared/data}
llamacpp=${LLAMACPP:-/work/llamacpp}
n=${N:-120}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O1 -o "$tmp/greedy" "$here/greedy.c" -I"$llamacpp/include" -I"$llamacpp/ggml/include" \
	-L"$llamacpp/build/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$llamacpp/build/bin"
(cd "$root" && go build -o "$tmp/rpiq" ./cmd/rpiq)
"$tmp/rpiq" convert --from llama2c "$data/llama2c/stories260K.bin" --tokenizer "$data/llama2c/tok512.bin" --out "$tmp/plain" >/dev/null
cp -r "$tmp/plain" "$tmp/scaled"
sed -i 's/"rope_theta"/"rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 1024},\n  "rope_theta"/' "$tmp/scaled/config.json"
grep -q llama3 "$tmp/scaled/config.json"
ids() { # rpiq's greedy ids: generate's text, tokenized back without BOS
	"$tmp/rpiq" generate --model "$1" --temperature 0 --max-tokens "$n" --device cpu 2>/dev/null >"$tmp/text"
	"$tmp/rpiq" tokenize --model "$1" --json <"$tmp/text" | tr -d '[]{}" ' | sed 's/ids://; s/,pieces.*//' | tr ',' '\n'
}
for m in plain scaled; do
	"$tmp/rpiq" export --gguf --quiet "$tmp/$m" "$tmp/$m.gguf" >/dev/null
	"$tmp/greedy" "$tmp/$m.gguf" "$n" >"$tmp/$m.llamacpp"
	ids "$tmp/$m" >"$tmp/$m.rpiq"
done
"$tmp/rpiq" inspect "$tmp/scaled.gguf" --json | grep -q '"rope_freqs.weight"'
status=0
for m in plain scaled; do
	if cmp -s "$tmp/$m.llamacpp" "$tmp/$m.rpiq"; then echo "$m: llama.cpp and rpiq agree on $n greedy tokens"; else
		echo "$m: llama.cpp and rpiq DIFFER"; diff "$tmp/$m.llamacpp" "$tmp/$m.rpiq" | head; status=1; fi
done
if cmp -s "$tmp/plain.llamacpp" "$tmp/scaled.llamacpp"; then echo "the scaling changed nothing: the check cannot tell"; status=1; fi
exit $status
