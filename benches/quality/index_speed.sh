#!/usr/bin/env bash
# Whole `index` jobs of one binary with two --answer-vectors settings,
# alternating, on the same corpora: wall time, peak RSS, sentences/s.
#
#   benches/quality/index_speed.sh [ROUNDS] [MODEL] [SETTING ...] -- DATA_DIR ...
#   e.g. benches/quality/index_speed.sh 2 minilm-int8 embedded in-context -- \
#          .cache/peer/c9000-multi/data ../shared/datasets/stackfaq-dev/data
#
# (The seed-like corpus is made by benches/peer/run.sh --corpora multi.) Each
# run builds a fresh index in a temporary folder; nothing else should run
# meanwhile, and only figures of one run compare (this machine's speed
# varies through the day).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-2}; model=${2:-minilm-int8}; shift 2 || true
settings=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do settings+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
[ ${#settings[@]} -gt 0 ] || settings=(embedded in-context)
[ $# -gt 0 ] || { echo "index_speed.sh: give the data folders after --" >&2; exit 2; }
cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp target/release/qasearch "$work/qasearch"
for round in $(seq "$rounds"); do
  for data in "$@"; do
    for av in "${settings[@]}"; do
      rm -rf "$work/index"
      /usr/bin/time -f "%e %M" -o "$work/time" "$work/qasearch" -q --model "$model" \
        --data "$data" --index "$work/index" index --answer-vectors "$av" --json >"$work/out.json"
      python3 - "$round" "$data" "$av" "$work" <<'PY'
import json, sys
rnd, data, av, work = sys.argv[1:]
j = json.load(open(f"{work}/out.json"))
wall, rss = open(f"{work}/time").read().split()
print(f"round {rnd}  {data}  {av}: {j['qa_pairs']} pairs, {j['sentences']} sentences, "
      f"{j['vectors']} vectors; {float(wall):.1f} s, {int(rss) // 1024} MB peak RSS, "
      f"{j['sentences'] / float(wall):.1f} sentences/s, embedding {j['embed_seconds']:.1f} s", flush=True)
PY
    done
  done
done
