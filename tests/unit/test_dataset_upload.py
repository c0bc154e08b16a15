"""Datasets uploaded in the page: every check before decoding, the decode, the bounded
store, and training on one through the same data path as the built-in sets."""
from __future__ import annotations

import io
import json
import stat
import zipfile

import pytest
import torch

from playground import spec as S
from playground.data import shared
from playground.data import upload_archive as A
from playground.data import uploads as U
from playground.train import trainer as T
from tests.support.shapes_archive import png, shapes_files, zip_bytes

LIMITS = A.UploadLimits()


def layout_of(files: dict[str, bytes], limits: A.UploadLimits = LIMITS) -> A.Layout:
    return A.arrange(A.read_zip(zip_bytes(files), limits), limits)


def refusal(data: bytes, limits: A.UploadLimits = LIMITS) -> str:
    with pytest.raises(A.UploadError) as caught:
        A.arrange(A.read_zip(data, limits), limits)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_class_folders_are_split_80_20_per_class_with_a_fixed_seed():
    layout = layout_of(shapes_files(per_class=20))
    assert layout.classes == ["circle", "square", "triangle"]
    assert layout.counts() == {name: (16, 4) for name in layout.classes}
    again = layout_of(shapes_files(per_class=20))
    assert [f.path for f, _ in again.test] == [f.path for f, _ in layout.test]
    assert "20%" in layout.split_note and "seed 0" in layout.split_note


def test_train_and_test_folders_are_kept_as_they_are():
    layout = layout_of(shapes_files(per_class=10, split=True, top=""))
    assert layout.counts() == {name: (8, 2) for name in layout.classes}
    assert "train/ and test/" in layout.split_note


def test_the_proposal_follows_the_images():
    grey = layout_of(shapes_files(per_class=5, size=28))
    colour = layout_of(shapes_files(per_class=5, size=50, colour=True))
    assert A.propose(grey) == (28, 1)
    assert A.propose(colour) == (64, 3)


def test_decoding_gives_uint8_tensors_of_the_chosen_size_and_reports_progress():
    seen = []
    decoded = A.decode(layout_of(shapes_files(per_class=10)), 32, 3,
                       lambda text, fraction: seen.append(fraction))
    assert decoded.train_x.dtype == torch.uint8 and decoded.train_x.shape == (24, 3, 32, 32)
    assert decoded.test_x.shape == (6, 3, 32, 32) and decoded.skipped == []
    assert seen[-1] == 1.0


def test_the_same_content_has_the_same_digest_zipped_or_picked_as_a_folder():
    files = shapes_files(per_class=5)
    zipped = A.read_zip(zip_bytes(files), LIMITS)
    picked = A.read_folder(list(files.items()), LIMITS)
    assert A.content_digest(zipped) == A.content_digest(picked)
    assert A.dataset_name("My shapes (v2).zip") == "My_shapes_v2"
    assert A.dataset_name("shapes/circle/000.png") == "shapes"


def _zip_with(entries) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return buffer.getvalue()


