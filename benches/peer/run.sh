#!/usr/bin/env bash
# qasearch beside the Python FastEmbed + numpy pipeline (same corpus, model file
# and threads), in one run. Builds the Python peer in a virtual environment by
# package name. Usage: benches/peer/run.sh [--size 6000] [--rounds 2] [--cold 10] [--corpora one,multi,stackfaq] [--qasearch-models default,fast] [--large 100000]
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${QASEARCH_BENCH_WORK:-.cache/peer}
datasets=${QASEARCH_BENCH_DATASETS:-../shared/datasets}
venv=$work/venv
mkdir -p "$work"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || { echo "run.sh: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
  "$venv/bin/pip" install --quiet --disable-pip-version-check fastembed==0.9.1 onnxruntime==1.24.4 numpy==2.4.6
fi
cargo build --release --quiet
# A copy: a rebuild during the run must not change the binary under it.
cp target/release/qasearch "$work/qasearch"
# Both model files, fetched and verified by qasearch itself.
"$work/qasearch" -q --model minilm model >/dev/null
"$work/qasearch" -q --model minilm-int8 model >/dev/null
query_bench=$(cargo bench --bench query --no-run --message-format=json 2>/dev/null \
  | "$venv/bin/python" -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "query" and m.get("executable"):
        print(m["executable"])')
cp "$query_bench" "$work/query-bench"
exec "$venv/bin/python" benches/peer/bench.py --qasearch "$work/qasearch" \
  --query-bench "$work/query-bench" --models "$PWD/models" --datasets "$datasets" --work "$work" "$@"
