"""Observers: watch tensors during calibration and choose the range [α, β] that is mapped onto the codes.

Every observer is a pass-through ``nn.Module``: call it on calibration batches, then
:meth:`Observer.calculate_qparams` turns its range into (S, Z) with :func:`~companion.quant.affine.calc_qparams`.
One class per range rule:

- :class:`MinMaxObserver`: α = min x, β = max x over everything seen (no clipping, largest rounding step);
- :class:`MovingAverageMinMaxObserver`: α, β follow an exponential moving average of each batch's
  min and max, α ← α + c·(min_batch − α), so one outlier batch moves the range only a little;
- :class:`PercentileObserver`: α, β are the p-th lower and upper percentiles of the values seen, which
  clips the rarest outliers;
- :class:`MSEObserver`: β = t·max, α = t·min with the factor t on a grid that minimises the mean squared
  quantization error ‖x − x̂‖² on the values seen (rounding error against clipping error);
- :class:`HistogramObserver`: the same trade-off estimated from a histogram, so it needs no stored
  values: a clipped bin costs (distance to the range)², a kept bin the rounding noise S²/12.

``axis`` gives per-channel ranges (one per slice along ``axis``), except for the histogram observer.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .. import validate
from .affine import calc_qparams, qrange

__all__ = ["NotCalibratedError", "Observer", "MinMaxObserver", "MovingAverageMinMaxObserver", "PercentileObserver",
           "MSEObserver", "HistogramObserver", "OBSERVERS"]


class NotCalibratedError(RuntimeError):
    """An observer was asked for parameters before it saw any data."""


class Observer(nn.Module):
    """Base class: the integer grid (bits, signed, narrow, symmetric) and the per-channel ``axis``.

    Subclasses implement ``_observe(x)`` (update statistics from a detached float tensor) and
    ``_range()`` (→ α, β as float32 tensors: scalars, or vectors of one entry per channel).

    Inputs and errors: ``forward`` takes a non-empty real tensor (converted to float32); an empty tensor,
    NaN or Inf → ``ValueError``, complex → ``TypeError``. With ``axis`` set, ``x`` needs at least one
    dimension, ``axis`` in [−x.dim(), x.dim()), and the same number of channels in every batch, else
    ``ValueError``. A rejected batch leaves the observer's state as it was.
    """

    def __init__(self, bits: int = 8, signed: bool = True, symmetric: bool = False, narrow: bool = False,
                 axis: int | None = None):
        if axis is not None:
            validate.integer(axis, "axis")
        super().__init__()
        self.qmin, self.qmax = qrange(bits, signed, narrow)
        self.bits, self.signed, self.symmetric, self.narrow, self.axis = bits, signed, symmetric, narrow, axis
        self.batches = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.is_complex():
            raise TypeError(f"an observer watches real tensors, got {getattr(x, 'dtype', type(x).__name__)}")
        x_float = x.detach().float()
        if x_float.numel() == 0:
            raise ValueError("an observer cannot learn a range from an empty tensor")
        if not torch.isfinite(x_float).all():
            raise ValueError("observed tensor contains NaN or Inf; quantization needs finite values")
        if self.axis is not None:
            axis = validate.axis(self.axis, x_float.dim())
            if self.batches and x_float.shape[axis] != self._channel_count:
                raise ValueError(f"{type(self).__name__} observed {self._channel_count} channels along axis "
                                 f"{self.axis} so far, got a tensor with {x_float.shape[axis]}")
            self._channel_count = x_float.shape[axis]
        self._observe(x_float)
        self.batches += 1
        return x

    def _channels(self, x: torch.Tensor) -> torch.Tensor:
        """x as a matrix: one row per channel along ``axis`` (or a single row per tensor)."""
        if self.axis is None:
            return x.reshape(1, -1)
        return torch.movedim(x, self.axis, 0).reshape(x.shape[self.axis], -1)

    def _squeeze(self, values: torch.Tensor) -> torch.Tensor:
        return values.reshape(()) if self.axis is None else values

    def _observe(self, x: torch.Tensor) -> None:
        raise NotImplementedError

    def _range(self) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def min_max(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The chosen range (α, β); raises :class:`NotCalibratedError` before any data was observed."""
        if self.batches == 0:
            raise NotCalibratedError(f"{type(self).__name__} has observed no data: run calibration batches "
                                     "through it before asking for quantization parameters")
        return self._range()

    def calculate_qparams(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(S, Z) for the chosen range on this observer's integer grid."""
        lo, hi = self.min_max()
        return calc_qparams(lo, hi, self.qmin, self.qmax, symmetric=self.symmetric)

    # What an observer learns from data. It travels in ``state_dict()`` (as ``<name>._extra_state``), so a
    # calibrated or QAT-trained model saved and loaded again keeps its ranges, as torch's observers keep
    # their ``min_val``/``max_val`` buffers.
    _LEARNED = ("batches", "_channel_count", "lo", "hi", "counts", "_values")

    def get_extra_state(self) -> dict:
        return {name: getattr(self, name) for name in self._LEARNED if name in vars(self)}

    def set_extra_state(self, state: dict) -> None:
        if not isinstance(state, dict) or not isinstance(state.get("batches"), int) \
                or not set(state) <= set(self._LEARNED):
            raise ValueError(f"{type(self).__name__}: the saved observer state must be a dict with an int "
                             f"'batches' and keys among {self._LEARNED}, got {state!r:.200}")
        for name, value in state.items():
            setattr(self, name, value.clone() if isinstance(value, torch.Tensor) else value)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, signed={self.signed}, symmetric={self.symmetric}, axis={self.axis}"


class MinMaxObserver(Observer):
    """α = running minimum, β = running maximum of everything observed."""

    def _observe(self, x):
        lo, hi = torch.aminmax(self._channels(x), dim=1)
        self.lo, self.hi = (lo, hi) if self.batches == 0 else self._combine(lo, hi)

    def _combine(self, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The running range after one more batch with range [lo, hi]: the overall min and max."""
        return torch.minimum(self.lo, lo), torch.maximum(self.hi, hi)

    def _range(self):
        return self._squeeze(self.lo), self._squeeze(self.hi)


class MovingAverageMinMaxObserver(MinMaxObserver):
    """α ← α + c·(min_batch − α), β ← β + c·(max_batch − β); the first batch sets α and β."""

    def __init__(self, averaging_constant: float = 0.01, **kwargs):
        if not 0 < averaging_constant <= 1:
            raise ValueError(f"averaging_constant must be in (0, 1], got {averaging_constant}")
        super().__init__(**kwargs)
        self.averaging_constant = averaging_constant

    def _combine(self, lo, hi):
        c = self.averaging_constant
        return self.lo + c * (lo - self.lo), self.hi + c * (hi - self.hi)


class _StoredValues(Observer):
    """Keeps the observed values (per channel), for rules that need them all; calibration sets are small.

    At most ``max_values`` values per channel are kept: beyond that a seeded uniform subsample.
    """

    def __init__(self, max_values: int = 262_144, **kwargs):
        super().__init__(**kwargs)
        if max_values < 1:
            raise ValueError(f"max_values must be positive, got {max_values}")
        self.max_values = max_values
        self._values: torch.Tensor | None = None
        self._generator = torch.Generator().manual_seed(0)

    def get_extra_state(self) -> dict:
        return {**super().get_extra_state(), "generator": self._generator.get_state()}

    def set_extra_state(self, state: dict) -> None:
        state = dict(state)
        generator = state.pop("generator", None)
        super().set_extra_state(state)
        if generator is not None:
            self._generator.set_state(generator)

    def _observe(self, x):
        rows = self._channels(x)
        self._values = rows if self._values is None else torch.cat([self._values, rows], dim=1)
        if self._values.shape[1] > self.max_values:
            keep = torch.randperm(self._values.shape[1], generator=self._generator)[: self.max_values]
            self._values = self._values[:, keep]


class PercentileObserver(_StoredValues):
    """α = the (100 − p)-th percentile, β = the p-th percentile of the observed values."""

    def __init__(self, percentile: float = 99.99, **kwargs):
        if not 50 < percentile <= 100:
            raise ValueError(f"percentile must be in (50, 100], got {percentile}")
        super().__init__(**kwargs)
        self.percentile = percentile

    def _range(self):
        values = self._values
        n = values.shape[1]
        k_hi = min(n, max(1, math.ceil(self.percentile / 100 * n)))
        k_lo = max(1, n + 1 - k_hi)
        lo = torch.kthvalue(values, k_lo, dim=1).values
        hi = torch.kthvalue(values, k_hi, dim=1).values
        return self._squeeze(lo), self._squeeze(hi)


class MSEObserver(_StoredValues):
    """(α, β) = t*·(min, max) with t* = argmin over a grid of t ∈ (0, 1] of mean (x − x̂_t)².

    The search is per channel when ``axis`` is set (the error separates across channels).
    """

    def __init__(self, grid: int = 50, min_fraction: float = 0.05, **kwargs):
        if grid < 1 or not 0 < min_fraction <= 1:
            raise ValueError(f"grid must be ≥ 1 and min_fraction in (0, 1], got {grid}, {min_fraction}")
        super().__init__(**kwargs)
        self.fractions = torch.linspace(min_fraction, 1.0, grid)

    def _range(self):
        values = self._values
        lo_full, hi_full = torch.aminmax(values, dim=1)
        best_err = torch.full((values.shape[0],), float("inf"))
        best_t = torch.ones(values.shape[0])
        for t in self.fractions:
            scale, zero = calc_qparams(lo_full * t, hi_full * t, self.qmin, self.qmax, symmetric=self.symmetric)
            scale, zero = scale[:, None], zero[:, None].float()
            codes = torch.clamp(torch.round(values / scale + zero), self.qmin, self.qmax)
            err = ((values - (codes - zero) * scale) ** 2).mean(dim=1)
            better = err < best_err
            best_err = torch.where(better, err, best_err)
            best_t = torch.where(better, t, best_t)
        return self._squeeze(lo_full * best_t), self._squeeze(hi_full * best_t)


class HistogramObserver(Observer):
    """A running histogram of the values; the range minimises the estimated squared error.

    The histogram spans the running [min, max] in ``bins`` bins; when a batch widens the range, the old
    counts are re-binned at their bin centres. The range search tries every (first bin, last bin) pair
    on a grid of ``search`` bin edges and scores it by

        Σ_kept count · S²/12 + Σ_clipped count · (distance of the bin centre to the range)²,

    with S the step the candidate range would give. Per tensor only.

    Inputs and errors: as :class:`Observer`. A constant first batch, at any magnitude, gets a histogram
    of width max(10⁻¹², 10⁻⁶·|value|) starting at the value, so its bins never collapse to width 0.
    """

    def __init__(self, bins: int = 1024, search: int = 64, **kwargs):
        if kwargs.get("axis") is not None:
            raise ValueError("HistogramObserver is per tensor only: axis must be None")
        if bins < 2 or search < 2:
            raise ValueError(f"bins and search must be at least 2, got {bins}, {search}")
        super().__init__(**kwargs)
        self.bins, self.search = bins, search

    def _observe(self, x):
        lo, hi = torch.aminmax(x)
        lo, hi = float(lo), float(hi)
        if self.batches == 0:
            # A constant first batch still needs bins of positive width; 1e-12 alone vanishes next to a large
            # |lo| (1e6 + 1e-12 == 1e6 in float64), so widen relative to |lo| as well.
            self.lo, self.hi = lo, max(hi, lo + max(1e-12, abs(lo) * 1e-6))
            self.counts = torch.zeros(self.bins, dtype=torch.float64)
        elif lo < self.lo or hi > self.hi:
            centres = self._centres()
            old = self.counts
            self.lo, self.hi = min(lo, self.lo), max(hi, self.hi)
            self.counts = torch.zeros(self.bins, dtype=torch.float64)
            index = self._bin_of(centres)
            self.counts.index_add_(0, index, old)
        self.counts += torch.histc(x.double(), self.bins, self.lo, self.hi)

    def _centres(self) -> torch.Tensor:
        width = (self.hi - self.lo) / self.bins
        return self.lo + width * (torch.arange(self.bins, dtype=torch.float64) + 0.5)

    def _bin_of(self, values: torch.Tensor) -> torch.Tensor:
        width = (self.hi - self.lo) / self.bins
        return torch.clamp(((values - self.lo) / width).long(), 0, self.bins - 1)

    def _range(self):
        centres, counts = self._centres(), self.counts
        edges = torch.linspace(self.lo, self.hi, self.search, dtype=torch.float64)
        lo_c, hi_c = torch.meshgrid(edges, edges, indexing="ij")
        valid = lo_c < hi_c
        lo_c, hi_c = lo_c[valid], hi_c[valid]
        span = torch.clamp(hi_c, min=0) - torch.clamp(lo_c, max=0)
        step = span / (self.qmax - self.qmin)
        if self.symmetric:
            step = 2 * torch.maximum(hi_c.clamp(min=0), -lo_c.clamp(max=0)) / (self.qmax - self.qmin)
        below = torch.clamp(lo_c[:, None] - centres[None, :], min=0)
        above = torch.clamp(centres[None, :] - hi_c[:, None], min=0)
        clipped = below + above
        inside = (clipped == 0).to(torch.float64)
        error = (counts * (inside * step[:, None] ** 2 / 12 + clipped ** 2)).sum(dim=1)
        best = int(torch.argmin(error))
        return (torch.tensor(float(lo_c[best]), dtype=torch.float32),
                torch.tensor(float(hi_c[best]), dtype=torch.float32))


OBSERVERS = {"minmax": MinMaxObserver, "moving_average": MovingAverageMinMaxObserver, "percentile": PercentileObserver,
             "mse": MSEObserver, "histogram": HistogramObserver}
