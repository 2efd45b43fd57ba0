"""The figure legibility rule of companion.plots, checked against the saved PNG's real width."""
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from companion import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _style():
    with matplotlib.rc_context():
        plots.use_style()
        yield
    plt.close("all")


def four_panels(fontsize=7):
    fig, axes = plt.subplots(1, 4, sharey=True, figsize=(13, 3.4))
    for ax in axes:
        ax.bar([0, 1, 2], [1, 2, 3], label="speedup")
        ax.set_title("CNN, channels_last", fontsize=fontsize)
        ax.set_xlabel("channels removed")
    axes[0].legend(fontsize=fontsize)
    return fig


def shown_px(png: bytes, points: float) -> float:
    """Independent of the module's arithmetic: the PNG's own width and dpi, and the page's column."""
    image = Image.open(io.BytesIO(png))
    dpi = image.info["dpi"][0]
    return points * dpi / 72 * min(1.0, plots.FIGURE_WIDTH_PX / image.width)


def test_px_per_point_closed_form():
    assert plots.text_px_per_point(300, 144) == pytest.approx(2.0)  # narrower than the column: own size
    assert plots.text_px_per_point(1376, 144) == pytest.approx(2.0 * 688 / 1376)
    with pytest.raises(ValueError, match="image_width_px"):
        plots.text_px_per_point(0, 100)


def test_wide_figure_with_small_text_is_rejected_then_made_legible():
    fig = four_panels()
    with pytest.raises(ValueError, match=r"under 9.0 px"):
        plots.check_legible(fig)
    png = plots.png_with_text_size(fig)
    plots.check_legible(fig)
    recorded = float(Image.open(io.BytesIO(png)).info[plots.MIN_FONT_KEY])
    assert recorded == pytest.approx(plots.min_font_points(fig), abs=0.01)
    assert shown_px(png, recorded) >= plots.MIN_TEXT_PX - 0.05


def test_default_width_figure_needs_no_enlarging():
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [3, 1, 2])
    ax.set_xlabel("x (units)")
    before = plots.min_font_points(fig)
    png = plots.png_with_text_size(fig)
    assert plots.min_font_points(fig) == before
    assert shown_px(png, before) >= plots.MIN_TEXT_PX


def test_png_of_an_empty_figure_is_none():
    assert plots.png_with_text_size(plt.figure()) is None


def test_place_labels_avoids_overlap_and_stays_inside():
    xs = [1.0, 1.05, 1.1, 2.0, 2.02, 3.0]
    ys = [1.0, 1.02, 0.98, 2.0, 2.01, 1.5]
    labels = ["float32", "80% pruned, dense", "int8", "80% pruned + int8", "90% pruned", "95% pruned, CSR"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.scatter(xs, ys)
    ax.margins(x=0.3, y=0.3)
    notes = plots.place_labels(ax, xs, ys, labels)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [n.get_window_extent(renderer) for n in notes]
    frame = ax.get_window_extent(renderer)
    for i, a in enumerate(boxes):
        assert frame.contains(a.x0, a.y0) and frame.contains(a.x1, a.y1), labels[i]
        for j in range(i):
            assert not a.overlaps(boxes[j]), (labels[i], labels[j])


def test_place_labels_rejects_mismatched_lengths():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="same length"):
        plots.place_labels(ax, [1, 2], [1], ["a", "b"])


def test_make_legible_rejects_a_bad_minimum():
    with pytest.raises(ValueError, match="min_px"):
        plots.make_legible(four_panels(), min_px=0)
