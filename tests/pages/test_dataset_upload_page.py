"""Your own images and your own weights, through AppTest: a dataset uploaded on the Train
page trains; each malformed archive is refused with its line while the session keeps
working; weights loaded from a file become a ready run that Inspect shows."""
from __future__ import annotations

import io
import time
import zipfile

import pytest
import torch
from streamlit.testing.v1 import AppTest

from playground import checkpoint
from playground.data import shared
from playground.model import build as M
from playground.presets import load_preset
from playground.ui import runs
from tests.support.shapes_archive import shapes_files, zip_bytes

TIMEOUT = 120
SUFFIX = "MNIST fast"


def train_page_script():
    import streamlit as st

    from playground.ui import train_page

    st.set_page_config(layout="wide")
    train_page.render()


def inspect_page_script():
    import streamlit as st

    from playground.ui import inspect_page

    st.set_page_config(layout="wide")
    inspect_page.render()


@pytest.fixture
def fresh_uploads(tmp_path, monkeypatch):
    """A private decode cache and an empty store of uploads."""
    monkeypatch.setenv("PLAYGROUND_CACHE", str(tmp_path))
    monkeypatch.setattr(shared, "_uploads", None)
    made: list[AppTest] = []
    yield made
    for at in made:
        run_id = at.session_state["run_id"] if "run_id" in at.session_state else None
        if run_id:
            runs.executor().free(run_id)


def texts(at: AppTest, kind: str) -> str:
    """The elements' text as read (Markdown's escapes and bold marks taken out)."""
    shown = " ".join(element.value for element in getattr(at, kind))
    return shown.replace("\\", "").replace("**", "")


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def upload_zip(at: AppTest, name: str, data: bytes) -> None:
    key = next(u.key for u in at.file_uploader if u.key.startswith("dataset-zip"))
    at.file_uploader(key=key).set_value((name, data, "application/zip")).run()
    assert not at.exception, at.exception


def rerun_until(at: AppTest, condition, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)
        at.run()
        assert not at.exception, at.exception


def test_an_uploaded_dataset_is_decoded_offered_adapted_to_and_trained_on(fresh_uploads):
    at = AppTest.from_function(train_page_script, default_timeout=TIMEOUT)
    fresh_uploads.append(at)
    at.run()
    upload_zip(at, "shapes.zip", zip_bytes(shapes_files(per_class=20)))
    assert "upload:shapes: 3 classes, 60 images (48 for training, 12 for testing)" in (
        texts(at, "markdown"))
    assert "20% of each class" in texts(at, "caption")
    assert at.radio(key=next(r.key for r in at.radio if r.key.startswith("upload-size"))
                    ).value == 28
    button(at, "Decode and use upload:shapes").click().run()
    assert not at.exception, at.exception
    assert "is now a choice in the Dataset box" in texts(at, "success")
    assert at.selectbox(key=f"dataset-{SUFFIX}").value == "upload:shapes"
    assert "has [1, 28, 28] images in 3 classes, but MNIST fast takes [1, 28, 28] with " \
           "10 classes" in texts(at, "warning")
    button(at, "Adapt the network to upload:shapes").click().run()
    assert at.session_state["spec"].num_classes == 3 if "spec" in at.session_state else True
    assert "Adapt the network to upload:shapes" not in [b.label for b in at.button]
    button(at, "Step").click().run()
    assert not at.exception, at.exception
    run_id = at.session_state["run_id"]
    rerun_until(at, lambda: runs.executor().status(run_id).step >= 1
                and not runs.executor().status(run_id).busy)
    status = runs.executor().status(run_id)
    assert status.config.dataset == "upload:shapes" and status.spec.num_classes == 3
    assert runs.executor().dataset_info(run_id).name.startswith("upload:shapes@")

    # The same content again is read from the server's decode, not decoded afresh.
    upload_zip(at, "shapes.zip", zip_bytes(shapes_files(per_class=20)))
    button(at, "Decode and use upload:shapes").click().run()
    assert "Already decoded on this server" in texts(at, "success")


def _bad_archives() -> list[tuple[str, bytes, str]]:
    files = shapes_files(per_class=6)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a/0.png", b"\0" * (1100 * 2**20))  # unpacks past 1 GB
    traversal = zip_bytes({"../outside/0.png": b"x"})
    one_class = zip_bytes({p: d for p, d in files.items() if "/circle/" in p})
    corrupt = dict(files)
    for path in list(corrupt)[:3]:
        corrupt[path] = b"\x89PNG\r\n\x1a\n" + b"\0" * 30
    typed = zip_bytes(dict(files, **{"shapes/circle/run.exe": b"MZ"}))
    many = zip_bytes({f"s/{c}/{n}.png": b"x" for c in ("a", "b") for n in range(6)})
    return [
        ("bomb.zip", bomb.getvalue(), "unpacks to 1100.0 MB, over the limit of 1024.0 MB"),
        ("traversal.zip", traversal, "the path '../outside/0.png' leads outside the archive"),
        ("one.zip", one_class, "found 1 class folder (circle); at least 2 are needed"),
        ("corrupt.zip", zip_bytes(corrupt), "3 of 18 images cannot be decoded"),
        ("types.zip", typed, "'shapes/circle/run.exe' is not a PNG or JPEG image"),
        ("many.zip", many, "the upload holds 12 files, over the limit of 10"),
    ]


