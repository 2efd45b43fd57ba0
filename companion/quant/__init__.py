"""Quantization from scratch: the affine mapping, observers, PTQ, integer-only inference, low-bit, QAT.

:mod:`companion.quant.affine` is the core every other module builds on. Chapter 3.2's modules:
:mod:`~companion.quant.observers` (range rules), :mod:`~companion.quant.intmm` (int8 GEMM),
:mod:`~companion.quant.fixed_point` (requantization), :mod:`~companion.quant.dynamic` (dynamic PTQ),
:mod:`~companion.quant.static` (BatchNorm folding, static PTQ, integer-only layers) and
:mod:`~companion.quant.serialize` (int8 files).
"""
from .affine import calc_qparams, dequantize, fake_quantize, qrange, quantize, storage_dtype
from .dynamic import DynamicQuantLinear, quantize_dynamic
from .fixed_point import quantize_multiplier, requantize
from .intmm import int_matmul
from .observers import (HistogramObserver, MinMaxObserver, MovingAverageMinMaxObserver, MSEObserver, NotCalibratedError,
                        PercentileObserver)
from .serialize import load_quantized, save_quantized
from .static import IntConv2d, IntegerSequential, IntLinear, fold_batchnorm, fuse_conv_bn, quantize_static

__all__ = ["calc_qparams", "dequantize", "fake_quantize", "qrange", "quantize", "storage_dtype",
           "MinMaxObserver", "MovingAverageMinMaxObserver", "PercentileObserver", "MSEObserver", "HistogramObserver",
           "NotCalibratedError", "int_matmul", "quantize_multiplier", "requantize", "DynamicQuantLinear", "quantize_dynamic",
           "fold_batchnorm", "fuse_conv_bn", "IntLinear", "IntConv2d", "IntegerSequential", "quantize_static",
           "save_quantized", "load_quantized"]
