"""The Build page through Streamlit's headless AppTest: every edit goes through the spec,
and the table shows what the model analysis measures."""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import torch
from streamlit.testing.v1 import AppTest

from playground.model import build as M
from playground import share
from playground import spec as S
from playground.figures.style import PRESENTATION
from playground.presets import load_preset

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60
PAGE = """
import streamlit as st
from playground.ui.build import page as build_page
st.set_page_config(layout="wide")
build_page.open_shared_lesson()
build_page.render()
"""


def open_page(query: dict | None = None) -> AppTest:
    at = AppTest.from_string(PAGE, default_timeout=TIMEOUT)
    at.query_params.update(query or {})
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def app() -> AppTest:
    return open_page()


def valid(at: AppTest) -> S.ModelSpec:
    return at.session_state["spec"]


def edited(at: AppTest) -> S.ModelSpec:
    """The network on screen: the invalid draft if there is one, else the valid spec."""
    if "build_draft" in at.session_state and at.session_state["build_draft"] is not None:
        base, draft = at.session_state["build_draft"]
        if base == valid(at):
            return draft
    return valid(at)


def table_rows(at: AppTest) -> list[list[str]]:
    """The architecture table's cells as text (the number a cell shows, not its formula)."""
    body = next(h.value for h in at.get("html") if "pg-table" in h.value
                and "<table" in h.value)
    rows = []
    for row in re.findall(r"<tr(?! class='fx')[^>]*>(.*?)</tr>", body, re.S):
        cells = []
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S):
            summary = re.search(r"<summary>(.*?)</summary>", cell, re.S)
            cells.append(re.sub(r"<[^>]+>", "", summary.group(1) if summary else cell))
        if cells:
            rows.append(cells)
    return rows


def table_html(at: AppTest) -> str:
    return next(h.value for h in at.get("html") if "<table" in h.value)


def assert_table_matches_analysis(at: AppTest) -> None:
    analysis = M.analyze(valid(at))
    rows = table_rows(at)[1:]  # after the input row
    assert len(rows) == len(analysis.layers)
    for cells, info in zip(rows, analysis.layers):
        assert cells[0] == str(info.index)
        assert cells[2] == "[" + ", ".join(map(str, info.output_shape)) + "]"
        assert cells[3] == f"{info.params:,}"
        assert cells[4] == ("-" if info.receptive_field is None else str(info.receptive_field))
        assert cells[5] == ("-" if info.jump is None else str(info.jump))
        assert cells[6] == f"{info.macs:,}"
    totals = next(h.value for h in at.get("html") if "pg-totals" in h.value
                  and "<div" in h.value)
    assert f"<summary>{analysis.total_params:,}</summary>" in totals
    assert f"<summary>{analysis.total_macs:,}</summary>" in totals


def test_page_shows_the_default_network_with_its_numbers(app):
    assert app.title[0].value == "Build a CNN"
    assert len(app.expander) == len(valid(app).layers) + 1  # layers + the settings panel
    assert_table_matches_analysis(app)
    assert len(app.get("plotly_chart")) == 1  # the diagram
    assert app.query_params[share.PARAM]  # the address bar is a share link


def test_add_configure_and_delete_layers(app):
    n = len(valid(app).layers)
    app.pills(key="palette").set_value("linear").run()
    assert edited(app).layers[-1] == S.Linear(out_features=64)
    assert app.pills(key="palette").value is None  # ready for the next click
    assert any("add a flatten before it" in e.value for e in app.error)
    app.selectbox(key=f"palette-position-{n + 1}").set_value(n).run()
    app.pills(key="palette").set_value("flatten").run()
    assert not app.error and valid(app).layers[-2:] == [S.Flatten(), S.Linear(out_features=64)]
    # insert at a chosen position, with the palette's default fields
    app.selectbox(key=f"palette-position-{n + 2}").set_value(0).run()
    app.pills(key="palette").set_value("conv").run()
    assert valid(app).layers[0] == S.Conv(out_channels=8, kernel_size=3, padding=1)
    app.number_input(key="layer-0-out_channels").set_value(6).run()
    app.number_input(key="layer-0-kernel_size").set_value(5).run()
    app.number_input(key="layer-0-padding").set_value(2).run()
    app.checkbox(key="layer-0-bias").uncheck().run()
    assert valid(app).layers[0] == S.Conv(out_channels=6, kernel_size=5, padding=2,
                                          bias=False)
    assert table_rows(app)[1][3] == "150"  # 6*1*5*5, no bias
    assert_table_matches_analysis(app)
    button = next(b for b in app.button if b.key == "copy-0")
    button.click().run()
    assert valid(app).layers[0] == valid(app).layers[1]
    next(b for b in app.button if b.key == "delete-1").click().run()
    next(b for b in app.button if b.key == "delete-0").click().run()
    assert len(valid(app).layers) == n + 2
    assert_table_matches_analysis(app)


