"""Every resource cap refuses with a message that names its limit; weights files never run
code."""
from __future__ import annotations

import pickle
import tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from playground import checkpoint as C
from playground.data import datasets as D
from playground.model import build as M
from playground.analysis import probe as P
from playground import share
from playground import spec as S
from playground.train import trainer as T
from playground.presets import load_preset
from playground import runs
from tests.unit.test_runs import Clock, add_run, make_executor
from tests.unit.test_train import SMALL_NET

ROOT = Path(__file__).resolve().parents[2]


def spec_with(layers, input_shape=(3, 64, 64), **training):
    data = {"version": 1, "name": "big", "input": list(input_shape), "num_classes": 10,
            "layers": layers}
    if training:
        data["training"] = training
    return S.parse_spec(data)


def test_parameter_cap_names_the_layer_and_the_limit():
    model_spec = spec_with([{"type": "flatten"}, {"type": "linear", "out_features": 4096},
                            {"type": "linear", "out_features": 4096}])
    with pytest.raises(S.SpecError, match=r"^layer 1 \(linear\): the network reaches "
                                          r"50,335,744 parameters here, over the limit of "
                                          r"20,000,000$"):
        M.analyze(model_spec)


def test_batch_size_cap():
    with pytest.raises(S.SpecError, match=r"^training.batch_size: batch_size 4096 is over "
                                          r"the limit of 2048$"):
        S.resolve_training(None, batch_size=4096)


def test_activation_memory_cap_in_a_lesson_file_and_the_trainer():
    wide = [{"type": "conv", "out_channels": 256, "kernel_size": 3, "padding": 1}]
    model_spec = spec_with(wide, batch_size=512)
    message = (r"^training.batch_size: a batch of 512 needs 4,097 MB of activations "
               r"\(2,097,162 floats per image x 4 bytes\), over the limit of 1,024 MB; use a "
               r"batch of at most 127 or a smaller network$")
    with pytest.raises(S.SpecError, match=message):
        share.from_file_bytes(share.to_file_bytes(model_spec))
    with pytest.raises(S.SpecError, match=message):
        share.decode(share.encode(model_spec))
    assert M.check_batch_memory(M.analyze(model_spec), 127) <= S.LIMITS.max_activation_bytes
    # Every preset trains at its own batch size within the cap.
    for name in ("mnist_fast", "lenet5", "tinyvgg_cifar10", "resnet_cifar10"):
        preset = load_preset(name)
        M.check_batch_memory(M.analyze(preset), S.resolve_training(preset.training).batch_size)


def test_upload_caps_match_streamlits_own():
    from playground.data.upload_archive import UploadLimits

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    # Streamlit's cap is the dataset archive's; every other upload has a smaller one of its
    # own, in its widget and checked again on the bytes.
    assert UploadLimits().max_upload_bytes == config["server"]["maxUploadSize"] * 2**20
    megabytes = 10
    assert share.MAX_JSON_BYTES == P.MAX_UPLOAD_BYTES == megabytes * 2**20
    too_big = b" " * (megabytes * 2**20 + 1)
    with pytest.raises(S.SpecError, match=r"^file: the file is 10.0 MB, over the limit of "
                                          r"10 MB for a lesson$"):
        share.from_file_bytes(too_big)
    with pytest.raises(P.ProbeError, match=r"the limit is 10 MB"):
        P.decode_upload(too_big, 1, 28, 28)
    build_page = (ROOT / "playground" / "ui" / "build" / "share.py").read_text()
    assert f"max_upload_size={megabytes}" in build_page
    inspect_page = (ROOT / "playground" / "ui" / "inspect_page.py").read_text()
    assert f"max_upload_size={megabytes}" in inspect_page


def test_image_pixel_cap_is_read_from_the_header_before_decoding():
    ok, png = cv2.imencode(".png", np.zeros((8, 8), np.uint8))
    header = bytearray(png.tobytes())
    header[16:24] = (20_000).to_bytes(4, "big") * 2  # claims 20,000 x 20,000 pixels
    with pytest.raises(P.ProbeError, match=r"20,000 x 20,000 pixels; the limit is 40 "
                                           r"megapixels"):
        P.decode_upload(bytes(header), 1, 28, 28)


