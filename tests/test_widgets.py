"""companion.widgets: frames that differ with the control values, links that tie controls to stacks,
sizes, the quantization and size models against independent oracles, and bad arguments."""
import io

import ipywidgets
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402

from companion import widgets as W  # noqa: E402


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _draw_level(ax, level, colour):
    ax.bar([0], [level], color=colour)
    ax.set_ylim(0, 3)


@pytest.fixture(scope="module")
def toy():
    return W.Explorer(_draw_level, {"colour": ["red", "blue"], "level": [1, 2, 3]})


def test_one_frame_per_combination_and_every_frame_differs(toy):
    assert len(toy.frame_pngs) == 6
    pixels = [_pixels(png) for png in toy.frame_pngs.values()]
    for i in range(len(pixels)):
        for j in range(i + 1, len(pixels)):
            assert not np.array_equal(pixels[i], pixels[j]), (i, j)


def test_frames_are_valid_small_pngs(toy):
    for png in toy.frame_pngs.values():
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert Image.open(io.BytesIO(png)).mode == "P"  # palette: small
        assert len(png) < 20_000
    assert toy.frame_bytes() == sum(len(p) for p in toy.frame_pngs.values())


def _links_between(explorer, control):
    return [link for link in explorer.links if link.source[0] is control]


def test_controls_are_jslinked_to_every_stack_at_their_level(toy):
    colour, level = toy.control_widgets
    assert isinstance(colour, ipywidgets.ToggleButtons) and isinstance(level, ipywidgets.SelectionSlider)
    outer = toy.stack
    assert len(outer.children) == 2 and all(isinstance(c, ipywidgets.Stack) for c in outer.children)
    colour_targets = {id(link.target[0]) for link in _links_between(toy, colour)}
    level_targets = {id(link.target[0]) for link in _links_between(toy, level)}
    assert colour_targets == {id(outer)}
    assert level_targets == {id(c) for c in outer.children}
    assert all(link.source[1] == "index" and link.target[1] == "selected_index" for link in toy.links)
    # the image at (colour i, level j) is the frame drawn for that combination
    for i, inner in enumerate(outer.children):
        for j, image in enumerate(inner.children):
            assert image.value == toy.frame_pngs[(i, j)]


def test_slider_labels_use_the_formats():
    explorer = W.Explorer(lambda ax, s: ax.plot([0, s]), {"s": [0.5, 0.9]}, formats={"s": lambda s: f"{s:.0%}"})
    assert [label for label, _ in explorer.control_widgets[0].options] == ["50%", "90%"]


def test_play_steps_the_slider():
    explorer = W.Explorer(lambda ax, s: ax.plot([0, s]), {"s": [1, 2, 3]}, play=True)
    assert explorer.play.max == 2
    assert any(link.target[0] is explorer.control_widgets[0] for link in _links_between(explorer, explorer.play))


def test_static_figure_draws_the_picked_frames(toy):
    fig = toy.static_figure([{"colour": "blue", "level": 3}, {"level": 1}])
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 2
    heights = [ax.patches[0].get_height() for ax in visible]
    assert heights == [3, 1]
    plt.close(fig)
    default = toy.static_figure()  # first, middle, last of the slider
    assert len([ax for ax in default.axes if ax.get_visible()]) == 3
    plt.close(default)


@pytest.mark.parametrize("controls, match", [
    ({}, "non-empty mapping"),
    ({"a": []}, "non-empty list"),
    ({"a": "xyz"}, "non-empty list"),
    ({"a": list(range(10)), "b": list(range(7))}, "MAX_FRAMES"),
])
def test_bad_controls(controls, match):
    with pytest.raises(ValueError, match=match):
        W.Explorer(lambda ax, **v: None, controls)


def test_bad_static_picks(toy):
    with pytest.raises(ValueError, match="unknown controls"):
        toy.static_figure([{"size": 1}])
    with pytest.raises(ValueError, match="not one of the offered values"):
        toy.static_figure([{"level": 7}])


def test_png_bytes_arguments():
    for kwargs, match in [({"dpi": 5}, "dpi"), ({"colors": 1}, "colors"), ({"dpi": True}, "dpi")]:
        fig = plt.figure()
        with pytest.raises(ValueError, match=match):
            W.png_bytes(fig, **kwargs)
        plt.close(fig)


# --- the models behind the explorers -----------------------------------------------------------------

def test_quantization_error_matches_pytorch_fake_quantize():
    torch.manual_seed(0)
    w = torch.randn(6, 10)
    for per_channel in (False, True):
        w_hat, scale, zero = W.quantization_error(w, 4, symmetric=False, per_channel=per_channel, clip=0.8)
        if per_channel:
            ref = torch.fake_quantize_per_channel_affine(w, scale, zero, 0, -8, 7)
        else:
            ref = torch.fake_quantize_per_tensor_affine(w, float(scale), int(zero), -8, 7)
        torch.testing.assert_close(w_hat, ref)
        assert len(torch.unique(w_hat)) <= 16 * (6 if per_channel else 1)


def test_quantization_error_arguments_and_no_mutation():
    w = torch.randn(4, 4)
    before = w.clone()
    W.quantization_error(w, 3, clip=0.5)
    assert torch.equal(w, before)
    with pytest.raises(ValueError, match="clip"):
        W.quantization_error(w, 4, clip=0.0)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        W.quantization_error(torch.randn(8), 4)
    with pytest.raises(TypeError, match="torch.Tensor"):
        W.quantization_error(np.ones((3, 3)), 4)


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))


