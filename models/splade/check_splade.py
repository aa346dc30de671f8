"""Checks convert_splade.py's model.onnx against a plain numpy run of the
package's weights, doing what cognition/encoder.py's SpladeEncoder does
(BertForMaskedLM; log(1 + relu(logits)); masked max over tokens).

  python check_splade.py MODEL.SAFETENSORS OUT_DIR [SHARED_DATASETS]

needs numpy, onnxruntime and tokenizers (pip). Fails unless, on texts of
every shared set (a batch with padding, and each text alone), every
activation of the ONNX model is within 1e-4 of numpy's and the same
vocabulary entries are non-zero.
"""
import glob, json, os, sys
import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_splade import read_safetensors

t = read_safetensors(sys.argv[1])
out = sys.argv[2]
datasets = sys.argv[3] if len(sys.argv) > 3 else '../shared/datasets'
tok = Tokenizer.from_file(os.path.join(out, 'tokenizer.json'))
tok.enable_truncation(256)
sess = ort.InferenceSession(os.path.join(out, 'model.onnx'), providers=['CPUExecutionProvider'])
erf = np.vectorize(__import__('math').erf)


def ln(x, g, b, eps=1e-12):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b


def gelu(x):
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def lin(x, k):
    return x @ t[k + '.weight'].T + t[k + '.bias']


def reference(ids):
    T = len(ids)
    x = t['bert.embeddings.word_embeddings.weight'][ids] + t['bert.embeddings.position_embeddings.weight'][:T] \
        + t['bert.embeddings.token_type_embeddings.weight'][0]
    x = ln(x, t['bert.embeddings.LayerNorm.gamma'], t['bert.embeddings.LayerNorm.beta'])
    l = 0
    while 'bert.encoder.layer.%d.attention.self.query.weight' % l in t:
        K = 'bert.encoder.layer.%d.' % l
        q, k, v = (lin(x, K + 'attention.self.' + n).reshape(T, 2, 64).transpose(1, 0, 2) for n in ('query', 'key', 'value'))
        s = q @ k.transpose(0, 2, 1) / 8.0
        p = np.exp(s - s.max(-1, keepdims=True)); p /= p.sum(-1, keepdims=True)
        c = (p @ v).transpose(1, 0, 2).reshape(T, 128)
        x = ln(x + lin(c, K + 'attention.output.dense'), t[K + 'attention.output.LayerNorm.gamma'], t[K + 'attention.output.LayerNorm.beta'])
        f = lin(gelu(lin(x, K + 'intermediate.dense')), K + 'output.dense')
        x = ln(x + f, t[K + 'output.LayerNorm.gamma'], t[K + 'output.LayerNorm.beta'])
        l += 1
    h = ln(gelu(lin(x, 'cls.predictions.transform.dense')), t['cls.predictions.transform.LayerNorm.gamma'],
           t['cls.predictions.transform.LayerNorm.beta'])
    logits = h @ t['bert.embeddings.word_embeddings.weight'].T + t['cls.predictions.bias']
    return np.log1p(np.maximum(logits, 0)).max(0)


def onnx_run(encs):
    T = max(len(e.ids) for e in encs)
    ids = np.zeros((len(encs), T), dtype=np.int64); mask = np.zeros_like(ids)
    for i, e in enumerate(encs):
        ids[i, :len(e.ids)] = e.ids; mask[i, :len(e.ids)] = 1
    return sess.run(['sparse'], {'input_ids': ids, 'attention_mask': mask, 'token_type_ids': np.zeros_like(ids)})[0]


texts = []
for path in sorted(glob.glob(os.path.join(datasets, '*', '**', '*.jsonl'), recursive=True)):
    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f):
            if n >= 6:
                break
            d = json.loads(line)
            texts.append(str(d.get('text') or d.get('answer') or d.get('question') or ''))
texts += ['What did the president of Slovakia say about the coalition?', 'x', 'Ünïcödé — 東京 🙂']
texts = [x for x in texts if x][:60]
worst, mismatched = 0.0, 0
for start in range(0, len(texts), 8):
    encs = [tok.encode(x) for x in texts[start:start + 8]]
    batch = onnx_run(encs)
    for i, e in enumerate(encs):
        ref = reference(np.array(e.ids))
        alone = onnx_run([e])[0]
        worst = max(worst, float(np.abs(batch[i] - ref).max()), float(np.abs(alone - ref).max()))
        mismatched += int(((batch[i] > 1e-3) != (ref > 1e-3)).sum() and np.abs(batch[i] - ref)[(batch[i] > 1e-3) != (ref > 1e-3)].max() > 1e-4)
print('%d texts: largest difference %.2e; texts whose non-zero entries differ: %d' % (len(texts), worst, mismatched))
sys.exit(0 if worst < 1e-4 and mismatched == 0 else 1)
