"""Self-checks for chapter 3.3 (quantization below 8 bits): ternarization, 4-bit packing, centroid gradients."""
from __future__ import annotations

import torch

from ..quant.kmeans import centroid_gradients
from ..quant.lowbit import ternarize
from ..quant.packing import pack
from . import assert_close, assert_equal, assert_unchanged, exercise

__all__ = ["check_ternarize", "check_pack_4bit", "check_centroid_gradients"]


@exercise
def check_ternarize(twn) -> None:
    """``twn(weight)`` → the float TWN weight α_i · sign(W_ij) · [|W_ij| > Δ_i], Δ_i = 0.7 · mean_j |W_ij|, per row."""
    generator = torch.Generator().manual_seed(0)
    cases = {"a 4×10 Gaussian weight": torch.randn(4, 10, generator=generator),
             "a 3×2×3×3 conv weight": torch.randn(3, 2, 3, 3, generator=generator),
             "a weight with an all-zero row": torch.cat([torch.zeros(1, 6), torch.randn(2, 6, generator=generator)])}
    for what, weight in cases.items():
        original = weight.clone()
        got = twn(weight)
        assert_unchanged(f"twn({what})", ("weight",), (weight,), (original,))
        assert_equal(f"twn({what}): dtype", torch.as_tensor(got).dtype, weight.dtype)
        assert_close(f"twn({what})", got, ternarize(weight, per_channel=True).dequantize(), atol=1e-6)


@exercise
def check_pack_4bit(pack_4bit) -> None:
    """``pack_4bit(codes)`` → uint8 bytes, code 2i in the low nibble of byte i and code 2i+1 in the high one."""
    generator = torch.Generator().manual_seed(1)
    cases = {"[1, 2]": torch.tensor([1, 2], dtype=torch.uint8),
             "[15, 0, 7, 9]": torch.tensor([15, 0, 7, 9], dtype=torch.uint8),
             "an odd length, [3, 4, 5]": torch.tensor([3, 4, 5], dtype=torch.uint8),
             "1001 random codes": torch.randint(0, 16, (1001,), generator=generator, dtype=torch.uint8)}
    for what, codes in cases.items():
        original = codes.clone()
        got = pack_4bit(codes)
        assert_unchanged(f"pack_4bit({what})", ("codes",), (codes,), (original,))
        assert_equal(f"dtype of pack_4bit({what})", got.dtype, torch.uint8)
        assert_equal(f"pack_4bit({what})", got, pack(codes, 4))


@exercise
def check_centroid_gradients(grads_per_centroid) -> None:
    """``grads_per_centroid(weight_grad, codes, k)`` → tensor of k sums of the gradients of each cluster's members."""
    generator = torch.Generator().manual_seed(2)
    cases = [(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[0, 1], [1, 0]], dtype=torch.uint8), 2),
             (torch.randn(5, 7, generator=generator), torch.randint(0, 4, (5, 7), generator=generator, dtype=torch.uint8), 4),
             (torch.randn(6, generator=generator), torch.tensor([0, 0, 0, 2, 2, 2], dtype=torch.uint8), 4)]
    for grad, codes, clusters in cases:
        what = f"grads_per_centroid for codes {codes.tolist()} and k={clusters}"
        expected = centroid_gradients(grad, codes, clusters)  # before the answer runs: it cannot alter this
        inputs = (grad.clone(), codes.clone())
        got = grads_per_centroid(*inputs, clusters)
        assert_unchanged(what, ("weight_grad", "codes"), inputs, (grad, codes))
        assert_close(what, got, expected, atol=1e-6)
