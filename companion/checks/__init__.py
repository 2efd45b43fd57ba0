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

__all__ = ["exercise", "assert_close", "assert_equal"]


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
