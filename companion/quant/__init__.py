"""Quantization from scratch: the affine mapping, observers, PTQ, integer-only inference, low-bit, QAT.

:mod:`companion.quant.affine` is the core every other module builds on.
"""
from .affine import calc_qparams, dequantize, fake_quantize, qrange, quantize, storage_dtype

__all__ = ["calc_qparams", "dequantize", "fake_quantize", "qrange", "quantize", "storage_dtype"]
