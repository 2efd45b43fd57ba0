"""Integer matrix multiply: int8 × int8 → int32, exactly.

``torch._int_mm`` is PyTorch's int8 GEMM (oneDNN/fbgemm on CPU, cuBLASLt on CUDA). On CUDA it needs
more than 16 rows and inner and outer sizes that are multiples of 8; on CPU (torch 2.13) it takes any
2-D int8 shapes. Where its constraints are not met, :func:`int_matmul` falls back to an exact
computation: every product of two int8 codes is below 2¹⁴ in magnitude, so sums of up to 2³⁸ of them
are exact in float64, and the float64 GEMM result converts back to int32 without error (the int32
result itself overflows only for inner sizes above 2³¹ / 2¹⁴ = 131,072, which is rejected).
"""
from __future__ import annotations

import torch

__all__ = ["int_mm_supported", "int_matmul", "grouped_int_matmul"]

_MAX_INNER = (2 ** 31 - 1) // (128 * 128)


def int_mm_supported(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether ``torch._int_mm(a, b)`` accepts these operands on their device."""
    if a.dtype != torch.int8 or b.dtype != torch.int8 or a.dim() != 2 or b.dim() != 2:
        return False
    if a.device.type == "cpu":
        return True
    if a.device.type == "cuda":
        m, k = a.shape
        n = b.shape[1]
        return m > 16 and k % 8 == 0 and n % 8 == 0
    return False


def _gemm_layout(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Operands in the layouts ``torch._int_mm`` reads correctly on every shape, copying only when needed.

    On CPU (torch 2.13) the kernel misreads some operands with a size-1 dimension: a column-major A
    with one row, and a column-major B with an inner size of 1 (e.g. ``w.t()`` of a weight with one
    input feature, whose strides (1, 1) are ambiguous), give wrong results that change between calls.
    Row-major A and B are always read correctly, and so is a column-major B with k > 1 (the layout of
    a transposed weight, kept as a view to avoid copying weights at every call). Anything else is
    copied to row-major; ``tests/test_quant_intmm.py`` sweeps these shape and layout edges.
    """
    m, k = a.shape
    n = b.shape[1]
    if a.stride() != (k, 1):
        a = torch.empty((m, k), dtype=a.dtype, device=a.device).copy_(a)
    if b.stride() != (n, 1) and not (k > 1 and b.stride() == (1, k)):
        b = torch.empty((k, n), dtype=b.dtype, device=b.device).copy_(b)
    return a, b


def int_matmul(a: torch.Tensor, b: torch.Tensor, use_int_mm: bool = True) -> torch.Tensor:
    """C = A·B for int8 A (m×k) and int8 B (k×n), as int32, exactly.

    Uses ``torch._int_mm`` when available for these shapes (and ``use_int_mm``), with its operands
    laid out as it needs them (:func:`_gemm_layout`), else the exact float64 fallback described in the
    module docstring.

    Inputs and errors: both operands int8 (else ``TypeError``), 2-D with matching inner sizes and
    k ≤ 131,071 (else ``ValueError``); any strides (views, transposes) are accepted. Empty operands
    (m, k or n = 0) give the (m, n) int32 result of an empty sum, zeros, like ``torch.mm``.
    """
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor) or a.dtype != torch.int8 \
            or b.dtype != torch.int8:
        raise TypeError(f"int_matmul needs int8 tensors, got {getattr(a, 'dtype', type(a).__name__)} and "
                        f"{getattr(b, 'dtype', type(b).__name__)}")
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"int_matmul needs shapes (m, k) and (k, n), got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[1] > _MAX_INNER:
        raise ValueError(f"inner size {a.shape[1]} may overflow int32 (at most {_MAX_INNER})")
    if a.numel() == 0 or b.numel() == 0:
        return torch.zeros(a.shape[0], b.shape[1], dtype=torch.int32, device=a.device)
    if use_int_mm and int_mm_supported(a, b):
        return torch._int_mm(*_gemm_layout(a, b))
    return (a.to(torch.float64) @ b.to(torch.float64)).to(torch.int32)


def grouped_int_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """C[g] = A[g]·B[g] for int8 A (groups×m×k) and int8 B (groups×k×n), as int32, exactly.

    The batched product of a grouped (e.g. depthwise) convolution. It runs as an int32 ``torch.bmm``:
    each product of two int8 codes is below 2¹⁴ in magnitude, so the int32 sums are exact for inner
    sizes up to 131,072 (larger ones are rejected).
    """
    if a.dtype != torch.int8 or b.dtype != torch.int8:
        raise TypeError(f"grouped_int_matmul needs int8 operands, got {a.dtype} and {b.dtype}")
    if a.dim() != 3 or b.dim() != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"grouped_int_matmul needs shapes (g, m, k) and (g, k, n), got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[2] > _MAX_INNER:
        raise ValueError(f"inner size {a.shape[2]} may overflow int32 (at most {_MAX_INNER})")
    return torch.bmm(a.to(torch.int32), b.to(torch.int32))