def test_prune_weight_magnitude_keeps_the_largest_and_copies():
    model = _mlp()
    pruned = W.prune_weight_magnitude(model, 0.5)
    for dense, sparse in ((model[0], pruned[0]), (model[2], pruned[2])):
        w, p = dense.weight.detach(), sparse.weight.detach()
        k = w.numel() // 2
        threshold = w.abs().flatten().sort().values[k - 1]  # brute force: the k smallest go
        assert int((p == 0).sum()) == k
        assert torch.equal(p[p != 0], w[w.abs() > threshold])
    assert int((model[0].weight == 0).sum()) == 0  # original untouched
    with pytest.raises(ValueError, match="sparsity"):
        W.prune_weight_magnitude(model, 1.0)


def test_compressed_weight_bytes_closed_form():
    model = _mlp()
    dense_bits = 32 * (8 * 6 + 6 + 6 * 3 + 3)
    assert W.compressed_weight_bytes(model, 32) == dense_bits / 8
    assert W.compressed_weight_bytes(model, 4) == (4 * (48 + 18) + 32 * 9) / 8
    pruned = W.prune_weight_magnitude(model, 0.5)  # 24 and 9 non-zeros, masks of 48 and 18 bits
    assert W.compressed_weight_bytes(pruned, 4) == (4 * (24 + 9) + 48 + 18 + 32 * 9) / 8
    with pytest.raises(ValueError, match="bits"):
        W.compressed_weight_bytes(model, 0)


# --- the four explorers on small inputs ----------------------------------------------------------------

def test_quantization_explorer_frames_differ_with_bits_and_granularity():
    torch.manual_seed(0)
    w = torch.randn(5, 16) * torch.linspace(0.1, 2.0, 5)[:, None]
    explorer = W.quantization_explorer(w, bits=(2, 8), clips=(1.0,))
    assert len(explorer.frame_pngs) == 2 * 2 * 1 * 2
    assert not np.array_equal(_pixels(explorer.frame_pngs[(0, 0, 0, 0)]), _pixels(explorer.frame_pngs[(0, 0, 0, 1)]))
    assert not np.array_equal(_pixels(explorer.frame_pngs[(0, 0, 0, 0)]), _pixels(explorer.frame_pngs[(1, 0, 0, 0)]))
    with pytest.raises(ValueError, match="bits"):
        W.quantization_explorer(w, bits=(1, 4))
    with pytest.raises(ValueError, match="NaN"):
        W.quantization_explorer(torch.full((3, 3), float("nan")))


def test_pruning_explorer_accuracy_and_arguments():
    model = _mlp()
    x = torch.randn(64, 8)
    y = model(x).argmax(1)

    def accuracy(m):
        return float((m(x).argmax(1) == y).float().mean())

    explorer = W.pruning_explorer(model, "0", accuracy, sparsities=(0.0, 0.5, 0.9))
    assert explorer.accuracies[0.0] == 1.0
    assert explorer.accuracies[0.9] < 1.0
    assert len(explorer.frame_pngs) == 3
    pixels = [_pixels(p) for p in explorer.frame_pngs.values()]
    assert not np.array_equal(pixels[0], pixels[2])
    with pytest.raises(ValueError, match="layer must name"):
        W.pruning_explorer(model, "1", accuracy)
    with pytest.raises(ValueError, match="sparsities"):
        W.pruning_explorer(model, "0", accuracy, sparsities=(0.5, 1.0))


def test_schedule_explorer_marks_and_arguments():
    explorer = W.schedule_explorer(total_steps=20, marks=3)
    assert [label for label, _ in explorer.control_widgets[-1].options] == ["0", "10", "19"]
    assert len(explorer.frame_pngs) == 5 * 3
    for bad, match in [({"total_steps": 5}, "total_steps"), ({"marks": 1}, "marks"),
                       ({"final_sparsity": 1.0}, "final_sparsity")]:
        with pytest.raises(ValueError, match=match):
            W.schedule_explorer(**bad)


def test_tradeoff_explorer_needs_a_full_grid():
    points = {(s, b): (1000 * (1 - s) * b, 0.9 - s / 2) for s in (0.0, 0.5) for b in (32, 4)}
    explorer = W.tradeoff_explorer(points)
    assert [label for label, _ in explorer.control_widgets[0].options] == ["32", "4"]
    assert len(explorer.frame_pngs) == 4
    del points[(0.5, 4)]
    with pytest.raises(ValueError, match="missing"):
        W.tradeoff_explorer(points)
    with pytest.raises(ValueError, match="accuracy in"):
        W.tradeoff_explorer({(0.0, 32): (1.0, 1.5), (0.5, 32): (0.5, 0.5)})


def test_frames_have_legible_text_and_record_their_smallest_font():
    """A frame shows at natural size: no text under MIN_TEXT_PX px, and the PNG says its smallest font."""
    from companion.plots import MIN_FONT_KEY, MIN_TEXT_PX

    fig, ax = plt.subplots(figsize=(4, 2))
    ax.set_xlabel("tiny", fontsize=4)
    ax.tick_params(labelsize=5)
    png = Image.open(io.BytesIO(W.png_bytes(fig, dpi=72)))
    assert float(png.info[MIN_FONT_KEY]) >= MIN_TEXT_PX - 0.05  # 72 dpi: one px per point
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.set_xlabel("tiny", fontsize=4)
    png = Image.open(io.BytesIO(W.png_bytes(fig, dpi=144)))
    assert float(png.info[MIN_FONT_KEY]) * 144 / 72 >= MIN_TEXT_PX - 0.05
    assert png.info["dpi"][0] == pytest.approx(144, abs=0.1)  # the browser check reads the scale from it
