"""The Learn page through AppTest: every lesson renders, and its key widget changes it."""
from __future__ import annotations


import json
import math
import re

import pytest
from streamlit.testing.v1 import AppTest

from playground import spec as S
from playground.figures.style import DEFAULT, PRESENTATION
from playground.lessons import LESSONS
from playground.ui.learn.page import PARTS
from playground.ui.learn.widgets import BUILD_LABEL
from tests.support import chart_titles

LABELS = tuple(lesson.label for lesson in LESSONS)   # the menu, in order
TIMEOUT = 180   # the deep-stack experiment trains two networks (seconds; more under load)


def _page() -> None:
    from playground.ui.learn import page as learn_page

    learn_page.render()


def latex(at: AppTest) -> str:
    return "\n".join(element.body for element in at.latex)


def text(at: AppTest) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption])


@pytest.fixture(scope="module")
def app() -> AppTest:
    at = AppTest.from_function(_page, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def open_lesson(at: AppTest, number: int) -> AppTest:
    title = LABELS[number - 1]
    part, key = next((name, key) for name, (lessons, key) in PARTS.items() if title in lessons)
    at.segmented_control(key="learn_part").set_value(part).run()
    at.radio(key=key).set_value(title).run()
    assert not at.exception, at.exception
    assert at.header[0].value
    return at


# The second part's lessons: tests/pages/test_learn_training_and_limits_page.py
@pytest.mark.parametrize("number", range(1, len(next(iter(PARTS.values()))[0]) + 1))
def test_every_lesson_renders_with_charts_formulas_and_build_button(app, number):
    at = open_lesson(app, number)
    assert at.get("plotly_chart"), LABELS[number - 1]
    assert at.latex, LABELS[number - 1]
    assert any(b.label == BUILD_LABEL for b in at.button)


def test_lesson1_stride_changes_output_size_and_step_moves(app):
    at = open_lesson(app, 1)
    assert "= 5" in latex(at)          # 7x7 input, 3x3 kernel, narrow
    assert "narrow" in text(at)
    at.slider(key="learn_c_padding").set_value(1).run()
    assert "= 7" in latex(at) and "same" in text(at)
    at.slider(key="learn_c_stride").set_value(2).run()
    assert r"{2} \right\rfloor + 1 = 4" in latex(at)
    at.slider(key="learn_c_step_4x4").set_value(6).run()
    assert any(t.startswith("Step 6 of 16: output pixel (1, 1)") for t in chart_titles(at))
    assert "y_{1,1}" in latex(at)
    at.slider(key="learn_c_padding").set_value(2).run()
    assert "wide" in text(at)
    for key, value in (("learn_c_padding", 0), ("learn_c_stride", 1)):
        at.slider(key=key).set_value(value).run()


def test_lesson1_impossible_window_says_so(app):
    at = open_lesson(app, 1)
    at.slider(key="learn_c_size").set_value(5).run()
    at.slider(key="learn_c_dilation").set_value(3).run()
    assert at.error and "No output" in at.error[0].value
    at.slider(key="learn_c_dilation").set_value(1).run()
    at.slider(key="learn_c_size").set_value(7).run()


def test_lesson2_symmetric_kernel_agrees(app):
    at = open_lesson(app, 2)
    assert "differ" in text(at)
    at.selectbox(key="learn_x_preset").set_value("Gaussian").run()
    assert "same output" in text(at) and "**0.0000**" in text(at)


def test_lesson3_weights_and_parameter_count(app):
    at = open_lesson(app, 3)
    assert "= 448" in latex(at)
    before = latex(at)
    at.slider(key="learn_m_bias").set_value(0.5).run()
    assert latex(at) != before
    at.number_input(key="learn_m_in").set_value(64).run()
    assert "9{,}232" in latex(at)


def test_lesson4_counts_8x8_example(app):
    at = open_lesson(app, 4)
    values = {m.label: m.value for m in at.metric}
    assert values["conv parameters"] == "9"
    assert values["fully-connected parameters"] == "4,096"
    at.number_input(key="learn_s_out").set_value(2).run()
    values = {m.label: m.value for m in at.metric}
    assert values["conv parameters"] == "18"
    assert values["fully-connected parameters"] == "8,192"


def test_lesson5_sigma_moves_cutoff(app):
    at = open_lesson(app, 5)
    first = next(m.value for m in at.metric if "cutoff" in m.label)
    at.slider(key="learn_f_sigma").set_value(3.0).run()
    second = next(m.value for m in at.metric if "cutoff" in m.label)
    assert float(second.split()[0]) < float(first.split()[0])
    at.radio(key="learn_f_kind").set_value("high-pass").run()
    assert any(t.startswith("high-pass") for t in chart_titles(at))


def test_lesson5_half_power_cutoff_matches_its_formula(app):
    at = open_lesson(app, 5)
    at.slider(key="learn_f_sigma").set_value(1.5).run()
    shown = latex(at)
    assert r"|H| = \tfrac{1}{\sqrt{2}}" in shown and "half power" in shown
    assert r"\frac{\sqrt{\ln 2}}{2\pi\sigma}" in shown
    closed_form = math.sqrt(math.log(2)) / (2 * math.pi * 1.5)
    assert f"= {closed_form:.3f}" in shown
    measured = next(m.value for m in at.metric if "half-power cutoff" in m.label)
    assert float(measured.split()[0]) == pytest.approx(closed_form, abs=0.002)


def _lesson_index(at: AppTest) -> int:
    """Where in the page the block holding the lesson (its header) sits."""
    return next(index for index, node in at.main.children.items()
                if node.type == "flex_container" and node.get("header"))


def test_switching_lessons_clears_the_old_lesson_at_once(app):
    """The browser keeps a replaced container's elements (greyed out until the run ends)
    when the new container takes the old one's place: the new lesson must land elsewhere
    and the old place must hold an empty element, which drops the old lesson at once."""
    at = open_lesson(app, 1)
    first = _lesson_index(at)
    at = open_lesson(app, 2)
    second = _lesson_index(at)
    assert second != first
    assert at.main.children[first].type == "empty"
    at = open_lesson(app, 1)
    assert _lesson_index(at) == first


def _chart_fonts(at: AppTest) -> list[int]:
    return [json.loads(chart.proto.spec)["layout"]["font"]["size"]
            for chart in at.get("plotly_chart")]


def _page_css(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown if m.value.startswith("<style>"))


def test_presentation_mode_comes_from_the_address():
    at = AppTest.from_function(_page, default_timeout=TIMEOUT)
    at.query_params["present"] = "1"
    at.run()
    assert not at.exception, at.exception
    assert _chart_fonts(at) and set(_chart_fonts(at)) == {PRESENTATION.font_size}
    css = _page_css(at)
    assert ".katex" in css and "stMetricValue" in css
    assert min(int(px) for px in re.findall(r"font-size: (\d+)px", css)) >= 20


def test_without_present_the_page_keeps_its_everyday_look(app):
    at = open_lesson(app, 1)
    assert set(_chart_fonts(at)) == {DEFAULT.font_size}
    assert not _page_css(at)


def test_lesson6_activation_changes_map(app):
    at = open_lesson(app, 6)
    assert "after ReLU: 0" in text(at)
    at.radio(key="learn_a_name").set_value("tanh").run()
    assert "after tanh: 0" not in text(at)
    assert "tanh" in latex(at)


def test_lesson7_shift_changes_measurement(app):
    at = open_lesson(app, 7)
    before = latex(at)
    at.slider(key="learn_p_shift").set_value(0).run()
    assert r"\text{no pool } 0.00" in latex(at) and latex(at) != before


def test_lesson8_vgg_and_dilation(app):
    at = open_lesson(app, 8)
    assert "= 7" in latex(at) and "backprop: } 7" in latex(at)
    at.radio(key="learn_r_d").set_value("doubling (1, 2, 4, ...)").run()
    assert "= 15" in latex(at) and "backprop: } 15" in latex(at)
    at.radio(key="learn_r_d").set_value("1").run()


def test_lesson9_tabs(app):
    at = open_lesson(app, 9)
    assert r"2C = 6" in latex(at)
    at.slider(key="learn_b_p").set_value(0.0).run()
    assert r"\text{kept} = 1.00" in latex(at)
    at.radio(key="learn_b_stride").set_value(2).run()
    assert "projection" in text(at)
    # the plain vs residual experiment, shared with the "Going deeper" lesson
    assert any("plain vs residual" in t for t in chart_titles(at))
    assert at.select_slider(key="learn_b_depth").value == 15


def test_build_button_sets_the_session_spec():
    at = AppTest.from_function(_page, default_timeout=TIMEOUT)
    at.run()
    at.slider(key="learn_c_stride").set_value(2).run()
    next(b for b in at.button if b.label == BUILD_LABEL).click().run()
    spec = at.session_state["spec"]
    assert spec.name == "Lesson 1: one conv layer"
    assert spec.layers[0].stride == 2


def test_lesson7_trains_models_on_demand(app):
    at = open_lesson(app, 7)
    at.radio(key="learn_p_pool").set_value(2).run()
    next(b for b in at.button if b.label.startswith("Train both")).click().run()
    assert not at.exception, at.exception
    assert any(t.startswith("Trained models") for t in chart_titles(at))
    assert r"same prediction after a 2-pixel shift" in latex(at)
    assert r"classifier input change after 2 pixels" in latex(at)


def test_lesson4_formulas_follow_the_widgets(app):
    at = open_lesson(app, 4)
    assert r"= 4{,}096" in latex(at) and r"1\cdot1\cdot3^2 = 9" in latex(at)
    at.toggle(key="learn_s_bias").set_value(True).run()
    assert r"+ 1 = 10" in latex(at)
    at.toggle(key="learn_s_bias").set_value(False).run()


def deeper_lesson(at: AppTest) -> AppTest:
    number = next(i for i, name in enumerate(LABELS, 1) if "Going deeper" in name)
    return open_lesson(at, number)


def test_going_deeper_experiment_bottleneck_and_stages(app):
    at = deeper_lesson(app)
    assert any("plain vs residual" in t for t in chart_titles(at))
    metrics = {m.label: m.value for m in at.metric}
    ratio = float(metrics["first-layer gradient, residual / plain"].rstrip("x"))
    assert ratio > 1e3                                    # vanishing gradients, measured
    assert r"\text{residual }" in latex(at)
    # a shallower pair: the gap closes
    at.select_slider(key="learn_d_depth").set_value(3).run(timeout=120)
    assert any(t.startswith("3 conv layers") for t in chart_titles(at))
    shallow = float({m.label: m.value for m in at.metric}[
        "first-layer gradient, residual / plain"].rstrip("x"))
    assert shallow < ratio
    # bottleneck: numbers from the real block, and they follow the widgets
    assert "= 70{,}400" in latex(at) and "= 1{,}180{,}672" in latex(at)
    at.select_slider(key="learn_d_width").set_value(32).run()
    assert "= 70{,}400" not in latex(at)
    # stages: each extra stage halves the resolution again
    table = at.dataframe[0].value
    assert list(table["shortcut"]).count("identity") == 4      # 3 stages x 2 blocks
    assert [s.startswith("projection") for s in table["shortcut"]] == [False, False, True,
                                                                       False, True, False]
    at.slider(key="learn_d_stages").set_value(2).run()
    assert at.dataframe[0].value["output"].iloc[-1] == "32x16x16"
    at.toggle(key="learn_d_bottleneck").set_value(True).run()
    assert at.dataframe[0].value["shortcut"].iloc[0].startswith("projection")
    for key, value in (("learn_d_stages", 3), ("learn_d_width", 64)):
        (at.slider if key.endswith("stages") else at.select_slider)(key=key).set_value(value)
    at.toggle(key="learn_d_bottleneck").set_value(False)
    at.select_slider(key="learn_d_depth").set_value(15).run(timeout=120)


def test_going_deeper_opens_the_stacks_on_the_train_page():
    at = AppTest.from_function(_page, default_timeout=180)
    at.run()
    deeper_lesson(at)
    at.select_slider(key="learn_d_depth").set_value(3).run()
    next(b for b in at.button if b.label.startswith("Train the residual")).click().run()
    spec = at.session_state["spec"]
    assert spec.name == "Residual stack, 3 convs"
    assert sum(isinstance(layer, S.Residual) for layer in spec.layers) == 1
    assert spec.training.optimizer == "sgd"


def test_lesson1_play_button_moves_the_kernel_and_pauses():
    at = AppTest.from_function(_page, default_timeout=TIMEOUT)
    at.run()
    assert any(t.startswith("Step 1 of 25") for t in chart_titles(at))
    at.button(key="learn_c_play").click().run()
    assert at.button(key="learn_c_play").label == "Pause"
    assert any(t.startswith("Step 2 of 25") for t in chart_titles(at))
    at.run()   # what the fragment's timer does: one more position
    assert any(t.startswith("Step 3 of 25") for t in chart_titles(at))
    assert "y_{0,2}" in latex(at)
    at.button(key="learn_c_play").click().run()
    assert at.button(key="learn_c_play").label == "Play"
    at.run()
    assert any(t.startswith("Step 3 of 25") for t in chart_titles(at))
    # the slider still steps by hand, and playing stops at the last position
    at.slider(key="learn_c_step_5x5").set_value(24).run()
    at.button(key="learn_c_play").click().run()
    assert any(t.startswith("Step 25 of 25") for t in chart_titles(at))
    at.run()
    assert at.button(key="learn_c_play").label == "Play"
    assert any(t.startswith("Step 25 of 25") for t in chart_titles(at))


def test_every_registered_lesson_has_a_renderer():
    from playground.ui.learn.page import RENDERERS

    assert set(RENDERERS) == {lesson.slug for lesson in LESSONS}
