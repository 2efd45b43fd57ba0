"""The book's figure style: one look for every chart, labelled axes with units, text a reader can read.

Call :func:`use_style` once at the top of a chapter. Colours come from :data:`COLORS`, a palette
that stays distinguishable for readers with colour-vision deficiencies (Okabe & Ito 2008).

**The legibility rule.** A figure is drawn at some width in inches but shown on the page at the
width of the text column, so its text shrinks with it. On a page ``PAGE_WIDTH_PX`` = 1280 CSS px
wide, the column shows a figure at most ``FIGURE_WIDTH_PX`` px wide (measured in the browser;
narrower images are shown at their own size). A font of ``s`` points in an image saved at ``dpi``
that is ``w`` px wide is then

    s · dpi / 72 · min(1, FIGURE_WIDTH_PX / w)   CSS px

tall on the page. :func:`use_style` makes every figure a chapter displays obey
``>= MIN_TEXT_PX`` (9 px): before the figure is rendered, :func:`make_legible` enlarges any text
below the minimum (the layout engine then makes room for it), and the PNG carries the smallest font
size it used (``MIN_FONT_KEY``) so that the browser check can measure the rule on the built site.
Labels next to points are placed by :func:`place_labels`, which picks for each label the first
position that overlaps no other label, no point and stays inside the axes.
"""
from __future__ import annotations

from base64 import b64encode
from io import BytesIO
from typing import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import cbook
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from .measure import pareto_front

__all__ = ["CJK_FONTS", "COLORS", "FIGURE_WIDTH_PX", "MIN_FONT_KEY", "MIN_TEXT_PX", "PAGE_WIDTH_PX", "check_legible",
           "font_families", "make_legible", "min_font_points", "place_labels", "plot_pareto", "png_with_text_size",
           "text_px_per_point", "use_style", "visible_texts"]

COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

#: The browser window width the rule is stated for, in CSS px.
PAGE_WIDTH_PX = 1280
#: The widest a figure is shown in the text column of a 1280 px page (sphinx-book-theme 1.1.4,
#: measured in Chromium with the navigation sidebar open; the browser check re-measures it).
FIGURE_WIDTH_PX = 688
#: The smallest text height a reader is asked to read, in CSS px.
MIN_TEXT_PX = 9.0
#: The PNG text chunk that records the smallest font size in a rendered figure, in points.
MIN_FONT_KEY = "companion:min-font-pt"
# Resolution of the displayed PNGs: sharp on high-density phone screens.
DISPLAY_DPI = 150


#: Fonts for text that DejaVu Sans (matplotlib's own) cannot draw, such as Chinese: with
#: ``fontfamily=font_families()`` matplotlib takes each glyph from the first family that has it.
#: WenQuanYi Micro Hei is Debian's fonts-wqy-microhei (`make cjk-font`). Not part of use_style(): the
#: chapters' figures are drawn by the same code in both editions and hold no Chinese, and a fallback
#: without a bold face would make matplotlib warn about every bold title.
CJK_FONTS = {"WenQuanYi Micro Hei": "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"}


def font_families() -> list[str]:
    """The book's font families, in fallback order: DejaVu Sans, then each installed CJK font.

    A font installed after matplotlib built its font cache is registered here, so that listing it
    never makes matplotlib warn that a family was not found.
    """
    from pathlib import Path

    from matplotlib import font_manager

    families = ["DejaVu Sans"]
    known = {font.name for font in font_manager.fontManager.ttflist}
    for family, path in CJK_FONTS.items():
        if family not in known and Path(path).is_file():
            font_manager.fontManager.addfont(path)
            known = {font.name for font in font_manager.fontManager.ttflist}
        if family in known:
            families.append(family)
    return families


def use_style() -> None:
    """Set matplotlib's defaults to the book's style and, in a notebook, enforce the legibility rule.

    Fonts are sized so that a figure of the default width needs no enlarging; a wider figure's
    text is enlarged at display time by :func:`make_legible` (see the module docstring).
    """
    mpl.rcParams.update({
        "figure.figsize": (6.4, 3.8),
        "figure.dpi": 100,
        "savefig.dpi": DISPLAY_DPI,
        "figure.autolayout": True,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": mpl.cycler(color=COLORS),
        "axes.titlesize": 11,
        "axes.labelsize": 10,
        "xtick.labelsize": 9,
        "ytick.labelsize": 9,
        "legend.fontsize": 9,
        "legend.frameon": False,
        "font.size": 10,
    })
    _display_figures_legibly()


