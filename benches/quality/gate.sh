#!/usr/bin/env bash
# Retrieval quality of several configurations on every shared set, in one
# run, with each one's nDCG@10 delta against the first (the baseline).
#
#   benches/quality/gate.sh [CONFIG ...]     CONFIG = MODEL:ANSWER_VECTORS[:sparse]
#   e.g. benches/quality/gate.sh minilm:embedded minilm-int8:embedded minilm-int8:pooled
#        benches/quality/gate.sh minilm:in-context minilm:in-context:sparse
#   (":sparse": indexes built with the learned sparse arm, `--sparse`; their
#   evaluation indexes are cached apart, so that the others' stay as built)
#
# Sets: the BEIR folders under $QASEARCH_BENCH_DATASETS (default
# ../shared/datasets), stackfaq-dev in Q&A mode (its data/ and
# questions.tsv), and the bundled data/ with eval/questions.tsv. Writes
# .cache/quality/<config>/<set>.json and prints the table (gate.py). With
# QASEARCH_BENCH_DUMP=1, every view's candidates of every query go to
# <set>.dump.jsonl beside it (benches/fusion/ reads them).
set -euo pipefail
cd "$(dirname "$0")/../.."
datasets=${QASEARCH_BENCH_DATASETS:-../shared/datasets}
work=${QASEARCH_BENCH_WORK:-.cache/quality}
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(minilm:pooled minilm-int8:pooled)
# Questions about nothing in a set, for the abstention figures: StackFAQ's
# user questions for the Wikipedia sets, xquad-en's for the others.
unrelated() {
  case "$1" in
    stackfaq*|seed) echo "$datasets/xquad-en/queries.jsonl" ;;
    *) echo "$datasets/stackfaq-dev/beir/queries.jsonl" ;;
  esac
}
cargo build --release --quiet
mkdir -p "$work"
# A copy: a rebuild during the run must not change the binary under it.
cp target/release/qasearch "$work/qasearch"
bin=$work/qasearch
# `dump SET`: the environment that makes eval write SET's candidates.
dump() {
  if [ -n "${QASEARCH_BENCH_DUMP:-}" ]; then echo "QASEARCH_EVAL_DUMP=$out/$1.dump.jsonl"; else echo "QASEARCH_BENCH_NO_DUMP=1"; fi
}
for config in "${configs[@]}"; do
  model=${config%%:*} av=${config#*:}
  sparse=() cache=$work/cache
  if [ "${av%:sparse}" != "$av" ]; then
    av=${av%:sparse} sparse=(--sparse) cache=$work/cache-sparse
  fi
  out=$work/$config
  mkdir -p "$out"
  for dir in "$datasets"/*/; do
    set_name=$(basename "$dir")
    if [ -f "$dir/corpus.jsonl" ]; then
      env "$(dump "$set_name")" $bin -q --model "$model" eval --beir "$dir" --answer-vectors "$av" "${sparse[@]}" --cache "$cache" \
        --unrelated "$(unrelated "$set_name")" --json >"$out/$set_name.json"
    fi
    if [ -f "$dir/beir/corpus.jsonl" ]; then
      env "$(dump "$set_name-beir")" $bin -q --model "$model" eval --beir "$dir/beir" --answer-vectors "$av" "${sparse[@]}" --cache "$cache" \
        --unrelated "$(unrelated "$set_name")" --json >"$out/$set_name-beir.json"
    fi
    if [ -d "$dir/data" ] && [ -f "$dir/questions.tsv" ]; then
      q=(-q --model "$model" --data "$dir/data" --index "$out/index-$set_name")
      $bin "${q[@]}" index --answer-vectors "$av" "${sparse[@]}" >/dev/null
      env "$(dump "$set_name-qa")" $bin "${q[@]}" eval --questions "$dir/questions.tsv" --only-questions \
        --unrelated "$(unrelated "$set_name")" --json >"$out/$set_name-qa.json"
    fi
  done
  q=(-q --model "$model" --data data --index "$out/index-seed")
  $bin "${q[@]}" index --answer-vectors "$av" "${sparse[@]}" >/dev/null
  env "$(dump seed)" $bin "${q[@]}" eval --questions eval/questions.tsv --unrelated "$(unrelated seed)" --json >"$out/seed.json"
  echo "gate.sh: $config done" >&2
done
exec python3 benches/quality/gate.py "$work" "${configs[@]}"
