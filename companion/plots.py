"""The book's figure style: one look for every chart, labelled axes with units.

Call :func:`use_style` once at the top of a chapter. Colours come from :data:`COLORS`, a palette
that stays distinguishable for readers with colour-vision deficiencies (Okabe & Ito 2008).
"""
from __future__ import annotations

from typing import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt

from .measure import pareto_front

__all__ = ["COLORS", "use_style", "plot_pareto"]

COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]


def use_style() -> None:
    """Set matplotlib's defaults to the book's style (sizes, grid, palette, crisp PNG output)."""
    mpl.rcParams.update({
        "figure.figsize": (6.4, 3.8),
        "figure.dpi": 100,
        "savefig.dpi": 150,
        "figure.autolayout": True,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": mpl.cycler(color=COLORS),
        "axes.titlesize": 11,
        "axes.labelsize": 10,
        "legend.fontsize": 9,
        "legend.frameon": False,
        "font.size": 10,
    })


def plot_pareto(costs: Sequence[float], accuracies: Sequence[float], labels: Sequence[str], *,
                xlabel: str, ylabel: str = "test accuracy (%)", ax: plt.Axes | None = None,
                logx: bool = True) -> plt.Axes:
    """Scatter (cost, accuracy) points with their labels and draw their Pareto front as a step line."""
    ax = ax or plt.gca()
    ax.scatter(costs, accuracies, color=COLORS[0], zorder=3)
    for cost, acc, label in zip(costs, accuracies, labels):
        ax.annotate(label, (cost, acc), textcoords="offset points", xytext=(5, 4), fontsize=8)
    front = pareto_front(costs, accuracies)
    ax.step([costs[i] for i in front], [accuracies[i] for i in front], where="post", color=COLORS[1],
            label="Pareto front", zorder=2)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="lower right")
    return ax
