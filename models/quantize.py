"""Derive the fast model: all-MiniLM-L6-v2 with int8 weights *and* int8 maths.

The pinned model stores its weights as int8 but computes in fp32
(DequantizeLinear in front of every MatMul). This folds those weights to fp32
with a basic-level optimised save (constant folding only; no hardware-specific
rewrites), then quantizes it dynamically (MatMulInteger, per-channel QInt8),
which runs on the CPU's int8 dot-product units.

The weights use 7 bits (`reduce_range`: -64..63) so that the vectors are the
same on every x86-64 CPU. ONNX Runtime multiplies u8 activations by s8
weights; CPUs without AVX-512 VNNI add each pair of products in a saturating
16-bit lane (vpmaddubsw), which clips 255*127*2 = 64,770 but never
255*64*2 = 32,640, while VNNI (and AMX) CPUs add in 32 bits. With 8-bit
weights the same text got vectors 0.967-0.994 apart (cosine) on the two kinds
of CPU; with 7-bit ones the integer sums are exact on both. Float kernels
still round differently with AVX-512 and AVX2, which moves some texts'
vectors (cosine >= 0.997 on 180 texts), so qasearch ties an index of this
model to the CPU's kind and the runtime (docs/arithmetic.md).

Usage: python quantize.py SOURCE.onnx DEST.onnx   (run by `qasearch --model fast`
with the pinned onnxruntime and onnx on PYTHONPATH; the result's SHA-256 is
pinned in pins.json, so the output is checked, not trusted).
"""

import os
import sys
import tempfile

import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic


def main(src: str, dst: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folded = os.path.join(tmp, "folded.onnx")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = folded
        ort.InferenceSession(src, options, providers=["CPUExecutionProvider"])
        quantize_dynamic(folded, dst, per_channel=True, reduce_range=True, weight_type=QuantType.QInt8)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: quantize.py SOURCE.onnx DEST.onnx")
    main(sys.argv[1], sys.argv[2])
