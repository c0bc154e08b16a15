"""The Inspect page's panels on what the network sees (favourite images, attributions,
adversarial noise, feature space) through AppTest on a paused run with synthetic data,
on the latest weights and on the time machine's first snapshot."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from playground.figures.style import PRESENTATION
from playground.ui.panels import INSPECT_PANELS
from tests.pages.test_inspect_page import (TIMEOUT, _chart_fonts, _page, page_for,
                                           paused_run, synthetic_datasets)  # noqa: F401
from tests.support import chart_titles

NEW_PANELS = ("Favourite images", "Attributions", "Adversarial noise", "Feature space")


@pytest.fixture(scope="module")
def mnist_fast_run():
    run = paused_run("mnist_fast", (1, 28, 28))
    yield run
    run.executor.free(run.run_id)


def test_the_new_panels_are_in_the_list_a_lesson_can_hide():
    assert set(NEW_PANELS) <= set(INSPECT_PANELS)


def _open(at: AppTest, panel: str) -> list[str]:
    at.radio(key="insp_panel").set_value(panel).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return chart_titles(at)


def test_favourite_images_of_each_conv_and_the_classes(mnist_fast_run):
    at = page_for(mnist_fast_run)
    titles = _open(at, "Favourite images")
    assert any(t.startswith("Layer 0 conv (3x3, 1→8): favourite images at step 3")
               for t in titles)
    assert any(t.startswith("The strongest favourites in frequency") for t in titles)
    assert any("Mean activation from" in c.value for c in at.caption)
    at.selectbox(key="insp_fav_target").set_value("classes").run()
    assert not at.exception
    assert any(t.startswith("Output classes: favourite images") for t in chart_titles(at))
    # the time machine's first snapshot gets its own ascent
    at.select_slider(key="insp_pos").set_value(0).run()
    assert any("favourite images at step 0" in t for t in chart_titles(at))


def test_attributions_beside_grad_cam_with_the_completeness_check(mnist_fast_run):
    at = page_for(mnist_fast_run)
    titles = _open(at, "Attributions")
    for title in ("Saliency", "Integrated gradients", "Occlusion 6x6", "Grad-CAM (layer 5)"):
        assert title in titles, titles
    assert any("they sum to" in c.value and "NOT" not in c.value for c in at.caption)
    at.slider(key="insp_attr_patch").set_value(4).run()
    at.slider(key="insp_attr_stride").set_value(4).run()
    at.slider(key="insp_attr_patch").set_value(2).run()   # narrower than the stride was
    assert not at.exception
    assert "Occlusion 2x2" in chart_titles(at)
    at.selectbox(key="insp_attr_class").set_value(3).run()
    assert any("Explaining “c3”" in m.value for m in at.markdown)


def test_adversarial_noise_and_the_accuracy_curve(mnist_fast_run):
    at = page_for(mnist_fast_run)
    titles = _open(at, "Adversarial noise")
    assert any(t.startswith("FGSM, ε = 0.050") for t in titles)
    assert any(t.startswith("The noise lives at high frequencies") for t in titles)
    at.slider(key="insp_adv_epsilon").set_value(0.0).run()
    assert any("→ unchanged" in t for t in chart_titles(at))
    at.radio(key="insp_adv_method").set_value("PGD").run()
    next(b for b in at.button if b.label.startswith("Measure accuracy")).click().run()
    assert not at.exception
    assert any(t.startswith("PGD accuracy against ε at step 3") for t in chart_titles(at))


def test_feature_space_and_a_clicked_point(mnist_fast_run):
    at = page_for(mnist_fast_run)
    titles = _open(at, "Feature space")
    assert any(t.startswith("Feature space at step 3: class separation") for t in titles)
    at.session_state["insp_fs_selected"] = 5   # what a click on test image 5 stores
    at.run()
    assert any(t.startswith("Test image 5:") for t in chart_titles(at))
    at.select_slider(key="insp_pos").set_value(0).run()
    assert any(t.startswith("Feature space at step 0") for t in chart_titles(at))


def test_the_new_panels_present_in_the_presentation_style(mnist_fast_run):
    at = AppTest.from_function(_page, default_timeout=TIMEOUT)
    at.session_state["run_id"] = mnist_fast_run.run_id
    at.session_state["run_owner"] = mnist_fast_run.owner
    at.query_params["present"] = "1"
    at.run()
    for panel in NEW_PANELS:
        _open(at, panel)
        assert _chart_fonts(at) == {PRESENTATION.font_size}, panel


def _learn_page() -> None:
    from playground.ui.learn import page

    page.render()


def test_a_lesson_link_opens_its_lesson_on_the_learn_page():
    at = AppTest.from_function(_learn_page, default_timeout=TIMEOUT)
    at.query_params["lesson"] = "receptive_fields"
    at.run()
    assert not at.exception, at.exception
    assert at.radio(key="learn_lesson").value == "8 · Receptive fields"
    assert "lesson" not in at.query_params


@pytest.fixture(scope="module")
def cifar_run():
    run = paused_run("resnet_cifar10", (3, 32, 32), steps=1)
    yield run
    run.executor.free(run.run_id)


def test_the_new_panels_on_colour_images_and_residual_blocks(cifar_run):
    at = page_for(cifar_run)
    titles = _open(at, "Favourite images")
    assert any(t.startswith("Layer 0 conv (3x3, 3→16): favourite images") for t in titles)
    at.selectbox(key="insp_fav_target").set_value("3.body.0").run()
    assert not at.exception
    assert any("residual · conv1" in t and "favourite images" in t for t in chart_titles(at))
    for panel in NEW_PANELS[1:]:
        _open(at, panel)