def visible_texts(fig: Figure) -> list[Text]:
    """Every text artist of ``fig`` that a reader sees: titles, labels, tick labels, legends, notes."""
    fig.canvas.draw()  # tick labels exist only once the figure is drawn
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def text_px_per_point(image_width_px: float, dpi: float, shown_width_px: float = FIGURE_WIDTH_PX) -> float:
    """CSS px on the page per point of font size for an image ``image_width_px`` wide saved at ``dpi``.

    ``dpi / 72`` image pixels per point, scaled by ``min(1, shown_width_px / image_width_px)``.
    """
    if image_width_px <= 0 or dpi <= 0 or shown_width_px <= 0:
        raise ValueError(f"image_width_px, dpi and shown_width_px must be positive, got "
                         f"{image_width_px}, {dpi}, {shown_width_px}")
    return dpi / 72 * min(1.0, shown_width_px / image_width_px)


def _saved_width_px(fig: Figure, dpi: float) -> float:
    """Width in pixels of ``fig`` saved with ``bbox_inches='tight'`` at ``dpi``."""
    renderer = fig.canvas.get_renderer()
    bbox = fig.get_tightbbox(renderer).padded(mpl.rcParams["savefig.pad_inches"])
    return bbox.width * dpi


def min_font_points(fig: Figure) -> float:
    """The smallest font size, in points, of any visible text of ``fig``."""
    texts = visible_texts(fig)
    if not texts:
        raise ValueError("the figure has no visible text (a figure needs at least labelled axes)")
    return min(t.get_fontsize() for t in texts)


def make_legible(fig: Figure, *, dpi: float = DISPLAY_DPI, min_px: float = MIN_TEXT_PX,
                 shown_width_px: float = FIGURE_WIDTH_PX) -> float:
    """Enlarge every text of ``fig`` that would show under ``min_px`` CSS px; return the smallest size (pt).

    Enlarging text widens the tight bounding box, which shrinks the displayed scale, so the size is
    recomputed until it holds (at most a few rounds). Modifies ``fig`` in place.
    """
    if min_px <= 0:
        raise ValueError(f"min_px must be positive, got {min_px}")
    for _ in range(5):
        texts = visible_texts(fig)
        needed = min_px / text_px_per_point(_saved_width_px(fig, dpi), dpi, shown_width_px)
        small = [t for t in texts if t.get_fontsize() < needed - 1e-9]
        if not small:
            return min(t.get_fontsize() for t in texts) if texts else needed
        for text in small:
            text.set_fontsize(round(needed + 0.05, 1))
        _enlarge_tick_labels(fig, needed)
    raise ValueError("could not make the figure's text legible: it grows wider with every enlargement; "
                     "draw it narrower or with fewer panels")


def _enlarge_tick_labels(fig: Figure, size: float) -> None:
    """Tick labels are recreated on every draw; set their size on the axis so it sticks."""
    for ax in fig.axes:
        for axis_name in ("x", "y"):
            axis = getattr(ax, f"{axis_name}axis")
            for which in ("major", "minor"):
                ticks = axis.get_major_ticks() if which == "major" else axis.get_minor_ticks()
                if ticks and ticks[0].label1.get_fontsize() < size:
                    ax.tick_params(axis=axis_name, which=which, labelsize=round(size + 0.05, 1))


def check_legible(fig: Figure, *, dpi: float = DISPLAY_DPI, min_px: float = MIN_TEXT_PX,
                  shown_width_px: float = FIGURE_WIDTH_PX) -> None:
    """Raise ``ValueError`` naming each text of ``fig`` that would show under ``min_px`` CSS px."""
    scale = text_px_per_point(_saved_width_px(fig, dpi), dpi, shown_width_px)
    small = [(t.get_text(), t.get_fontsize() * scale) for t in visible_texts(fig)
             if t.get_fontsize() * scale < min_px - 1e-9]
    if small:
        listed = ", ".join(f"{text!r} ({px:.1f} px)" for text, px in small[:8])
        raise ValueError(f"{len(small)} text(s) under {min_px} px at a {PAGE_WIDTH_PX} px page: {listed}")


def png_with_text_size(fig: Figure, *, dpi: float = DISPLAY_DPI) -> bytes | None:
    """Render ``fig`` as the PNG a chapter shows: legible text, tight box, smallest font size recorded."""
    if not fig.axes:
        return None
    smallest = make_legible(fig, dpi=dpi)
    check_legible(fig, dpi=dpi)
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", facecolor=fig.get_facecolor(),
                edgecolor=fig.get_edgecolor(), metadata={MIN_FONT_KEY: f"{smallest:.2f}"})
    return buffer.getvalue()


