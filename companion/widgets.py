"""Interactive explorers that work with no kernel: precomputed frames switched in the browser.

Each explorer draws a picture for every combination of its controls' values *once, in Python*, and
stores the pictures as small PNG ``Image`` widgets inside nested ``Stack`` widgets. Every control
(``ToggleButtons`` or a ``SelectionSlider``) is tied to the ``selected_index`` of the stacks at its
level with ``jslink``, a link that runs in the browser. The same cell therefore works live in
JupyterLab and on the static website, where the embedded widget state is rendered by the vendored
html-manager script (``book/_widgets``) and no Python runs.

Frames cost page weight: n frames of ~10 kB each (PNG with a 64-colour palette) add ~1.33 × 10 n kB
of base64 to the page. :data:`MAX_FRAMES` bounds n so that one explorer stays well under 1 MB.

The explorers (each returns an :class:`Explorer`, a ``VBox`` that also draws a static figure of a
few frames for readers without JavaScript and for the PDF):

- :func:`quantization_explorer`  bits, symmetric/asymmetric, per tensor/per channel, clipping (3.2, 3.3)
- :func:`pruning_explorer`       sparsity → weight histogram, mask of a layer, accuracy (3.4)
- :func:`schedule_explorer`      learning-rate schedules and the AGP sparsity schedule (3.1, 3.4)
- :func:`tradeoff_explorer`      pruning × bit width on the accuracy–size plane (2)
"""
from __future__ import annotations

import html
import io
import itertools
import math
from typing import Callable, Mapping, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image as PILImage
from PIL import PngImagePlugin
from torch import nn

from .measure import pareto_front
from .optim import schedules as lr_schedules
from .plots import COLORS, MIN_FONT_KEY, make_legible
from .prune import agp_sparsity, clone, l1_unstructured, make_permanent, prunable_weights
from .quant import calc_qparams, fake_quantize, qrange

__all__ = ["MAX_FRAMES", "Explorer", "png_bytes", "quantization_explorer", "pruning_explorer",
           "schedule_explorer", "tradeoff_explorer", "quantization_error", "prune_weight_magnitude",
           "compressed_weight_bytes", "measure_tradeoffs"]

#: The most frames one explorer may hold (see the module docstring for the page-weight arithmetic).
MAX_FRAMES = 60

Draw = Callable[..., None]  # draw(ax, **values): one frame for one combination of control values


def png_bytes(fig: plt.Figure, *, dpi: int = 72, colors: int = 64) -> bytes:
    """The figure as a small PNG: rendered at ``dpi``, reduced to a ``colors``-entry palette, closed.

    A frame is shown at its natural size, so text smaller than ``MIN_TEXT_PX`` CSS px there (a font of
    s points shows at s·dpi/72 px) is enlarged first, and the smallest font size is recorded in the
    PNG under ``MIN_FONT_KEY``, as chapter figures record it (see :mod:`companion.plots`).
    """
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 20 <= dpi <= 300:
        raise ValueError(f"dpi must be an int in [20, 300], got {dpi!r}")
    if isinstance(colors, bool) or not isinstance(colors, int) or not 2 <= colors <= 256:
        raise ValueError(f"colors must be an int in [2, 256], got {colors!r}")
    smallest = make_legible(fig, dpi=dpi, shown_width_px=math.inf)
    raw = io.BytesIO()
    fig.savefig(raw, format="png", dpi=dpi)
    plt.close(fig)
    image = PILImage.open(raw).convert("RGB").quantize(colors=colors)
    info = PngImagePlugin.PngInfo()
    info.add_text(MIN_FONT_KEY, f"{smallest:.2f}")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True, pnginfo=info, dpi=(dpi, dpi))
    return out.getvalue()


def _check_controls(controls: Mapping[str, Sequence]) -> None:
    if not isinstance(controls, Mapping) or not controls:
        raise ValueError("controls must be a non-empty mapping of name → sequence of values")
    frames = 1
    for name, values in controls.items():
        if not isinstance(values, (list, tuple)) or len(values) == 0:
            raise ValueError(f"control {name!r} needs a non-empty list of values, got {values!r}")
        frames *= len(values)
    if frames > MAX_FRAMES:
        raise ValueError(f"{frames} frames exceed MAX_FRAMES = {MAX_FRAMES}; offer fewer values")


