"""Vectors of one ONNX model on this CPU, to compare CPUs (docs/arithmetic.md).

    python3 vectors.py MODEL.onnx TOKENIZER.json OUT.npy [DATASETS]
    python3 vectors.py --compare A.npy B.npy

Embeds the texts of tests/fixtures/reference-embeddings.json and the first
texts of the shared sets (60 xquad-en sentences, 40 wikiqa-dev sentences,
20 xquad-de-para paragraphs, 60 xquad-en questions), one text a call, as
qasearch does for a model of integer maths: mean pooling, 256 tokens,
L2-normalised. Run it with the pinned onnxruntime (1.24.4) on two machines,
or on one machine natively and under `qemu-x86_64 -cpu Haswell` (Debian's
qemu-user: a CPU with AVX2 and without AVX-512 VNNI), then compare.
"""
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FIXTURE = HERE.parent.parent / "tests" / "fixtures" / "reference-embeddings.json"


def texts(datasets):
    out = [t["text"] for t in json.loads(FIXTURE.read_text())["texts"]]
    for name, n in (("xquad-en/corpus.jsonl", 60), ("wikiqa-dev/corpus.jsonl", 40),
                    ("xquad-de-para/corpus.jsonl", 20), ("xquad-en/queries.jsonl", 60)):
        with open(datasets / name) as f:
            out += [json.loads(line)["text"] for _, line in zip(range(n), f)]
    return out


def embed(model, tokenizer, all_texts):
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer))
    tok.no_padding()
    tok.enable_truncation(256)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    vectors = []
    for text in all_texts:
        enc = tok.encode(text)
        ids = np.array([enc.ids], dtype=np.int64)
        mask = np.array([enc.attention_mask], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})[0][0]
        v = (hidden * mask[0][:, None]).sum(0) / mask.sum()
        vectors.append(v / np.linalg.norm(v))
    return np.array(vectors)


def main():
    if sys.argv[1] == "--compare":
        a, b = np.load(sys.argv[2]), np.load(sys.argv[3])
        cos = (a * b).sum(1)
        print(f"{len(cos)} texts: cosine min {cos.min():.8f}, mean {cos.mean():.8f}; "
              f"largest coordinate difference {np.abs(a - b).max():.2e}")
        return
    model, tokenizer, out = sys.argv[1:4]
    datasets = Path(sys.argv[4]) if len(sys.argv) > 4 else HERE.parent.parent.parent / "shared" / "datasets"
    np.save(out, embed(model, tokenizer, texts(datasets)))


if __name__ == "__main__":
    main()
