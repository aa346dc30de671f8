#!/usr/bin/env bash
# Speed and memory of each model, one run, side by side (docs/models.md):
# embedding rate (`index --full` of StackFAQ's data: 719 pairs, 3,191
# sentences plus questions and whole answers), and a cold `ask` on the
# bundled data/ (median wall time and peak RSS of 5 runs, index built).
#
#   benches/quality/speed.sh [MODEL ...]      (default: every model)
set -euo pipefail
cd "$(dirname "$0")/../.."
datasets=${QASEARCH_BENCH_DATASETS:-../shared/datasets}
work=${QASEARCH_BENCH_WORK:-.cache/speed}
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(minilm-int8 minilm e5-small minilm+e5)
cargo build --release --quiet
mkdir -p "$work"
cp target/release/qasearch "$work/qasearch"
bin=$work/qasearch
printf '| model | texts embedded/s (StackFAQ) | cold ask wall ms (median of 5) | cold ask peak RSS MB | warm ask ms |\n|---|---|---|---|---|\n'
# Warm: one process answers 60 questions (eval/questions.tsv's 15, four
# times) from stdin; less one answering 1, over 59.
fifteen=$(grep -v '^#' eval/questions.tsv | tail -n +2 | cut -f1)
printf '%s\n%s\n%s\n%s\n' "$fifteen" "$fifteen" "$fifteen" "$fifteen" >"$work/questions.txt"
head -1 "$work/questions.txt" >"$work/question.txt"
for model in "${models[@]}"; do
  $bin -q --model "$model" model >/dev/null  # fetched and verified before timing
  rate=$($bin -q --model "$model" --data "$datasets/stackfaq-dev/data" --index "$work/index-sf-$model" \
    index --full --json | python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["embedded_per_second"])')
  q=(-q --model "$model" --data data --index "$work/index-seed-$model")
  $bin "${q[@]}" index >/dev/null
  walls=() rss=()
  for _ in 1 2 3 4 5; do
    out=$( { /usr/bin/time -f '%e %M' "$bin" "${q[@]}" ask "Who criticises the coalition?" >/dev/null; } 2>&1 | tail -1)
    walls+=("$(echo "$out" | awk '{print $1 * 1000}')") rss+=("$(echo "$out" | awk '{print $2 / 1024}')")
  done
  wall=$(printf '%s\n' "${walls[@]}" | sort -n | sed -n 3p)
  peak=$(printf '%s\n' "${rss[@]}" | sort -n | sed -n 5p)
  t() { local s; s=$(date +%s%N); "$bin" "${q[@]}" ask - <"$1" >/dev/null || true; echo $(( $(date +%s%N) - s )); }
  many=$(t "$work/questions.txt") one=$(t "$work/question.txt")
  warm=$(awk -v m="$many" -v o="$one" 'BEGIN { print (m - o) / 1e6 / 59 }')
  printf '| %s | %s | %.0f | %.0f | %.1f |\n' "$model" "$rate" "$wall" "$peak" "$warm"
done