def test_every_layer_type_can_be_added(app):
    for layer_type in S.LAYER_TYPES:
        app.pills(key="palette").set_value(layer_type).run()
        assert not app.exception
        assert edited(app).layers[-1].TYPE == layer_type
    assert len(edited(app).layers) == 6 + len(S.LAYER_TYPES)


def test_reorder_by_the_drag_components_state_and_by_buttons(app):
    before = valid(app).layers
    version = app.session_state["build_version"]
    from playground.ui.build.layer_labels import layer_summary

    chips = [f"{i}: {layer_summary(layer)}" for i, layer in enumerate(before)]
    dragged = [chips[2], chips[0], chips[1], *chips[3:]]  # max pool dragged to the front
    # what streamlit-sortables sends back when a layer is dropped elsewhere
    app.session_state[f"order-{version}"] = [{"header": None, "items": dragged}]
    app.run()
    assert not app.exception
    assert valid(app).layers == [before[2], before[0], before[1], *before[3:]]
    assert table_rows(app)[1][2] == "[1, 14, 14]"  # the pool now halves the input first
    assert_table_matches_analysis(app)
    next(b for b in app.button if b.key == "down-0").click().run()
    assert valid(app).layers[:3] == [before[0], before[2], before[1]]
    next(b for b in app.button if b.key == "up-1").click().run()
    assert valid(app).layers[:3] == [before[2], before[0], before[1]]
    assert next(b for b in app.button if b.key == "up-0").disabled


def test_undo_and_redo(app):
    original = valid(app)
    app.pills(key="palette").set_value("dropout").run()
    app.number_input(key="layer-6-p").set_value(0.25).run()
    assert valid(app).layers[-1] == S.Dropout(p=0.25)
    next(b for b in app.button if b.key == "undo").click().run()
    assert valid(app).layers[-1] == S.Dropout(p=0.5)
    assert app.number_input(key="layer-6-p").value == 0.5  # the widget follows the spec
    next(b for b in app.button if b.key == "undo").click().run()
    assert valid(app) == original
    assert next(b for b in app.button if b.key == "undo").disabled
    next(b for b in app.button if b.key == "redo").click().run()
    next(b for b in app.button if b.key == "redo").click().run()
    assert valid(app).layers[-1] == S.Dropout(p=0.25)


def test_an_impossible_layer_is_marked_and_the_last_valid_network_stays(app):
    good = valid(app)
    app.number_input(key="layer-3-dilation").set_value(8).run()
    assert not app.exception
    assert valid(app) == good  # what the Train page trains
    assert edited(app).layers[3].dilation == 8
    # the page names fields by their labels ("Kernel size"), not the spec's field names
    reason = "dilated kernel 17 (Kernel size 3, Dilation 8) is larger than the padded input 16x16"
    assert any(reason in e.value and "Layer 3" in e.value for e in app.error)
    assert any(reason in e.label and ":red[" in e.label for e in app.expander)
    assert "class='bad'" in table_html(app) and reason in table_html(app)
    rows = table_rows(app)
    assert rows[1 + 3][2] == "cannot work" and rows[-1][2] == "not computed"
    # further edits build on the draft; fixing it makes it the network again
    app.number_input(key="layer-3-padding").set_value(2).run()  # 14 + 2*2 >= 17 fits
    assert not app.error
    assert valid(app).layers[3].dilation == 8 and valid(app).layers[3].padding == 2
    assert_table_matches_analysis(app)