def test_runs_per_device_queue_and_server_and_session_caps():
    executor = make_executor(slots={"cpu": 1}, max_active=3, max_per_session=1,
                             sweep_seconds=0.05, clock=Clock())
    registry = executor.registry
    try:
        first, second = add_run(executor, "a"), add_run(executor, "b")
        registry.request_start(first.run_id)
        registry.request_start(second.run_id)
        assert first.trainer.state == T.RUNNING  # one per CPU: the second waits in line
        assert second.trainer.state == T.READY and registry.queue_position(second.run_id) == (1, 1)
        with pytest.raises(runs.RunLimitError, match=r"this session already has 1 active "
                                                     r"training run\(s\) \(limit 1 per "
                                                     r"session"):
            add_run(executor, "a")
        third = add_run(executor, "c")
        registry.request_start(third.run_id)
        with pytest.raises(runs.RunLimitError, match=r"already has 3 active training runs "
                                                     r"\(limit 3\)"):
            add_run(executor, "d")
        registry.remove(first.run_id)
        add_run(executor, "a")  # the session's run ended: it may start another
    finally:
        executor.close()


# --- weights files ------------------------------------------------------------------------------

class CreatesAFile:
    """A pickle that, when loaded by plain pickle, creates a file (any code could run)."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


def malicious_checkpoint(tmp_path: Path) -> tuple[bytes, Path]:
    marker = tmp_path / "pwned.txt"
    buffer = __import__("io").BytesIO()
    torch.save({"0.weight": torch.zeros(1), "payload": CreatesAFile(marker)}, buffer)
    return buffer.getvalue(), marker


def test_the_malicious_pickle_really_runs_code_without_weights_only(tmp_path):
    data, marker = malicious_checkpoint(tmp_path)
    torch.load(__import__("io").BytesIO(data), weights_only=False)
    assert marker.exists()  # so the refusal below is a real one


def test_a_weights_file_that_would_run_code_is_refused(tmp_path):
    data, marker = malicious_checkpoint(tmp_path)
    with pytest.raises(C.CheckpointError, match=r"^the file was refused: it holds .*open.*, "
                                                r"which could run code when opened; only "
                                                r"weights \(tensors\) are accepted$"):
        C.read_state_dict(data)
    assert not marker.exists()


def test_a_planted_dataset_cache_is_not_executed(tmp_path):
    data, marker = malicious_checkpoint(tmp_path)
    cache = tmp_path / "cache.pt"
    cache.write_bytes(data)
    assert D._read_cache(cache) is None  # decoded again instead
    assert not marker.exists()


def test_weights_round_trip_and_must_fit_the_network():
    model_spec = S.parse_spec(SMALL_NET)
    network = M.build_model(model_spec, "cpu", torch.Generator().manual_seed(3))
    data = C.to_bytes(network.state_dict())
    loaded = C.load_weights(data, model_spec)
    assert torch.equal(loaded.state_dict()["0.weight"], network.state_dict()["0.weight"])
    other = model_spec.replace(layers=[S.make_layer("conv", out_channels=5, kernel_size=3),
                                       *model_spec.layers[1:]])
    with pytest.raises(C.CheckpointError, match=r"layer 0 \(conv\): 0.weight is \[4, 1, 3, 3\] "
                                                r"in the file, the network has \[5, 1, 3, 3\]"):
        C.load_weights(data, other)
    with pytest.raises(C.CheckpointError, match="neither a PyTorch .* nor a .safetensors"):
        C.read_state_dict(b"PK\x03\x04 damaged")
    with pytest.raises(C.CheckpointError, match="no state_dict"):
        C.read_state_dict(C.to_bytes([torch.zeros(2)]))
    with pytest.raises(C.CheckpointError, match="over the limit of 100 MB"):
        C.read_state_dict(b"\0" * (C.MAX_CHECKPOINT_BYTES + 1))



def test_the_build_page_refuses_a_batch_over_the_activation_cap_and_keeps_the_network():
    from tests.pages.test_build_page import open_page, valid

    wide = load_preset("mnist_fast").replace(input=(3, 64, 64), layers=[
        S.make_layer("conv", out_channels=64, kernel_size=3, padding=1)])
    at = open_page({share.PARAM: share.encode(wide)})  # no batch set: checked at training
    assert valid(at) == wide
    at.number_input(key="lesson-batch_size").set_value(2048).run()
    assert not at.exception
    shown = " ".join(e.value for e in at.error)
    assert "training.batch_size: a batch of 2048 needs" in shown, shown
    assert "over the limit of 1,024 MB" in shown
    assert valid(at) == wide  # the last valid network stays, and so does its share link
    assert share.decode(at.query_params[share.PARAM]) == wide
