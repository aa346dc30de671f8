#!/usr/bin/env bash
# How long `serve` takes until its first answer (GET /api/health), and its
# resident memory then, for each binary and model, alternating, on the
# bundled data/ with its index built first (docs/models.md, "multilingual-e5-small").
#
#   benches/quality/serve_start.sh [ROUNDS] BINARY... -- MODEL...
#   e.g. benches/quality/serve_start.sh 3 /tmp/old-qasearch target/release/qasearch -- e5-small minilm-int8
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=$1; shift
bins=(); while [ "$1" != "--" ]; do bins+=("$1"); shift; done; shift
models=("$@")
work=${QASEARCH_BENCH_WORK:-.cache/serve-start}
mkdir -p "$work"
port=18431
for model in "${models[@]}"; do
  "${bins[0]}" -q --model "$model" --index "$work/index-$model" index >/dev/null
done
for _ in $(seq "$rounds"); do
  for bin in "${bins[@]}"; do
    for model in "${models[@]}"; do
      start=$(date +%s.%N)
      "$bin" -q --model "$model" --index "$work/index-$model" serve --port $port >/dev/null 2>&1 &
      pid=$!
      until curl -s -o /dev/null "http://127.0.0.1:$port/api/health"; do sleep 0.02; done
      end=$(date +%s.%N)
      rss=$(ps -o rss= -p $pid)
      kill $pid; wait $pid 2>/dev/null || true
      printf '%s %s %.2f s %d MB\n' "$bin" "$model" "$(echo "$end - $start" | bc)" $((rss / 1024))
    done
  done
done