def test_stride_three_collapse_and_too_many_parameters_are_explained(app):
    app.number_input(key="layer-2-kernel_size").set_value(3).run()  # pool 3, stride 3
    app.number_input(key="layer-3-stride").set_value(3).run()
    app.number_input(key="layer-5-kernel_size").set_value(5).run()
    assert any("Layer 5" in e.value and "larger than the padded input" in e.value
               for e in app.error)
    for _ in range(3):
        next(b for b in app.button if b.key == "undo").click().run()
    assert not app.error and valid(app) == load_preset("mnist_fast")
    app.pills(key="palette").set_value("flatten").run()
    app.pills(key="palette").set_value("linear").run()
    app.number_input(key="layer-7-out_features").set_value(4096).run()
    app.number_input(key="layer-3-out_channels").set_value(512).run()  # 512*7*7 flattened
    assert not app.exception
    assert any("over the limit of 20,000,000" in e.value for e in app.error), \
        [e.value for e in app.error]
    # a parse-level rule (a pool's padding over half its kernel) shows in place too
    next(b for b in app.button if b.key == "undo").click().run()
    app.number_input(key="layer-2-padding").set_value(2).run()
    assert any("Padding 2 is over half the Kernel size" in e.value for e in app.error)


def test_a_head_that_is_too_big_is_explained(app):
    next(b for b in app.button if b.key == "delete-5").click().run()
    next(b for b in app.button if b.key == "delete-2").click().run()
    # At the preset's batch of 128, 256x256 maps would need over 1 GB of activations.
    app.number_input(key="lesson-batch_size").set_value(16).run()
    app.number_input(key="net-H").set_value(256).run()
    app.number_input(key="net-W").set_value(256).run()
    assert not app.error
    app.number_input(key="layer-2-out_channels").set_value(512).run()
    assert not app.exception
    assert any("automatic classifier head (layer 5, linear)" in e.value
               and "over the limit of 20,000,000" in e.value for e in app.error)
    rows = table_rows(app)
    assert rows[-2][1] == "linear (auto)" and rows[-2][2] == "cannot work"
    assert rows[-3][1] == "flatten (auto)" and rows[-3][2] == f"[{512 * 256 * 256}]"
    assert valid(app).input == (1, 256, 256) and valid(app).layers[2].out_channels == 16


def test_loading_a_preset(app):
    app.selectbox(key="build_preset").select("lenet5").run()
    assert valid(app) == load_preset("lenet5")
    assert app.selectbox(key="build_preset").value is None
    assert_table_matches_analysis(app)
    body = table_html(app)
    assert "floor((28 + 2*2 - 5)/1) + 1 = 28" in body
    assert "6*1*5*5 + 6 = 156" in body and "784 x 4,704 = 3,687,936" in body
    assert "5 + (2-1)*1 = 6" in body
    app.selectbox(key="build_preset").select("resnet_cifar10").run()
    assert_table_matches_analysis(app)
    assert "(auto)" in table_html(app)
    next(b for b in app.button if b.key == "undo").click().run()
    assert valid(app) == load_preset("lenet5")


def test_a_share_link_opens_the_whole_lesson():
    lesson = load_preset("lenet5").replace(training=S.TrainingSpec(
        dataset="fashion-mnist", optimizer="sgd", lr=0.05, batch_size=32, epochs=4, seed=9,
        hidden_panels=["Diagnostics"]))
    at = open_page({share.PARAM: share.encode(lesson)})
    assert valid(at) == lesson
    assert any("Opened the shared lesson" in s.value for s in at.success)
    assert at.selectbox(key="lesson-dataset").value == "fashion-mnist"
    assert at.number_input(key="lesson-batch_size").value == 32
    assert at.multiselect(key="lesson-hidden_panels").value == ["Diagnostics"]
    assert share.decode(at.query_params[share.PARAM]) == lesson
    at.run()  # the same link does not reopen (or stack undo entries) on every rerun
    assert len(at.session_state["build_undo"]) == 1


def test_a_broken_share_link_says_so_and_keeps_the_network():
    at = open_page({share.PARAM: "eJyrVkrOz0nVUbJSSs7PS8nMS1eqBQA"})  # cut short
    assert any("could not be opened" in e.value for e in at.error)
    assert valid(at).name == "MNIST fast"


