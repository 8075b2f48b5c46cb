#!/usr/bin/env bash
# Race rpiq against llama.cpp on the same weights: a deterministic random Llama-3.2-1B-shaped
# checkpoint (scripts/mkllama), `rpiq quantize --method rtn --bits 4 --group-size 32`, `rpiq export
# --gguf`, then both engines timed alternately, 2 threads, ROUNDS rounds (default 3):
#   prompt 128 and 512 tokens, decode 64 tokens (llama-bench pp128 + pp512 in one run, tg64 in
#   another, one repetition each per round; rpiq generate with a prompt of exactly that many tokens),
#   load to first token (llama-simple -n 1 beside llama-bench, rpiq generate --max-tokens 1),
#   peak resident memory of the 64-token decode runs (llama-bench --mmap 0, its faster setting,
#   and rpiq generate, whose weights are repacked into memory at load).
# Prints each round, then medians and rpiq ÷ llama.cpp.
#
#   scripts/race-llamacpp.sh LLAMA_BENCH [WORKDIR]
#
# LLAMA_BENCH is a llama-bench binary built as docs/BENCHMARKS.md says; without one this says so
# and exits 0. WORKDIR (default ./race-work) keeps the checkpoints between runs (about 4.7 GB).
# The tokenizer is Llama 3's from ../shared/data/tokenizers/llama3 (or RACE_TOKENIZER=DIR).
# ROUNDS, THREADS, RPIQ (a built rpiq binary) can be set in the environment. On a shared machine
# set OMP_WAIT_POLICY=PASSIVE: llama.cpp's OpenMP threads otherwise spin at every barrier, and
# with other processes on the cores that cost it 10× in decode (docs/BENCHMARKS.md); rpiq's
# workers block. The header line says which policy ran.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${1:-}
if [ -z "$bench" ] || [ ! -x "$bench" ]; then
  echo "race-llamacpp: no llama-bench binary given (${bench:-none}); build llama.cpp as docs/BENCHMARKS.md says and pass its build/bin/llama-bench. Nothing raced."
  exit 0
fi
work=${2:-race-work}
rounds=${ROUNDS:-3}
threads=${THREADS:-2}
tok=${RACE_TOKENIZER:-../shared/data/tokenizers/llama3}
if [ ! -f "$tok/tokenizer.json" ]; then
  echo "race-llamacpp: no Llama 3 tokenizer.json in $tok (set RACE_TOKENIZER=DIR)" >&2
  exit 2
fi
simple="$(dirname "$bench")/llama-simple"
mkdir -p "$work"
work=$(cd "$work" && pwd)
rpiq=${RPIQ:-$work/rpiq}
version="given as RPIQ=$rpiq"
if [ -z "${RPIQ:-}" ]; then
  CGO_ENABLED=0 go build -o "$rpiq" ./cmd/rpiq
  version="built from $(git rev-parse --short HEAD 2>/dev/null || echo ?)$(git diff --quiet HEAD 2>/dev/null || echo '+changes')"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. the checkpoint, its 4-bit quantization and the GGUF export (skipped when already there)
if [ ! -f "$work/fp/model.safetensors" ]; then
  go run ./scripts/mkllama --out "$work/fp" --tokenizer "$tok"
fi
if [ ! -f "$work/q4/model.safetensors" ]; then
  if ! "$rpiq" quantize --model "$work/fp" --out "$work/q4" --method rtn --bits 4 --group-size 32 > "$work/quantize.log" 2>&1; then
    # an rpiq whose rtn still asks for calibration text: one short window keeps it quick
    printf 'The quick brown fox jumps over the lazy dog. %.0s' $(seq 1 40) > "$tmp/calib.txt"
    "$rpiq" quantize --model "$work/fp" --out "$work/q4" --method rtn --bits 4 --group-size 32 \
      --calib "$tmp/calib.txt" --samples 1 --seqlen 32 --holdout 1 > "$work/quantize.log" 2>&1
  fi
fi
if [ ! -f "$work/q4.gguf" ]; then
  "$rpiq" export --gguf "$work/q4" "$work/q4.gguf"
fi

