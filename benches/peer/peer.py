"""The pipeline a user would otherwise write in Python: FastEmbed + numpy.

Same model file, same tokenizer files, same threads as qasearch.

  peer.py index MODEL.onnx SENTENCES OUT.npy THREADS   embed every sentence (batch 32), save the matrix
  peer.py query MODEL.onnx INDEX.npy QUESTIONS THREADS warm loop: embed + exact top 10 per question
  peer.py ask MODEL.onnx INDEX.npy QUESTION THREADS    one cold question (run as a whole process)

MODEL.onnx's folder holds the tokenizer files too.

index and query print one JSON object.
"""

import json
import sys
import time


def model(onnx, threads):
    import os

    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    model_dir, model_file = os.path.split(os.path.abspath(onnx))
    name = f"qasearch/{model_file}"
    try:
        TextEmbedding.add_custom_model(
            model=name,
            pooling=PoolingType.MEAN,
            normalization=True,
            sources=ModelSource(hf=name),
            dim=384,
            model_file=model_file,
        )
    except ValueError:
        pass
    return TextEmbedding(model_name=name, specific_model_path=model_dir, threads=threads)


def top10(matrix, vector):
    import numpy as np

    scores = matrix @ vector
    k = min(10, len(scores))
    idx = np.argpartition(-scores, k - 1)[:k]
    return idx[np.argsort(-scores[idx])]


def main():
    cmd, model_dir = sys.argv[1], sys.argv[2]
    threads = int(sys.argv[-1])
    import numpy as np

    if cmd == "index":
        sentences = [l.rstrip("\n") for l in open(sys.argv[3], encoding="utf-8") if l.strip()]
        t0 = time.perf_counter()
        m = model(model_dir, threads)
        t1 = time.perf_counter()
        vectors = np.array(list(m.embed(sentences, batch_size=32)), dtype=np.float32)
        t2 = time.perf_counter()
        np.save(sys.argv[4], vectors)
        t3 = time.perf_counter()
        print(json.dumps({"sentences": len(sentences), "seconds": t3 - t0, "embed_seconds": t2 - t1,
                          "sentences_per_second": len(sentences) / (t2 - t1)}))
    elif cmd == "query":
        matrix = np.load(sys.argv[3])
        questions = [l.strip() for l in open(sys.argv[4], encoding="utf-8") if l.strip()]
        m = model(model_dir, threads)
        for q in questions[:20]:  # warm up
            top10(matrix, next(iter(m.embed([q]))))
        times = []
        for q in questions:
            t = time.perf_counter()
            top10(matrix, next(iter(m.embed([q]))))
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        pick = lambda p: times[min(len(times) - 1, round(p / 100 * (len(times) - 1)))]
        print(json.dumps({"queries": len(times), "p50_ms": pick(50), "p95_ms": pick(95)}))
    elif cmd == "ask":
        matrix = np.load(sys.argv[3], mmap_mode="r")
        m = model(model_dir, threads)
        v = next(iter(m.embed([sys.argv[4]])))
        print(top10(matrix, v)[:3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
