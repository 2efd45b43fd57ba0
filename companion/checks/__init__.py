"""Self-checks for the book's exercises.

A check takes the student's function, runs it against the book's reference on a few inputs, and

- prints a confirmation when every answer is right;
- raises ``AssertionError`` saying which input went wrong, what came back and what was expected;
- prints a reminder while the function still raises ``NotImplementedError`` (the exercise has not been
  attempted yet), so a notebook runs top to bottom before it is solved.

A check returns ``None``, so the notebook cell that calls it shows only the printed message.

Each chapter's checks live in a submodule named after its topic (``companion.checks.measure``, …);
this module holds what they share.
"""
from __future__ import annotations

import functools
from typing import Callable

import torch

__all__ = ["exercise", "assert_close", "assert_equal", "assert_integer", "assert_unchanged", "snapshot"]


def exercise(check: Callable[..., None]) -> Callable[..., None]:
    """Turn a function that raises ``AssertionError`` on a wrong answer into a friendly self-check."""

    @functools.wraps(check)
    def run(*args, **kwargs) -> None:
        try:
            check(*args, **kwargs)
        except NotImplementedError:
            print(f"{check.__name__}: not attempted yet. Write your code in the cell above, run it, "
                  "then run this cell again.")
            return
        print(f"{check.__name__}: correct, well done.")

    return run


def assert_close(what: str, got, expected, *, atol: float = 1e-6, rtol: float = 1e-5) -> None:
    """Raise ``AssertionError`` naming ``what`` unless ``got`` is numerically close to ``expected``."""
    got_t = torch.as_tensor(got, dtype=torch.float64)
    expected_t = torch.as_tensor(expected, dtype=torch.float64)
    if got_t.shape != expected_t.shape:
        raise AssertionError(f"{what}: expected shape {tuple(expected_t.shape)}, got {tuple(got_t.shape)}")
    if not torch.allclose(got_t, expected_t, atol=atol, rtol=rtol):
        raise AssertionError(f"{what}: expected {expected}, got {got}")


def assert_equal(what: str, got, expected) -> None:
    """Raise ``AssertionError`` naming ``what`` unless ``got == expected`` (exact, e.g. integer counts)."""
    if isinstance(got, torch.Tensor) or isinstance(expected, torch.Tensor):
        same = torch.equal(torch.as_tensor(got), torch.as_tensor(expected))
    else:
        same = got == expected
    if not same:
        raise AssertionError(f"{what}: expected {expected}, got {got}")


def assert_integer(what: str, got) -> None:
    """Raise ``AssertionError`` naming ``what`` unless ``got`` is a whole number (a count of bytes or MACs).

    Python and NumPy integers pass, and so does a 0-d integer tensor; floats (even ``12.0``) and bools do not.
    """
    import numbers

    if isinstance(got, torch.Tensor):
        whole = got.dim() == 0 and not got.is_floating_point() and not got.is_complex() and got.dtype != torch.bool
    else:
        whole = isinstance(got, numbers.Integral) and not isinstance(got, bool)
    if not whole:
        raise AssertionError(f"{what}: expected a whole number (int), got {got!r} of type {type(got).__name__}")


def snapshot(tensors) -> list:
    """Copies of ``tensors`` (``None`` entries kept) to compare with :func:`assert_unchanged` after a call."""
    return [None if t is None else t.detach().clone() for t in tensors]


def assert_unchanged(what: str, names, tensors, copies) -> None:
    """Raise ``AssertionError`` naming the first input in ``names`` whose values differ from its copy.

    Used after calling a student's function to catch in-place edits (``+=``, ``mul_``, ``zero_``…)
    of arguments the exercise says must not change.
    """
    for name, tensor, copy in zip(names, tensors, copies):
        if tensor is None:
            continue
        if tensor.shape != copy.shape or not torch.equal(tensor.detach(), copy):
            raise AssertionError(f"{what}: the input {name!r} was modified in place; "
                                 "leave the inputs unchanged and return new tensors")
