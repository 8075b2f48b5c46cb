#!/usr/bin/env bash
# Outside check of rpiq export --gguf: stories260K converted, exported dense (F32) and as a 4-bit
# g32 sym GPTQ checkpoint (Q4_0), then read by gpustack/gguf-parser-go and compared with
# rpiq inspect --json. Needs ../shared/data and the Go module proxy (not run by CI).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
data=${RPIQ_DATA:-$root/../shared/data}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && go build -o "$tmp/rpiq" ./cmd/rpiq)
"$tmp/rpiq" convert --from llama2c "$data/llama2c/stories260K.bin" --tokenizer "$data/llama2c/tok512.bin" --out "$tmp/s" >/dev/null
"$tmp/rpiq" quantize --model "$tmp/s" --calib "$data/text/c4-sample.txt" --out "$tmp/q" --method gptq \
	--samples 3 --seqlen 48 --holdout 1 --bits 4 --group-size 32 --sym --quiet >/dev/null 2>&1
"$tmp/rpiq" export --gguf "$tmp/s" "$tmp/s.gguf"
"$tmp/rpiq" export --gguf "$tmp/q" "$tmp/q.gguf" --quiet
(cd "$here" && go run . "$tmp/rpiq" "$tmp/s.gguf" "$tmp/q.gguf")