def test_lesson_settings_and_adapting_to_the_dataset(app):
    app.selectbox(key="lesson-dataset").select("cifar10").run()
    assert valid(app).training.dataset == "cifar10"
    assert any("trains on **cifar10**" in w.value for w in app.warning)
    next(b for b in app.button if b.key == "adapt").click().run()
    assert valid(app).input == (3, 32, 32) and valid(app).num_classes == 10
    assert not app.warning
    app.number_input(key="lesson-lr").set_value(0.05).run()
    app.toggle(key="lesson-augment").set_value(True).run()
    app.text_input(key="net-name").input("My net").run()
    assert valid(app).training.lr == 0.05 and valid(app).training.augment
    assert valid(app).name == "My net"


def test_uploading_a_lesson_file(app):
    lesson = load_preset("tinyvgg_cifar10")
    upload = app.file_uploader[0]
    upload.set_value(("vgg.json", share.to_file_bytes(lesson), "application/json")).run()
    assert not app.exception
    assert valid(app) == lesson
    assert any("Opened **TinyVGG (CIFAR-10)**" in s.value for s in app.success)
    app.file_uploader[0].set_value(("bad.json", b'{"version": 1, "name": 3}',
                                    "application/json")).run()
    assert any("bad.json** was not opened" in e.value and "name must be a string" in e.value
               for e in app.error)
    assert valid(app) == lesson


def test_exports_and_weights():
    at = open_page()
    labels = [b.label for b in at.get("download_button")]
    assert "Download lesson (.json)" in labels and "Download PyTorch code (.py)" in labels
    assert "Download trained weights (.pt)" not in labels  # no run yet
    from playground import checkpoint

    network = M.build_model(load_preset("lenet5"))

    import io

    # what the download button writes: the run's latest state_dict as a .pt file
    state = torch.load(io.BytesIO(checkpoint.to_bytes(network.state_dict())), weights_only=True)
    assert set(state) == set(network.state_dict())
    # the exported .py rebuilds a network that takes exactly these weights
    namespace: dict = {}
    exec(M.export_python(load_preset("lenet5")), namespace)
    namespace["build_network"]().load_state_dict(state)


def test_app_has_the_four_pages():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    pages = {info["page_name"]: info["url_pathname"] for info in at._registered_pages.values()}
    assert pages == {"Build": "build", "Train": "", "Inspect": "inspect", "Learn": "learn"}


def test_an_empty_network_is_just_the_head(app):
    for _ in range(len(valid(app).layers)):
        next(b for b in app.button if b.key == "delete-0").click().run()
    assert valid(app).layers == []
    assert any("No layers yet" in i.value for i in app.info)
    assert [row[1] for row in table_rows(app)[1:]] == ["flatten (auto)", "linear (auto)"]