class Explorer(widgets.VBox):
    """Controls over a ``Stack`` of precomputed frames, one frame per combination of control values.

    ``controls`` maps a control's label to its values (in order); the last control becomes a
    ``SelectionSlider`` (the one a reader drags, or presses arrow keys on), the others
    ``ToggleButtons``. ``draw(ax, **values)`` draws one frame, with ``values`` keyed by the
    ``keys`` given (default: the labels). ``play=True`` adds a ``Play`` button that steps the slider.
    """

    def __init__(self, draw: Draw, controls: Mapping[str, Sequence], *, keys: Sequence[str] | None = None,
                 formats: Mapping[str, Callable] | None = None, figsize=(5.6, 2.8), dpi: int = 72,
                 play: bool = False, title: str = ""):
        _check_controls(controls)
        self.draw, self.control_values, self.figsize = draw, dict(controls), figsize
        self.control_keys = list(keys) if keys is not None else list(self.control_values)
        if len(self.control_keys) != len(self.control_values):
            raise ValueError(f"keys must name each of the {len(self.control_values)} controls, got {self.control_keys}")
        formats = formats or {}
        labels = list(self.control_values)
        options = [[(formats.get(label, str)(value), i) for i, value in enumerate(values)]
                   for label, values in self.control_values.items()]
        self.frame_pngs = {}  # tuple of value indices → PNG bytes
        for combo in itertools.product(*[range(len(v)) for v in self.control_values.values()]):
            fig, ax = plt.subplots(figsize=figsize)
            draw(ax, **self._values(combo))
            self.frame_pngs[combo] = png_bytes(fig, dpi=dpi)
        self.stack, levels = self._nest(())
        # the control widgets (the slider last) and the browser-side jslinks (control → stacks, play → slider)
        self.control_widgets, self.links = [], []
        for depth, label in enumerate(labels):
            last = depth == len(labels) - 1
            kind = widgets.SelectionSlider if last else widgets.ToggleButtons
            control = kind(options=options[depth], value=0, description=label,
                           style={"description_width": "initial"},
                           layout=widgets.Layout(width="95%") if last else widgets.Layout())
            for stack in levels[depth]:
                self.links.append(widgets.jslink((control, "index"), (stack, "selected_index")))
            self.control_widgets.append(control)
        children = self.control_widgets[:-1]
        if play:
            self.play = widgets.Play(min=0, max=len(self.control_values[labels[-1]]) - 1, interval=700,
                                     description="play")
            self.links.append(widgets.jslink((self.play, "value"), (self.control_widgets[-1], "index")))
            children = children + [widgets.HBox([self.play, self.control_widgets[-1]])]
        else:
            children = children + [self.control_widgets[-1]]
        if title:  # also the frames' text alternative on the website (book/_static/widget-alt.js)
            children = [widgets.HTML(f"<b>{html.escape(title)}</b>")] + children
        super().__init__(children=children + [self.stack])

    def _values(self, combo: Sequence[int]) -> dict:
        return {key: values[i] for key, values, i in zip(self.control_keys, self.control_values.values(), combo)}

    def _nest(self, prefix: tuple) -> tuple[widgets.Stack, list[list[widgets.Stack]]]:
        """The Stack for every combination that starts with ``prefix``, and the stacks at each depth."""
        depth = len(prefix)
        n = len(list(self.control_values.values())[depth])
        if depth == len(self.control_values) - 1:
            images = [widgets.Image(value=self.frame_pngs[prefix + (i,)], format="png") for i in range(n)]
            stack = widgets.Stack(children=images, selected_index=0)
            return stack, [[stack]]
        children, levels = [], [[] for _ in range(len(self.control_values) - depth)]
        for i in range(n):
            child, child_levels = self._nest(prefix + (i,))
            children.append(child)
            for level, stacks in enumerate(child_levels):
                levels[level + 1] += stacks
        stack = widgets.Stack(children=children, selected_index=0)
        levels[0] = [stack]
        return stack, levels

    def frame_bytes(self) -> int:
        """Total size of the PNG frames in bytes (before base64, which adds a third on a web page)."""
        return sum(len(png) for png in self.frame_pngs.values())

    def static_figure(self, picks: Sequence[Mapping[str, object]] | None = None, *, ncols: int = 3) -> plt.Figure:
        """A figure of a few frames side by side, for readers without JavaScript and for the PDF.

        ``picks`` lists the frames as {key: value} (unnamed keys take their control's first value);
        by default the first, middle and last value of the slider.
        """
        slider_key, slider_values = self.control_keys[-1], list(self.control_values.values())[-1]
        if picks is None:
            picks = [{slider_key: slider_values[i]} for i in sorted({0, len(slider_values) // 2, len(slider_values) - 1})]
        combos = []
        for pick in picks:
            unknown = set(pick) - set(self.control_keys)
            if unknown:
                raise ValueError(f"picks name unknown controls {sorted(unknown)}; known: {self.control_keys}")
            combo = []
            for key, values in zip(self.control_keys, self.control_values.values()):
                if key in pick and pick[key] not in values:
                    raise ValueError(f"{key}={pick[key]!r} is not one of the offered values {values}")
                combo.append(values.index(pick[key]) if key in pick else 0)
            combos.append(tuple(combo))
        ncols = min(ncols, len(combos))
        nrows = -(-len(combos) // ncols)
        width, height = self.figsize
        fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
        for ax, combo in zip(axes.flat, combos):
            self.draw(ax, **self._values(combo))
        for ax in list(axes.flat)[len(combos):]:
            ax.set_visible(False)
        return fig


# --- quantization (chapters 3.2 and 3.3) -----------------------------------------------------------

def _check_weight(weight: torch.Tensor, name: str = "weight") -> torch.Tensor:
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(weight).__name__}")
    if weight.dim() < 2 or weight.numel() < 4:
        raise ValueError(f"{name} must have at least 2 dimensions (output channels first), got shape {tuple(weight.shape)}")
    if not bool(torch.isfinite(weight).all()):
        raise ValueError(f"{name} contains NaN or Inf")
    return weight.detach().float().reshape(weight.shape[0], -1)


def quantization_error(weight: torch.Tensor, bits: int, *, symmetric: bool = True, per_channel: bool = False,
                       clip: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Quantize ``weight`` (rows = output channels) uniformly and return (Ŵ, scale, zero_point).

    The range is [clip · min, clip · max] of the tensor (or of each row, ``per_channel``); values
    outside are clamped. Symmetric: S = clip · max|w| / ((q_max − q_min)/2), Z = 0; asymmetric:
    S = clip · (max − min) / (q_max − q_min). Uses :func:`companion.quant.calc_qparams` and
    :func:`companion.quant.fake_quantize` on signed ``bits``-bit codes.
    """
    flat = _check_weight(weight)
    if isinstance(clip, bool) or not isinstance(clip, (int, float)) or not 0.0 < clip <= 1.0:
        raise ValueError(f"clip must be a fraction in (0, 1], got {clip!r}")
    lo, hi = qrange(bits)
    if per_channel:
        mins, maxs = torch.aminmax(flat, dim=1)
        scale, zero = calc_qparams(clip * mins, clip * maxs, lo, hi, symmetric=symmetric)
        w_hat = fake_quantize(flat, scale, zero, lo, hi, axis=0)
    else:
        mins, maxs = torch.aminmax(flat)
        scale, zero = calc_qparams(clip * mins, clip * maxs, lo, hi, symmetric=symmetric)
        w_hat = fake_quantize(flat, scale, zero, lo, hi)
    return w_hat.detach(), scale, zero


def _sqnr_db(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """Signal-to-quantization-noise ratio 10·log10(‖x‖² / ‖x − x̂‖²) in dB."""
    noise = float(((x - x_hat) ** 2).sum())
    return float("inf") if noise == 0 else 10.0 * np.log10(float((x ** 2).sum()) / noise)


def quantization_explorer(weight: torch.Tensor, *, bits: Sequence[int] = (2, 3, 4, 8),
                          clips: Sequence[float] = (1.0, 0.7, 0.4), name: str = "weight") -> Explorer:
    """Explore uniform quantization of a real weight tensor (rows = output channels).

    Controls: granularity (per tensor / per channel), mapping (symmetric / asymmetric), clipping
    (fraction of the observed range) and bits. Each frame shows the histogram of the row with the
    narrowest range (where a per-tensor grid is coarsest), the quantization levels available to that
    row as vertical lines, and the SQNR of the whole tensor and of that row.
    """
    flat = _check_weight(weight, name)
    for b in bits:
        if isinstance(b, bool) or not isinstance(b, int) or not 2 <= b <= 8:
            raise ValueError(f"bits must be ints in [2, 8], got {list(bits)}")
    row = int((flat.amax(dim=1) - flat.amin(dim=1)).argmin())
    values = flat[row].numpy()

    def draw(ax, granularity, mapping, clip, n_bits):
        w_hat, scale, zero = quantization_error(weight, n_bits, symmetric=mapping == "symmetric",
                                                per_channel=granularity == "per channel", clip=clip)
        s = float(scale[row] if scale.dim() else scale)
        z = int(zero[row] if zero.dim() else zero)
        lo, hi = qrange(n_bits)
        levels = s * (np.arange(lo, hi + 1) - z)
        ax.hist(values, bins=60, color=COLORS[0], alpha=0.8)
        left, right = values.min() - 0.1 * np.ptp(values), values.max() + 0.1 * np.ptp(values)
        shown = levels[(levels >= left) & (levels <= right)]
        for level in shown:
            ax.axvline(level, color=COLORS[1], lw=0.6, alpha=0.7)
        ax.set_xlim(left, right)
        ax.set_xlabel(f"{name}, row {row} (narrowest range); orange: {len(shown)} levels in view", fontsize=8)
        ax.set_ylabel("count")
        ax.set_title(f"{n_bits} bits, {mapping}, {granularity}, clip {clip:.0%}\n"
                     f"SQNR: tensor {_sqnr_db(flat, w_hat):.1f} dB, row {_sqnr_db(flat[row], w_hat[row]):.1f} dB",
                     fontsize=8)

    return Explorer(draw, {"granularity": ["per tensor", "per channel"], "mapping": ["symmetric", "asymmetric"],
                           "clip": list(clips), "bits": list(bits)},
                    keys=["granularity", "mapping", "clip", "n_bits"],
                    formats={"clip": lambda c: f"{c:.0%}"}, title=f"Quantizing {name} {tuple(weight.shape)}")


# --- pruning (chapter 3.4) --------------------------------------------------------------------------

def prune_weight_magnitude(model: nn.Module, sparsity: float) -> nn.Module:
    """A copy of ``model`` whose Linear/Conv weights each keep the largest-magnitude (1 − sparsity).

    Layer-wise magnitude pruning (:func:`companion.prune.l1_unstructured`) made permanent; the
    original model is not modified.
    """
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity!r}")
    pruned = clone(model)
    for module, name in prunable_weights(pruned):
        l1_unstructured(module, name, amount=float(sparsity))
    return make_permanent(pruned)


def pruning_explorer(model: nn.Module, layer: str, accuracy: Callable[[nn.Module], float], *,
                     sparsities: Sequence[float] = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98)) -> Explorer:
    """Explore one-shot magnitude pruning of a trained model at several sparsities.

    For each sparsity s every weight layer keeps its largest (1 − s) weights
    (:func:`prune_weight_magnitude`, no fine-tuning). A frame shows the histogram of the surviving
    weights of ``layer``, its mask as an image (dark = kept), and ``accuracy(pruned_model)``.
    """
    modules = dict(model.named_modules())
    if layer not in modules or not hasattr(modules[layer], "weight"):
        raise ValueError(f"layer must name a module with a weight, one of "
                         f"{[n for n, m in modules.items() if isinstance(getattr(m, 'weight', None), torch.Tensor)]}")
    for s in sparsities:
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0.0 <= s < 1.0:
            raise ValueError(f"sparsities must lie in [0, 1), got {list(sparsities)}")
    results = {}
    for s in sparsities:
        pruned = prune_weight_magnitude(model, s)
        weight = dict(pruned.named_modules())[layer].weight.detach().reshape(modules[layer].weight.shape[0], -1)
        results[s] = (weight, float(accuracy(pruned)))
    dense = modules[layer].weight.detach().flatten().numpy()
    bins = np.linspace(dense.min(), dense.max(), 61)

    def draw(ax, sparsity):
        weight, acc = results[sparsity]
        kept = weight[weight != 0].numpy()
        ax.axis("off")
        ax.set_title(f"sparsity {sparsity:.0%}: accuracy {acc:.1%}", fontsize=9)
        hist = ax.inset_axes([0.1, 0.18, 0.5, 0.72])
        hist.hist(kept, bins=bins, color=COLORS[0])
        hist.set_xlabel(f"surviving weights of {layer}", fontsize=8)
        hist.set_ylabel("count", fontsize=8)
        hist.tick_params(labelsize=7)
        inset = ax.inset_axes([0.68, 0.0, 0.32, 0.9])
        inset.imshow((weight != 0).numpy(), cmap="Greys", aspect="auto", interpolation="nearest", vmin=0, vmax=1)
        inset.set_title("mask (dark = kept)", fontsize=8)
        inset.set_xticks([])
        inset.set_yticks([])

    explorer = Explorer(draw, {"sparsity": list(sparsities)}, formats={"sparsity": lambda s: f"{s:.0%}"},
                        figsize=(6.4, 2.6), play=True, title=f"Magnitude pruning: {layer}")
    explorer.accuracies = {s: acc for s, (_, acc) in results.items()}
    return explorer


# --- schedules (chapters 3.1 and 3.4) ---------------------------------------------------------------

def schedule_explorer(*, total_steps: int = 100, base_lr: float = 0.1, final_sparsity: float = 0.9,
                      marks: int = 8) -> Explorer:
    """Explore four learning-rate schedules and the AGP sparsity schedule over ``total_steps`` steps.

    Controls: the schedule, and a step t (``marks`` values from 0 to total_steps − 1). A frame draws
    the whole curve and marks its value at t. The curves are :mod:`companion.optim.schedules`
    (step, cosine, warm-up + cosine, one-cycle) and :func:`companion.prune.agp_sparsity`
    (Zhu & Gupta 2017: pruning from step 10 % to 70 % of training in 10 events).
    """
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 10:
        raise ValueError(f"total_steps must be an int ≥ 10, got {total_steps!r}")
    if isinstance(marks, bool) or not isinstance(marks, int) or not 2 <= marks <= 12:
        raise ValueError(f"marks must be an int in [2, 12], got {marks!r}")
    if not 0.0 < final_sparsity < 1.0:
        raise ValueError(f"final_sparsity must be in (0, 1), got {final_sparsity!r}")
    T = total_steps
    start, n = T // 10, 10
    interval = max((7 * T // 10 - start) // n, 1)
    curves = {
        "step LR": lambda t: lr_schedules.step_lr(t, base_lr, step_size=T // 3, gamma=0.1),
        "cosine": lambda t: lr_schedules.cosine_lr(t, base_lr, total_steps=T),
        "warm-up + cosine": lambda t: lr_schedules.warmup_cosine_lr(t, base_lr, warmup_steps=T // 10, total_steps=T),
        "one-cycle": lambda t: lr_schedules.one_cycle_lr(t, base_lr, total_steps=T),
        "AGP sparsity": lambda t: agp_sparsity(t, 0.0, final_sparsity, start, n, interval),
    }
    steps = np.arange(T)
    values = {name: np.array([f(int(t)) for t in steps]) for name, f in curves.items()}
    step_marks = sorted({int(round(x)) for x in np.linspace(0, T - 1, marks)})

    def draw(ax, schedule, step):
        y = values[schedule]
        ax.plot(steps, y, color=COLORS[2] if schedule == "AGP sparsity" else COLORS[0])
        ax.plot([step], [y[step]], "o", color=COLORS[1])
        unit = "target sparsity" if schedule == "AGP sparsity" else "learning rate"
        ax.set_xlabel("optimizer step t")
        ax.set_ylabel(unit)
        ax.set_title(f"{schedule}: {unit} at t = {step} is {y[step]:.4g}", fontsize=9)

    return Explorer(draw, {"schedule": list(curves), "step": step_marks}, figsize=(5.6, 2.6), play=True,
                    title="Schedules over training")


# --- the accuracy–cost plane (chapter 2) -------------------------------------------------------------

def compressed_weight_bytes(model: nn.Module, bits: int) -> float:
    """Bytes of a model stored as ``bits``-bit non-zero weights plus a 1-bit mask per weight.

    bytes = Σ_layers (nnz · bits + numel · [layer has zeros]) / 8 + 4 · (number of other parameters):
    a bitmap sparse format (the mask is only stored for a layer with zeros), biases and any other
    parameter in float32. A size model, not a file; the per-layer scales are ignored (a few bytes).
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 32:
        raise ValueError(f"bits must be an int in [1, 32], got {bits!r}")
    weights = {id(getattr(m, n)) for m, n in prunable_weights(model)}
    total_bits = 0
    for p in model.parameters():
        if id(p) in weights:
            nnz = int((p != 0).sum())
            total_bits += nnz * bits + (p.numel() if nnz < p.numel() else 0)
        else:
            total_bits += 32 * p.numel()
    return total_bits / 8


def measure_tradeoffs(model: nn.Module, accuracy: Callable[[nn.Module], float], *,
                      sparsities: Sequence[float] = (0.0, 0.5, 0.8, 0.9), bits: Sequence[int] = (32, 8, 4, 2)
                      ) -> dict[tuple[float, int], tuple[float, float]]:
    """(sparsity, bits) → (bytes, accuracy) of ``model`` pruned then weight-quantized, no fine-tuning.

    Each weight layer is magnitude-pruned to the sparsity (:func:`prune_weight_magnitude`), then its
    weights are fake-quantized symmetric per output channel at ``bits`` (32 = left in float32, the
    surviving zeros stay exactly zero since Z = 0); bytes from :func:`compressed_weight_bytes`.
    """
    points = {}
    for s in sparsities:
        pruned = prune_weight_magnitude(model, s)
        for b in bits:
            quantized = prune_weight_magnitude(pruned, 0.0)  # a copy
            if b < 32:
                with torch.no_grad():
                    for module, name in prunable_weights(quantized):
                        weight = getattr(module, name)
                        w_hat, _, _ = quantization_error(weight, b, symmetric=True, per_channel=True)
                        weight.copy_(w_hat.reshape(weight.shape))
            points[(s, b)] = (compressed_weight_bytes(quantized, b), float(accuracy(quantized)))
    return points


def tradeoff_explorer(points: Mapping[tuple[float, int], tuple[float, float]], *,
                      cost_label: str = "bytes of weights (log scale)") -> Explorer:
    """Explore combinations of pruning and quantization on the accuracy–cost plane.

    ``points`` maps (sparsity, bits) to a measured (cost, accuracy in [0, 1]). Controls: bits and
    sparsity; each frame shows every point in grey, the Pareto front, and the chosen combination
    highlighted with its numbers.
    """
    if not isinstance(points, Mapping) or len(points) < 2:
        raise ValueError("points must map at least two (sparsity, bits) pairs to (cost, accuracy)")
    sparsities = sorted({s for s, _ in points})
    bits = sorted({b for _, b in points}, reverse=True)
    missing = [(s, b) for s in sparsities for b in bits if (s, b) not in points]
    if missing:
        raise ValueError(f"points must hold every (sparsity, bits) combination; missing {missing}")
    for key, (cost, acc) in points.items():
        if not cost > 0 or not 0.0 <= acc <= 1.0:
            raise ValueError(f"points[{key}] needs cost > 0 and accuracy in [0, 1], got {(cost, acc)}")
    keys = list(points)
    costs = [points[k][0] for k in keys]
    accs = [100 * points[k][1] for k in keys]
    front = pareto_front(costs, accs)
    order = sorted(front, key=lambda i: costs[i])

    def draw(ax, n_bits, sparsity):
        ax.scatter(costs, accs, color="0.75", s=18, zorder=2)
        ax.step([costs[i] for i in order], [accs[i] for i in order], where="post", color=COLORS[1],
                lw=1, label="Pareto front", zorder=1)
        cost, acc = points[(sparsity, n_bits)]
        ax.scatter([cost], [100 * acc], color=COLORS[0], s=60, zorder=3, label="chosen")
        ax.set_xscale("log")
        ax.set_xlabel(cost_label)
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(min(accs) - 3, 100)
        ax.legend(loc="lower right", fontsize=7)
        ax.set_title(f"{n_bits}-bit weights, {sparsity:.0%} pruned: {cost / 1024:.1f} KiB, {100 * acc:.1f} %",
                     fontsize=9)

    return Explorer(draw, {"bits": bits, "sparsity": sparsities}, keys=["n_bits", "sparsity"],
                    formats={"sparsity": lambda s: f"{s:.0%}"}, figsize=(5.6, 3.0),
                    title="Accuracy against size: pruning × quantization")
