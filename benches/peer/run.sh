#!/usr/bin/env bash
# qasearch beside the Python FastEmbed + numpy pipeline (same corpus, model file
# and threads), in one run. Builds the Python peer in a virtual environment by
# package name. Usage: benches/peer/run.sh [--size 6000] [--rounds 2] [--cold 10] [--large 100000]
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
# Both model files, fetched and verified by qasearch itself.
./target/release/qasearch -q --model fast model >/dev/null
query_bench=$(cargo bench --bench query --no-run --message-format=json 2>/dev/null \
  | "$venv/bin/python" -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "query" and m.get("executable"):
        print(m["executable"])')
exec "$venv/bin/python" benches/peer/bench.py --qasearch ./target/release/qasearch \
  --query-bench "$query_bench" --models "$PWD/models" --datasets "$datasets" --work "$work" "$@"