def test_each_malformed_archive_is_refused_with_its_line_and_the_session_keeps_working(
        fresh_uploads, monkeypatch):
    at = AppTest.from_function(train_page_script, default_timeout=TIMEOUT)
    fresh_uploads.append(at)
    at.run()
    for name, data, expected in _bad_archives():
        if name == "many.zip":  # a lower cap than 70,000, so the archive stays small
            monkeypatch.setenv("PLAYGROUND_MAX_DATASET_FILES", "10")
        upload_zip(at, name, data)
        if name == "corrupt.zip":  # readable: refused only when decoding
            button(at, "Decode and use upload:corrupt").click().run()
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and expected in errors[0], (name, errors)
        assert " was not used: " in errors[0] and "\n" not in errors[0]
    monkeypatch.setenv("PLAYGROUND_MAX_DATASET_FILES", "70000")
    # Too large decoded for the memory bound: refused before decoding.
    monkeypatch.setenv("PLAYGROUND_UPLOADS_SESSION_MB", "1")
    monkeypatch.setattr(shared, "_uploads", None)
    upload_zip(at, "big.zip", zip_bytes(shapes_files(per_class=40)))
    at.radio(key=next(r.key for r in at.radio if r.key.startswith("upload-size"))).set_value(64)
    at.radio(key=next(r.key for r in at.radio if r.key.startswith("upload-colour"))
             ).set_value("colour").run()
    button(at, "Decode and use upload:big").click().run()
    assert [e.value for e in at.error] == [
        "**upload:big** was not used: decoded, the images would take 1.4 MB, over the limit "
        "of 1.0 MB per session (PLAYGROUND_UPLOADS_SESSION_MB); choose a smaller size or "
        "greyscale"]
    assert "upload:big" not in at.selectbox(key=f"dataset-{SUFFIX}").options
    upload_zip(at, "fine.zip", zip_bytes(shapes_files(per_class=6)))
    assert not at.error
    button(at, "Decode and use upload:fine").click().run()
    assert "upload:fine" in at.selectbox(key=f"dataset-{SUFFIX}").options


def test_weights_from_a_file_become_a_ready_run_that_inspect_shows(fresh_uploads):
    at = AppTest.from_function(train_page_script, default_timeout=TIMEOUT)
    fresh_uploads.append(at)
    at.run()
    upload_zip(at, "shapes.zip", zip_bytes(shapes_files(per_class=10)))
    button(at, "Decode and use upload:shapes").click().run()
    button(at, "Adapt the network to upload:shapes").click().run()
    adapted = load_preset("mnist_fast").replace(num_classes=3)
    trained = M.build_model(adapted, "cpu", torch.Generator().manual_seed(5)).state_dict()

    wrong = checkpoint.to_safetensors(
        M.build_model(load_preset("lenet5"), "cpu").state_dict())
    key = next(u.key for u in at.file_uploader if u.key.startswith("weights-train"))
    at.file_uploader(key=key).set_value(("lenet.safetensors", wrong, "application/octet-stream"))
    at.run()
    assert not at.exception, at.exception
    assert "was not loaded: the weights do not fit 'MNIST fast': layer 0 (conv): 0.weight is " \
           "[6, 1, 5, 5] in the file, the network has [8, 1, 3, 3]" in texts(at, "error")
    assert "run_id" not in at.session_state or at.session_state["run_id"] is None

    key = next(u.key for u in at.file_uploader if u.key.startswith("weights-train"))
    at.file_uploader(key=key).set_value(
        ("mine.safetensors", checkpoint.to_safetensors(trained), "application/octet-stream"))
    at.run()
    assert not at.exception, at.exception
    run_id = at.session_state["run_id"]
    status = runs.executor().status(run_id)
    assert status.state == "ready" and status.origin == "loaded from the file mine.safetensors"
    step, weights = runs.executor().latest_weights(run_id)
    assert all(torch.equal(weights[k], v) for k, v in trained.items())
    assert "Run #1: weights loaded from the file mine.safetensors." in texts(at, "caption")

    inspect = AppTest.from_function(inspect_page_script, default_timeout=TIMEOUT)
    inspect.session_state["run_id"] = run_id
    from playground.ui import ownership
    inspect.session_state[ownership.SECRET_KEY] = at.session_state[ownership.SECRET_KEY]
    inspect.session_state["uploaded_datasets"] = at.session_state["uploaded_datasets"]
    inspect.run()
    assert not inspect.exception, inspect.exception
    assert "weights loaded from the file mine.safetensors" in texts(inspect, "caption")
    assert inspect.get("plotly_chart"), "Inspect draws the loaded weights"


def test_a_lesson_on_an_upload_asks_for_that_upload(fresh_uploads):
    from playground import spec as S
    from playground.ui import session

    lesson = load_preset("mnist_fast")
    lesson = lesson.replace(num_classes=3, training=S.TrainingSpec(dataset="upload:shapes"))
    at = AppTest.from_function(train_page_script, default_timeout=TIMEOUT)
    fresh_uploads.append(at)
    at.session_state[session.SPEC_KEY] = lesson
    at.run()
    assert not at.exception, at.exception
    assert "This lesson trains on your own images, upload:shapes: upload that dataset under " \
           "Your own images below" in texts(at, "info")
    upload_zip(at, "shapes.zip", zip_bytes(shapes_files(per_class=10)))
    button(at, "Decode and use upload:shapes").click().run()
    assert at.selectbox(key=f"dataset-{SUFFIX}").value == "upload:shapes"
    assert "This lesson trains on your own images" not in texts(at, "info")