def _display_figures_legibly() -> None:
    """In IPython, display every matplotlib figure through :func:`png_with_text_size`."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    # Load the inline backend now: when it loads it registers its own PNG formatter, which would
    # otherwise replace this one at the chapter's first figure.
    plt.switch_backend(mpl.get_backend())
    formatter = shell.display_formatter.formatters["image/png"]
    formatter.for_type(Figure, lambda fig: _base64(png_with_text_size(fig)))


def _base64(png: bytes | None) -> str | None:
    return None if png is None else b64encode(png).decode("ascii")


def place_labels(ax: plt.Axes, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str], *,
                 fontsize: float | None = None, gap: float = 5.0) -> list[Text]:
    """Annotate each point with its label where it overlaps no other label or point.

    Data lines drawn so far count as occupied too. For each label in turn, candidate offsets (right, left, above, below and the diagonals, ``gap``
    points away, then two and three times as far) are tried; the first whose box stays inside the axes and meets
    no placed label and no marker wins. If none is free, the candidate with the least overlap is kept.
    """
    if not len(xs) == len(ys) == len(labels):
        raise ValueError(f"xs, ys and labels must have the same length, got {len(xs)}, {len(ys)}, {len(labels)}")
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    points = ax.transData.transform(list(zip(xs, ys))) if len(xs) else []
    marker = 4.0 * fig.dpi / 72  # half a marker's width, in display pixels
    occupied = [Bbox.from_extents(px - marker, py - marker, px + marker, py + marker) for px, py in points]
    occupied += _line_boxes(ax)
    axes_box = ax.get_window_extent(renderer)
    candidates = [(1, 0, "left", "center"), (-1, 0, "right", "center"), (0, 1, "center", "bottom"),
                  (0, -1, "center", "top"), (0.7, 0.7, "left", "bottom"), (0.7, -0.7, "left", "top"),
                  (-0.7, 0.7, "right", "bottom"), (-0.7, -0.7, "right", "top")]
    placed = []
    for x, y, label in zip(xs, ys, labels):
        best = None
        for reach in (1, 2, 3):
            for dx, dy, ha, va in candidates:
                note = ax.annotate(label, (x, y), textcoords="offset points", fontsize=fontsize,
                                   xytext=(dx * gap * reach, dy * gap * reach), ha=ha, va=va)
                box = note.get_window_extent(renderer)
                cost = sum(_overlap(box, other) for other in occupied) + _outside(box, axes_box)
                if best is None or cost < best[0]:
                    if best is not None:
                        best[1].remove()
                    best = (cost, note, box)
                else:
                    note.remove()
                if cost == 0:
                    break
            if best[0] == 0:
                break
        occupied.append(best[2])
        placed.append(best[1])
    return placed


def _line_boxes(ax: plt.Axes, step: float = 3.0) -> list[Bbox]:
    """Small boxes along every data line of ``ax`` (as drawn, steps included), ``step`` pixels apart."""
    boxes = []
    for line in ax.get_lines():
        xs, ys = line.get_xdata(), line.get_ydata()
        drawstyle = line.get_drawstyle()
        if drawstyle in cbook.STEP_LOOKUP_MAP and drawstyle != "default":
            xs, ys = cbook.STEP_LOOKUP_MAP[drawstyle](xs, ys)
        pixels = ax.transData.transform(np.column_stack([xs, ys]))
        for (x0, y0), (x1, y1) in zip(pixels[:-1], pixels[1:]):
            count = max(int(np.hypot(x1 - x0, y1 - y0) / step), 1)
            for t in np.linspace(0, 1, count + 1):
                x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                boxes.append(Bbox.from_extents(x - 1, y - 1, x + 1, y + 1))
    return boxes


def _overlap(a: Bbox, b: Bbox) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(width, 0.0) * max(height, 0.0)


def _outside(box: Bbox, frame: Bbox) -> float:
    """Area of ``box`` that lies outside ``frame`` (weighted up: running off the axes is worst)."""
    inside = _overlap(box, frame)
    return 10.0 * (box.width * box.height - inside)


def plot_pareto(costs: Sequence[float], accuracies: Sequence[float], labels: Sequence[str], *,
                xlabel: str, ylabel: str = "test accuracy (%)", ax: plt.Axes | None = None,
                logx: bool = True) -> plt.Axes:
    """Scatter (cost, accuracy) points with their labels and draw their Pareto front as a step line.

    Labels are placed by :func:`place_labels`; the x range is widened so labels at the ends fit.
    """
    ax = ax or plt.gca()
    ax.scatter(costs, accuracies, color=COLORS[0], zorder=3)
    front = pareto_front(costs, accuracies)
    ax.step([costs[i] for i in front], [accuracies[i] for i in front], where="post", color=COLORS[1],
            label="Pareto front", zorder=2)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.margins(x=0.25, y=0.12)
    ax.legend(loc="lower right")
    place_labels(ax, costs, accuracies, labels)
    return ax