def test_each_malformed_archive_is_refused_with_its_line():
    files = shapes_files(per_class=6)
    bomb = _zip_with([(f"a/{n}.png", b"\0" * 2**20) for n in range(3)])
    assert refusal(bomb, A.UploadLimits(max_unpacked_bytes=2 * 2**20)) == (
        "the archive unpacks to 3.0 MB, over the limit of 2.0 MB unpacked")
    assert refusal(_zip_with([("../evil/0.png", b"x")])) == (
        "the path '../evil/0.png' leads outside the archive; refused")
    assert refusal(_zip_with([("/etc/0.png", b"x")])) == (
        "the path '/etc/0.png' leads outside the archive; refused")
    link = zipfile.ZipInfo("shapes/circle/link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    assert "is a link" in refusal(_zip_with([(link, "/etc/passwd")]))
    one_class = {p: d for p, d in files.items() if "/circle/" in p}
    assert refusal(zip_bytes(one_class)) == (
        "found 1 class folder (circle); at least 2 are needed to learn anything")
    few = {p: d for p, d in files.items() if "/square/00" not in p or p.endswith(("0.png",))}
    assert refusal(zip_bytes(few)) == "class 'square' has 1 image; each class needs at least 5"
    typed = dict(files, **{"shapes/circle/notes.txt": b"hello"})
    assert refusal(zip_bytes(typed)) == ("'shapes/circle/notes.txt' is not a PNG or JPEG image "
                                         "(only .png, .jpg and .jpeg files may be in a dataset)")
    assert refusal(zip_bytes(files), A.UploadLimits(max_files=10)) == (
        "the upload holds 18 files, over the limit of 10 (PLAYGROUND_MAX_DATASET_FILES)")
    assert refusal(zip_bytes(files), A.UploadLimits(max_upload_bytes=1000)).startswith(
        "the upload is ")
    assert refusal(b"not a zip") == ("the file is not a zip archive (expected a .zip of "
                                     "class folders)")
    import numpy as np
    huge = dict(files, **{"shapes/circle/huge.png": png(np.zeros((300, 300, 1), np.uint8))})
    assert refusal(zip_bytes(huge), A.UploadLimits(max_pixels=250 * 250)) == (
        "'shapes/circle/huge.png' is 300x300 pixels, over the limit of 62,500 pixels per image")


def test_undecodable_images_are_skipped_up_to_one_percent_and_refused_beyond():
    files = shapes_files(per_class=40)  # 120 images: one may be skipped
    files["shapes/circle/broken.png"] = b"\x89PNG\r\n\x1a\n" + b"\0" * 40
    decoded = A.decode(layout_of(files), 28, 1)
    assert decoded.skipped == ["shapes/circle/broken.png"]
    assert len(decoded.train_y) + len(decoded.test_y) == 120
    files["shapes/square/broken.jpg"] = b"\xff\xd8 not really"
    with pytest.raises(A.UploadError, match=r"^2 of 122 images cannot be decoded \(at most 1, "
                                            r"1%, may be skipped\): shapes/circle/broken.png"):
        A.decode(layout_of(files), 28, 1)


def test_the_store_keeps_uploads_within_their_bounds_least_recently_used_first(tmp_path):
    layout = layout_of(shapes_files(per_class=10))
    decoded = A.decode(layout, 28, 1)  # 30 images of 784 bytes (and labels)
    size = decoded.nbytes
    store = U.UploadStore(per_session_bytes=2 * size + 10, per_server_bytes=3 * size - 10,
                          cache_dir=tmp_path)
    keys = [U.data_key(f"set{n}", f"{n:016x}") for n in range(4)]
    assert store.put("alice", keys[0], decoded) == []
    assert store.put("alice", keys[1], decoded) == []
    assert store.put("alice", keys[2], decoded) == [keys[0]]      # alice's own bound
    assert store.put("bob", keys[3], decoded) == [keys[1]]        # the server's bound
    assert not store.is_held(keys[0])
    back = store.get(keys[0])  # evicted from memory, read back from the disk cache
    assert back is not None and torch.equal(back.train_x, decoded.train_x)
    assert store.get(U.data_key("never", "e" * 16)) is None


def test_an_uploaded_dataset_trains_above_chance_through_the_shared_data_layer(
        tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_CACHE", str(tmp_path))
    monkeypatch.setattr(shared, "_uploads", None)
    files = A.read_zip(zip_bytes(shapes_files(per_class=60)), LIMITS)
    layout = A.arrange(files, LIMITS)
    key = U.data_key("shapes", U.decode_digest(A.content_digest(files), 28, 1))
    shared.add_upload("alice", key, A.decode(layout, 28, 1))
    data = shared.dataset(key)
    assert data.input_shape == (1, 28, 28) and data.classes == ["circle", "square", "triangle"]
    model_spec = S.spec_from_json(json.dumps({
        "version": 1, "name": "shapes", "input": [1, 28, 28], "num_classes": 3,
        "layers": [{"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1},
                   {"type": "relu"}, {"type": "maxpool", "kernel_size": 2},
                   {"type": "conv", "out_channels": 16, "kernel_size": 3, "padding": 1},
                   {"type": "relu"}, {"type": "global_avgpool"}]}))
    config = S.resolve_training(None, dataset="upload:shapes", epochs=15, batch_size=16,
                                lr=0.01, optimizer="adam")
    trainer = T.Trainer(model_spec, data, config, T.TrainerOptions(device="cpu"))
    trainer.run()
    assert trainer.eval_records[-1].test_acc > 0.6  # chance is 1/3
    shared.uploads().clear()  # gone from memory: read back from the disk cache
    shared.forget(key)
    assert shared.dataset(key).classes == data.classes


def test_a_missing_upload_asks_for_it_again_and_the_command_line_suggests_a_folder():
    from playground.data import datasets as D

    with pytest.raises(D.DataError, match=r"^dataset upload:gone is no longer on this server: "
                                          r"upload the same images again"):
        shared.dataset(U.data_key("gone", "f" * 16))
    with pytest.raises(D.DataError, match="use folder:PATH"):
        D.load_dataset("upload:gone")


def _shapes_upload(owner: str = "alice") -> tuple[str, S.ModelSpec, S.TrainingConfig]:
    files = A.read_zip(zip_bytes(shapes_files(per_class=10)), LIMITS)
    key = U.data_key("shapes", U.decode_digest(A.content_digest(files), 28, 1))
    shared.add_upload(owner, key, A.decode(A.arrange(files, LIMITS), 28, 1))
    model_spec = S.spec_from_json(json.dumps({
        "version": 1, "name": "shapes", "input": [1, 28, 28], "num_classes": 3,
        "layers": [{"type": "conv", "out_channels": 4, "kernel_size": 3},
                   {"type": "relu"}, {"type": "global_avgpool"}]}))
    config = S.resolve_training(None, dataset="upload:shapes", epochs=1, batch_size=8)
    return key, model_spec, config


def test_a_stored_run_keeps_the_uploads_name_and_hash_and_asks_for_it_after_a_restart(
        tmp_path, monkeypatch):
    from playground.data import datasets as D
    from playground.runs import LocalExecutor
    from playground.runs.sqlite_store import SqliteStore

    monkeypatch.setenv("PLAYGROUND_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(shared, "_uploads", None)
    key, model_spec, config = _shapes_upload()
    executor = LocalExecutor(store=SqliteStore(tmp_path / "state"), sweep_seconds=0.02)
    try:
        run_id = executor.create("alice", model_spec, config, key, device="cpu")
        executor.start(run_id, owner="alice")
        executor.trainer(run_id).join(60)
        executor.free(run_id, owner="alice")
    finally:
        executor.close()
    # A restart: a new process has no uploads in memory.
    monkeypatch.setattr(shared, "_uploads", None)
    shared.forget(key)
    restarted = LocalExecutor(store=SqliteStore(tmp_path / "state"), sweep_seconds=0.02)
    try:
        opened = restarted.open_stored("alice", run_id)  # the decode cache has it
        assert restarted.dataset_info(opened).name == key  # name and content hash
        assert restarted.status(opened).config.dataset == "upload:shapes"
        restarted.free(opened, owner="alice")
        shared.forget(key)
        for cached in (tmp_path / "cache" / "uploads").iterdir():
            cached.unlink()  # and now the cache is gone too
        with pytest.raises(D.DataError, match=r"^dataset upload:shapes is no longer on this "
                                              r"server: upload the same images again"):
            restarted.open_stored("alice", run_id)
    finally:
        restarted.close()


def test_the_command_line_refuses_an_upload_name_and_suggests_a_folder(tmp_path):
    import subprocess
    import sys

    from tests.support import ROOT

    result = subprocess.run(
        [sys.executable, "-m", "playground", "train", str(ROOT / "assets" / "presets" /
                                                           "mnist_fast.json"),
         "--dataset", "upload:shapes"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("error: --dataset: upload:shapes names a dataset uploaded in the "
                             "web page; on the command line use folder:PATH (a folder with "
                             "train/ and test/ class folders)\n")
