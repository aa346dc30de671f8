"""Derive the fast model: all-MiniLM-L6-v2 with int8 weights *and* int8 maths.

The pinned model stores its weights as int8 but computes in fp32
(DequantizeLinear in front of every MatMul). This folds those weights to fp32
with a basic-level optimised save (constant folding only; no hardware-specific
rewrites), then quantizes it dynamically (MatMulInteger, per-channel QInt8),
which runs on the CPU's int8 dot-product units.

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
        quantize_dynamic(folded, dst, per_channel=True, weight_type=QuantType.QInt8)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: quantize.py SOURCE.onnx DEST.onnx")
    main(sys.argv[1], sys.argv[2])
