"""The network picture: blocks follow the analysis's shapes, shortcuts show their kind."""
from __future__ import annotations

import re

from playground.figures import diagram as D
from playground.model import build as M
from playground import spec as S
from playground.presets import load_preset


def rects(figure):
    return [s for s in figure.layout.shapes if s.type == "rect"]


def residual_shortcuts(figure) -> list[str]:
    """The dash style of every residual arc in a figure ("solid" or "dash"), in order."""
    return [shape.line.dash for shape in figure.layout.shapes if shape.type == "path"]


def texts(figure):
    return [re.sub(r"<[^>]+>", " ", a.text).strip() for a in figure.layout.annotations]


def test_lenet_blocks_follow_the_shapes():
    analysis = M.analyze(load_preset("lenet5"))
    drawn = D.blocks(analysis)
    assert [b.shape for b in drawn] == [(1, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10),
                                        (16, 5, 5), (400,), (120,), (84,), (10,)]
    assert drawn[1].extras == ["tanh"]  # shape-keeping layers ride on their block
    figure = D.network_figure(analysis)
    labels = texts(figure)
    for label in ("6@28x28", "6@14x14", "16@5x5", "400", "120", "84", "10"):
        assert label in labels
    # drawn to scale: a 28x28 map is twice as tall as a 14x14 one
    heights = {round(s.y1 - s.y0, 6) for s in rects(figure)}
    assert 28 in heights and 14 in heights and 10 in heights and 5 in heights
    assert residual_shortcuts(figure) == []


def test_resnet_draws_identity_solid_and_projection_dashed():
    analysis = M.analyze(load_preset("resnet_cifar10"))
    figure = D.network_figure(analysis)
    assert residual_shortcuts(figure) == ["solid", "dash", "dash"]
    labels = texts(figure)
    assert labels.count("identity") == 1 and labels.count("1x1 projection") == 2
    assert any("(auto)" in label for label in labels)  # the automatic linear head


def test_many_channels_are_capped_and_an_error_note_shows():
    model_spec = S.ModelSpec(name="wide", input=(3, 64, 48), num_classes=10, layers=[
        S.make_layer("conv", out_channels=256, kernel_size=3)])
    figure = D.network_figure(M.analyze(model_spec), error_text="showing the last valid")
    assert len(rects(figure)) == 3 + D.MAX_PLANES + 1 + 1  # input, conv, flatten, linear
    assert "showing the last valid" in texts(figure)
    assert "256@62x46" in texts(figure)


def test_the_automatic_head_is_drawn_readable_and_says_it_was_added():
    analysis = M.analyze(load_preset("mnist_fast"))  # conv stack; flatten and linear added
    drawn = D.blocks(analysis)
    assert [b.auto for b in drawn[-2:]] == [True, True]
    figure = D.network_figure(analysis)
    tallest = max(s.y1 - s.y0 for s in rects(figure))
    head = rects(figure)[-1]  # the 10 outputs, a bar much shorter than the 1,568 flattened
    assert head.y1 - head.y0 >= 0.25 * tallest
    assert head.x1 - head.x0 >= 0.14 * tallest
    assert head.line.dash != "dot" and head.line.width >= 2
    assert sum("added automatically" in label for label in texts(figure)) == 2


def test_dilation_shows_in_the_conv_label():
    model_spec = S.ModelSpec(name="dilated", input=(1, 28, 28), num_classes=10, layers=[
        S.make_layer("conv", out_channels=4, kernel_size=3, dilation=2),
        S.make_layer("conv", out_channels=4, kernel_size=3, stride=2)])
    labels = texts(D.network_figure(M.analyze(model_spec)))
    assert "conv 3x3 d2" in labels and "conv 3x3 /2" in labels
