#!/bin/bash
# Reproduces the README's quantization-quality table on stories260K (about 1-3 minutes per row
# on 2 cores). Usage: bash models/quant/quality.sh WORKDIR
set -euo pipefail
W=${1:?usage: quality.sh WORKDIR}
mkdir -p "$W"
DATA=${RPIQ_DATA:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/data}
R="$W/rpiq"
go build -o "$R" ./cmd/rpiq
FP="$W/stories260K"
[ -d "$FP" ] || "$R" convert --from llama2c "$DATA/llama2c/stories260K.bin" --tokenizer "$DATA/llama2c/tok512.bin" --out "$FP"
gen() { # first seed, count, file: stories sampled from the FP model at temperature 1, one per line
  : > "$3"
  for ((s=$1; s<$1+$2; s++)); do
    "$R" generate --model "$FP" --prompt "" --max-tokens 500 --temperature 1 --seed $s 2>/dev/null | tr '\n' ' ' >> "$3"
    echo >> "$3"
  done
}
[ -s "$W/calib-gen.txt" ] || gen 1000 160 "$W/calib-gen.txt"
[ -s "$W/eval-gen.txt" ] || gen 5000 48 "$W/eval-gen.txt"
"$R" eval --model "$FP" --text "$W/eval-gen.txt" --quiet --json > "$W/fp-eval.json"
run() { # name, quantize flags...
  name=$1; shift
  d="$W/m-$name"
  "$R" quantize --model "$FP" --calib "$W/calib-gen.txt" --out "$d" --samples 32 --seqlen 256 --holdout 4 --seed 0 --quiet "$@" > "$d.log" 2>&1
  printf '%s\t%s\t' "$name" "$(python3 -c "import json;print(json.load(open('$d/report.json'))['summary']['heldout_better_than_gptq'])")"
  "$R" eval --model "$d" --ref "$FP" --text "$W/eval-gen.txt" --quiet --json
}
for cfg in "4b-g32:--bits 4 --group-size 32" "3b-g32:--bits 3 --group-size 32" "4b-pc:--bits 4 --group-size -1"; do
  n=${cfg%%:*}; f=${cfg#*:}
  run $n-rtn --method rtn $f
  run $n-gptq --method gptq $f
  run $n-rpiq-alpha0.5 $f
  run $n-rpiq $f --rpiq-alpha 1
  run $n-inst-own-round $f --rpiq-data instance --rpiq-target quant --rpiq-projection round --rpiq-gram own --rpiq-alpha 1
  run $n-inst-kH-round $f --rpiq-data instance --rpiq-target quant --rpiq-projection round
  run $n-inst-kH-seq $f --rpiq-data instance --rpiq-target quant
  run $n-inst-fp-seq $f --rpiq-data instance --rpiq-alpha 1
  run $n-all-sym-seq $f --rpiq-target quant
  run $n-all-fp-round $f --rpiq-projection round --rpiq-alpha 1
done