# 2. prompts of exactly n tokens for rpiq (BOS + n-1 × " hello", one token each in Llama 3; n = 1:
# BOS alone)
prompt() { if [ "$1" -gt 1 ]; then printf ' hello%.0s' $(seq 1 $(($1 - 1))); fi; }
# rpiq_rate N MAXTOK FIELD: tokens/s that rpiq generate reports for the prompt or the decode
# (decode rates count the tokens after the first, so MAXTOK 65 times 64), under /usr/bin/time
# (peak RSS in $tmp/time)
rpiq_rate() {
  local out
  out=$(/usr/bin/time -f '%e %M' -o "$tmp/time" "$rpiq" generate --model "$work/q4" --prompt "$(prompt "$1")" --max-tokens "$2" --temperature 0 --threads "$threads" 2>&1 >/dev/null | grep '^prompt:')
  case $3 in
    prompt) sed -E 's/^prompt: ([0-9]+) tokens, ([0-9.]+) tokens\/s.*/\2/' <<<"$out" ;;
    decode) sed -E 's/.*decode: ([0-9]+) tokens, ([0-9.]+) tokens\/s.*/\2/' <<<"$out" ;;
  esac
}
# llama_rates ARGS...: avg_ts of each test of a one-repetition llama-bench run (csv output),
# under /usr/bin/time (peak RSS in $tmp/time)
llama_rates() {
  /usr/bin/time -f '%e %M' -o "$tmp/time" "$bench" -m "$work/q4.gguf" -t "$threads" -r 1 -o csv "$@" 2>/dev/null |
    python3 -c 'import csv,sys; print(" ".join(r["avg_ts"] for r in csv.DictReader(sys.stdin)))'
}
# wall_rss CMD...: "seconds maxrss_kB" of one run
wall_rss() {
  /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" > /dev/null 2>&1 || true
  tail -1 "$tmp/time"
}

echo "race: $(nproc) CPUs, $threads threads, $rounds rounds, load $(cut -d' ' -f1-3 /proc/loadavg), rpiq $version, OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset}, $(date -u +%FT%TZ)"
printf '%-6s %-9s %8s %8s %8s %8s %8s\n' round engine pp128 pp512 tg64 ttft_s rss_MB
for r in $(seq 1 "$rounds"); do
  # llama.cpp first in odd rounds, rpiq first in even ones
  for e in $( ((r % 2)) && echo "llama rpiq" || echo "rpiq llama"); do
    if [ "$e" = llama ]; then
      read -r p128 p512 < <(llama_rates -p 128,512 -n 0)
      tg=$(llama_rates -p 0 -n 64 -mmp 0)
      read -r _ rss < "$tmp/time"
      ttft=-
      if [ -x "$simple" ]; then read -r ttft _ < <(wall_rss "$simple" -m "$work/q4.gguf" -n 1 "Hello"); fi
      printf '%-6s %-9s %8s %8s %8s %8s %8d\n' "$r" llama.cpp "$p128" "$p512" "$tg" "$ttft" $((rss / 1024))
    else
      p128=$(rpiq_rate 128 1 prompt)
      p512=$(rpiq_rate 512 1 prompt)
      tg=$(rpiq_rate 1 65 decode)
      read -r _ rss < "$tmp/time"
      read -r ttft _ < <(wall_rss "$rpiq" generate --model "$work/q4" --prompt Hello --max-tokens 1 --temperature 0 --threads "$threads")
      printf '%-6s %-9s %8s %8s %8s %8s %8d\n' "$r" rpiq "$p128" "$p512" "$tg" "$ttft" $((rss / 1024))
    fi
    echo "$r $e $p128 $p512 $tg $ttft $rss" >> "$tmp/$e"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$tmp/llama" "$tmp/rpiq" <<'EOF'
import statistics, sys
def cols(path):
    rows = [l.split() for l in open(path)]
    return list(zip(*rows))
l, r = cols(sys.argv[1]), cols(sys.argv[2])
def med(xs):
    v = [float(x) for x in xs if x != '-']
    return statistics.median(v) if v else float('nan')
print("medians (tokens/s; seconds; MB)   rpiq   llama.cpp   rpiq ÷ llama.cpp")
for name, i in (("prompt 128", 2), ("prompt 512", 3), ("decode 64", 4)):
    a, b = med(r[i]), med(l[i])
    print(f"{name:30s} {a:7.1f} {b:10.1f} {a / b:10.2f}")
a, b = med(r[5]), med(l[5])
print(f"{'load to first token (s)':30s} {a:7.2f} {b:10.2f} {a / b:10.2f}  (lower is better)")
a, b = med(r[6]) / 1024, med(l[6]) / 1024
print(f"{'peak RSS of decode (MB)':30s} {a:7.0f} {b:10.0f} {a / b:10.2f}  (llama.cpp --mmap 0; lower is better)")
EOF