def test_a_network_set_by_another_page_can_be_undone_here():
    """The Learn and Train pages replace the network through session.set_spec."""
    script = PAGE.replace("build_page.render()", """from playground.ui import session
from playground.presets import load_preset
if not st.session_state.get("replaced"):
    st.session_state["replaced"] = True
    session.current_spec()
    session.set_spec(load_preset("lenet5"))
build_page.render()""")
    at = AppTest.from_string(script, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    assert valid(at).name == "LeNet-5"
    undo_button = next(b for b in at.button if b.label == "Undo")
    assert not undo_button.disabled
    undo_button.click().run()
    assert valid(at).name == "MNIST fast"


def _icon_literals(path: Path) -> list[tuple[int, str]]:
    """Every string given as an `icon=` or `page_icon=` argument in a file, with its line."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.keyword) and node.arg in ("icon", "page_icon"):
            found += [(c.lineno, c.value) for c in ast.walk(node.value)
                      if isinstance(c, ast.Constant) and isinstance(c.value, str)]
    return found


def test_page_and_button_icons_ship_with_the_app():
    """Emoji draw as empty boxes without an emoji font (headless Chromium, many lecture-hall
    PCs); Streamlit's material icons come with its own font."""
    from playground.ui import pages

    assert all(page.icon.startswith(":material/") for page in pages.PAGES)
    files = [ROOT / "app.py", *sorted((ROOT / "playground" / "ui").rglob("*.py"))]
    emoji = [(path.name, line, icon) for path in files for line, icon in _icon_literals(path)
             if not icon.isascii()]
    assert emoji == []


def layer_panel(at: AppTest, index: int):
    return next(e for e in at.expander if re.match(rf"(:red\[)?\*\*{index}\b", e.label))


def test_the_panel_being_edited_stays_open(app):
    """Its title changes with every edit (a new expander to Streamlit), yet a lecturer
    changing K, S, P and D live must not have to reopen it each time."""
    assert not layer_panel(app, 3).proto.expanded
    for name, value in (("kernel_size", 5), ("stride", 2), ("padding", 2), ("dilation", 2)):
        app.number_input(key=f"layer-3-{name}").set_value(value).run()
        assert getattr(edited(app).layers[3], name) == value
        assert layer_panel(app, 3).proto.expanded, name
    assert not layer_panel(app, 0).proto.expanded  # the others stay as they were


def test_a_layer_type_dropped_from_the_palette_is_added_in_place(app):
    from playground.ui.build import editor
    from playground.ui.build.layer_labels import layer_summary

    before = valid(app).layers
    chips = [f"{i}: {layer_summary(layer)}" for i, layer in enumerate(before)]
    palette = list(editor.PALETTE_ITEMS)
    version = app.session_state["build_version"]
    # what streamlit-sortables sends back when "+ conv" is dropped before layer 2
    app.session_state[f"order-{version}"] = [
        {"header": editor.NETWORK_HEADER, "items": [*chips[:2], "+ conv", *chips[2:]]},
        {"header": editor.PALETTE_HEADER, "items": [p for p in palette if p != "+ conv"]}]
    app.run()
    assert not app.exception
    assert valid(app).layers == [*before[:2], S.Conv(out_channels=8, kernel_size=3, padding=1),
                                 *before[2:]]
    assert table_rows(app)[1 + 2][1] == "conv 8 · 3x3 · pad 1"
    # a layer dropped on the palette changes nothing: the strip is drawn afresh
    version = app.session_state["build_version"]
    chips = [f"{i}: {layer_summary(layer)}" for i, layer in enumerate(valid(app).layers)]
    app.session_state[f"order-{version}"] = [
        {"header": editor.NETWORK_HEADER, "items": chips[1:]},
        {"header": editor.PALETTE_HEADER, "items": [chips[0], *palette]}]
    app.run()
    assert not app.exception and len(valid(app).layers) == len(before) + 1
    assert app.session_state["build_version"] == version + 1


def test_the_bad_layers_panel_says_what_is_wrong_with_the_labels_it_shows(app):
    app.number_input(key="layer-3-dilation").set_value(8).run()
    panel = layer_panel(app, 3)
    assert [e.value for e in panel.error] == [
        "dilated kernel 17 (Kernel size 3, Dilation 8) is larger than the padded input 16x16"]
    assert {"Kernel size", "Dilation"} <= {n.label for n in panel.number_input}


def _share_link(at: AppTest) -> str:
    return next(c.value for c in at.code if "lesson=" in c.value)


def test_presenting_draws_the_diagram_large_and_keeps_it_in_the_share_link():
    at = open_page({"present": "1"})
    diagram_layout = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]
    assert diagram_layout["font"]["size"] == PRESENTATION.font_size
    assert parse_qs(urlsplit(_share_link(at)).query)["present"] == ["1"]


def test_a_share_link_made_without_presenting_opens_without_it(app):
    assert "present" not in parse_qs(urlsplit(_share_link(app)).query)


def test_train_has_its_own_address_and_the_root_opens_it():
    """Streamlit ignores a default page's url_path: /train was "Page not found"."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    by_address = {info["url_pathname"]: info["page_name"]
                  for info in at._registered_pages.values()}
    assert by_address == {"build": "Build", "train": "Train", "inspect": "Inspect",
                          "learn": "Learn", "": "Train"}
    assert [t.value for t in at.title] == ["Train a CNN, live"]


def test_the_presentation_switch_puts_present_in_the_address_and_takes_it_out():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    switch = at.toggle(key="present_toggle")
    assert switch.label == "Presentation mode" and not switch.value
    assert not any(m.value.startswith("<style>") for m in at.markdown)
    switch.set_value(True).run()
    assert at.query_params["present"] in ("1", ["1"]) and at.toggle(key="present_toggle").value
    css = "\n".join(m.value for m in at.markdown if m.value.startswith("<style>"))
    assert "stMetricValue" in css
    at.toggle(key="present_toggle").set_value(False).run()
    assert "present" not in at.query_params
