"""The Learn page's second part (training, other convolutions, limits) through AppTest:
every lesson renders, its key widgets change it."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from playground.lessons import LESSONS, TRAINING_AND_LIMITS, lesson
from playground.lessons import invariance as invariance_numbers
from playground.ui.learn import invariance
from playground.ui.learn.page import PARTS
from playground.ui.learn.widgets import BUILD_LABEL

from tests.pages.test_learn_page import chart_titles, latex, text

TIMEOUT = 120
PART_LESSONS = PARTS[TRAINING_AND_LIMITS][0]


def _page() -> None:
    from playground.ui.learn import page as learn_page

    learn_page.render()


@pytest.fixture(scope="module")
def app() -> AppTest:
    at = AppTest.from_function(_page, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    at.segmented_control(key="learn_part").set_value(TRAINING_AND_LIMITS).run()
    assert not at.exception, at.exception
    return at


def open_lesson(at: AppTest, title: str) -> AppTest:
    at.radio(key="learn_lesson_training").set_value(title).run()
    assert not at.exception, at.exception
    return at


def test_first_part_keeps_its_key_and_lessons():
    at = AppTest.from_function(_page, default_timeout=TIMEOUT)
    at.run()
    assert at.radio(key="learn_lesson").options == [l.label for l in LESSONS[:9]]
    assert at.header[0].value == "Convolution step by step"


@pytest.mark.parametrize("title", PART_LESSONS)
def test_every_lesson_of_the_part_renders_with_charts_formulas_and_build_button(app, title):
    at = open_lesson(app, title)
    assert at.header[0].value
    assert at.get("plotly_chart"), title
    assert at.latex, title
    assert any(b.label == BUILD_LABEL for b in at.button)


def test_signals_kernel_and_time_change_the_formula(app):
    at = open_lesson(app, lesson("signals").label)
    assert "symmetric, so the flip changes nothing" in text(at)
    before = latex(at)
    at.slider(key="learn2_s_t").set_value(10).run()
    assert "y_{10} &= w_{1}x_{10}" in latex(at) and latex(at) != before
    at.radio(key="learn2_s_kernel").set_value("difference [1, -1]").run()
    assert "not symmetric" in text(at)
    assert any("difference [1, -1]" in t for t in chart_titles(at))
    at.radio(key="learn2_s_box").set_value(3).run()
    assert r"\tfrac{1}{9}" in latex(at)
    at.radio(key="learn2_s_kernel").set_value("moving average").run()


def test_backward_digit_and_window_change_the_gradients(app):
    at = open_lesson(app, lesson("backward").label)
    assert r"\max|\text{rule} - \text{autograd}| = 0" in latex(at)
    loss = next(m.value for m in at.metric if m.label == "cross-entropy loss")
    at.selectbox(key="learn2_b_digit").set_value(7).run()
    assert next(m.value for m in at.metric if m.label == "cross-entropy loss") != loss
    assert any(t.startswith("Forward: the outputs (channel 2)") for t in chart_titles(at))
    at.slider(key="learn2_b_channel").set_value(3).run()
    assert any(t.startswith("Forward: the outputs (channel 3)") for t in chart_titles(at))
    assert r"(\text{conv 2})" in latex(at)
    at.slider(key="learn2_b_row").set_value(0).run()    # an empty corner: still exact
    assert r"\text{autograd}| = 0" in latex(at)


def test_transposed_sizes_checkerboard_and_dilation(app):
    at = open_lesson(app, lesson("transposed").label)
    assert r"(3 - 1)\cdot2 - 2\cdot0 + 3 = 7" in latex(at)
    assert "**Uneven:**" in text(at)
    at.slider(key="learn2_t_k").set_value(4).run()
    assert "= 8" in latex(at) and "**Even:**" in text(at)
    at.slider(key="learn2_t_p").set_value(1).run()
    assert r"- 2\cdot1 + 4 = 6" in latex(at)
    at.slider(key="learn2_t_d").set_value(3).run()
    assert r"K' = K + (K-1)(D-1) = 3 + 2\cdot2 = 7" in latex(at)
    at.slider(key="learn2_t_k").set_value(1).run()     # P = 1 > K - 1 = 0
    assert at.error and "more than K − 1" in at.error[0].value
    at.slider(key="learn2_t_p").set_value(0).run()
    at.slider(key="learn2_t_k").set_value(3).run()


def test_rotation_lesson_trains_on_demand(app, monkeypatch):
    monkeypatch.setattr(invariance, "TRAIN_COUNT", 640)
    monkeypatch.setattr(invariance, "EPOCHS", 1)
    monkeypatch.setattr(invariance_numbers, "CURVE_DIGITS", 100)
    at = open_lesson(app, lesson("invariance").label)
    before = latex(at)
    at.slider(key="learn2_r_angle").set_value(90).run()
    assert latex(at) != before
    assert r"0.00 & 1.00" in latex(at)                 # cos 90 = 0, sin 90 = 1
    assert at.info and not any(t.startswith("Test accuracy") for t in chart_titles(at))
    next(b for b in at.button if b.label.startswith("Train both")).click().run()
    assert not at.exception, at.exception
    titles = chart_titles(at)
    assert "Test accuracy against the transformation" in titles
    assert r"\text{augmented}" in latex(at) and r"180^\circ" in latex(at)
    at.radio(key="learn2_r_kind").set_value("scale").run()
    strip = [t for t in chart_titles(at) if t.startswith("The augmented model")]
    assert strip and not at.exception


def test_dice_faces_and_sum_change_the_distribution(app):
    at = open_lesson(app, lesson("dice").label)
    assert r"\frac{6}{36} = \frac{1}{6}" in latex(at)
    assert "36 equally likely outcomes" in text(at)
    at.slider(key="learn2_d_z").set_value(3).run()
    assert r"P(Z=3)" in latex(at) and r"\frac{2}{36} = \frac{1}{18}" in latex(at)
    at.slider(key="learn2_d_dice").set_value(3).run()
    assert "216 equally likely outcomes" in text(at) and "bell curve" in text(at)
    at.slider(key="learn2_d_faces").set_value(4).run()
    assert "64 equally likely outcomes" in text(at)


def test_backward_build_button_opens_the_backward_network():
    at = AppTest.from_function(_page, default_timeout=TIMEOUT)
    at.run()
    at.segmented_control(key="learn_part").set_value(TRAINING_AND_LIMITS).run()
    open_lesson(at, lesson("backward").label)
    next(b for b in at.button if b.label == BUILD_LABEL).click().run()
    spec = at.session_state["spec"]
    assert spec.name == "Lesson 11: backward pass"
    assert [layer.TYPE for layer in spec.layers] == ["conv", "relu", "maxpool", "conv", "relu",
                                                     "avgpool"]
