"""Lessons through a link and through a file: round trips, caps and clear errors."""
from __future__ import annotations

import base64
import json
import zlib

import pytest

from playground import share
from playground import spec as S
from playground.presets import load_preset, preset_names


def lesson() -> S.ModelSpec:
    base = load_preset("lenet5")
    return base.replace(name="Lesson 3: pooling", description="Ünïcode & <b>tags</b>",
                        training=S.TrainingSpec(dataset="fashion-mnist", optimizer="sgd",
                                                lr=0.05, momentum=0.8, batch_size=32,
                                                epochs=4, weight_decay=1e-4,
                                                schedule="constant", augment=True, seed=7,
                                                hidden_panels=["Diagnostics"]))


@pytest.mark.parametrize("name", preset_names())
def test_presets_round_trip_through_a_link(name):
    model_spec = load_preset(name)
    value = share.encode(model_spec)
    assert len(value) < 1000
    assert share.decode(value) == model_spec


def test_the_whole_lesson_round_trips_through_link_and_file():
    original = lesson()
    assert share.decode(share.encode(original)) == original
    assert share.from_file_bytes(share.to_file_bytes(original)) == original
    assert json.loads(share.to_file_bytes(original))["training"]["hidden_panels"] == [
        "Diagnostics"]


def test_share_url_points_at_the_build_page():
    model_spec = lesson()
    url = share.share_url("http://host:8501/train?run=abc", model_spec)
    assert url.startswith("http://host:8501/build?lesson=")
    assert share.decode(url.split("lesson=")[1]) == model_spec
    assert share.share_url("https://x.org/app/build", model_spec).startswith(
        "https://x.org/app/build?lesson=")
    assert share.share_url(None, model_spec).startswith("/build?lesson=")


def _pack(text: str) -> str:
    return base64.urlsafe_b64encode(zlib.compress(text.encode())).decode().rstrip("=")


@pytest.mark.parametrize("value, message", [
    ("", "no lesson"),
    ("abc$%", "damaged"),
    ("QUJD", "damaged"),                              # base64, but not zlib
    ("x" * (share.MAX_PARAM_CHARS + 1), "over the limit"),
    (_pack("{not json"), "not valid JSON"),
    (_pack('{"version": 2}'), "version must be 1"),
    (_pack(json.dumps({**load_preset("lenet5").to_dict(), "layers": [
        {"type": "conv", "out_channels": 4, "kernel_size": 9}, {"type": "conv",
                                                                "out_channels": 4,
                                                                "kernel_size": 11},
        {"type": "conv", "out_channels": 4, "kernel_size": 11}]})),
     "layer 2 (conv): kernel_size 11 is larger than the padded input 10x10"),
])
def test_bad_links_say_what_is_wrong(value, message):
    with pytest.raises(S.SpecError) as error:
        share.decode(value)
    assert message in str(error.value)


def test_a_link_that_unpacks_into_a_huge_text_is_refused_before_parsing():
    bomb = base64.urlsafe_b64encode(zlib.compress(b" " * (share.MAX_JSON_BYTES + 10), 9))
    value = bomb.decode().rstrip("=")
    assert len(value) < share.MAX_PARAM_CHARS
    with pytest.raises(S.SpecError, match="unpacks to over 128 KB"):
        share.decode(value)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"\xff\xfe\x00garbage", "not text"),
    (b"[1, 2", "not valid JSON"),
    (b'{"version": 1, "name": "x", "input": [1, 28, 28], "num_classes": 10, "extra": 1}',
     "unknown field"),
    (b" " * (share.MAX_JSON_BYTES + 1), "over the limit of 10 MB"),
])
def test_bad_files_say_what_is_wrong(data, message):
    with pytest.raises(S.SpecError) as error:
        share.from_file_bytes(data)
    assert message in str(error.value)


def test_file_names_are_safe():
    assert share.file_name(load_preset("lenet5")) == "lenet-5.lesson.json"
    assert share.file_name(load_preset("lenet5").replace(name="../../etc/x"),
                           ".py") == "etc-x.py"


WIDEST_CHARACTER = "\U0001F600"  # four bytes in UTF-8, one character to the spec's limits


def largest_valid_lesson() -> S.ModelSpec:
    """Every field at its limit: texts of 4-byte characters, every layer field written with
    its widest value, every training setting set (shapes are not checked: size is)."""
    widest = WIDEST_CHARACTER
    conv = {"type": "conv", "out_channels": S.LIMITS.max_channels,
            "kernel_size": S.LIMITS.max_kernel, "stride": S.LIMITS.max_stride,
            "padding": S.LIMITS.max_padding, "dilation": S.LIMITS.max_dilation, "bias": False}
    training = {"dataset": "folder:" + widest * (4096 - len("folder:")), "optimizer": "adamw",
                "lr": 1.2345678901234567e-05, "momentum": 0.12345678901234567,
                "batch_size": S.LIMITS.max_batch_size, "epochs": S.LIMITS.max_epochs,
                "weight_decay": 1.2345678901234567e-05, "schedule": "onecycle",
                "augment": False, "seed": 2**63 - 1, "hidden_panels": [widest * 200] * 100}
    return S.parse_spec({"version": 1, "name": widest * S.LIMITS.max_name_chars,
                         "description": widest * S.LIMITS.max_description_chars,
                         "input": list(S.LIMITS.max_input), "num_classes": S.LIMITS.max_classes,
                         "layers": [conv] * S.LIMITS.max_layers, "training": training})


def test_a_link_holds_the_largest_valid_lesson_with_a_cap_near_its_size():
    biggest = largest_valid_lesson()
    value = share.encode(biggest)
    unpacked = zlib.decompress(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    assert len(value) <= share.MAX_PARAM_CHARS
    assert share.decode(value, check_shapes=False) == biggest
    assert len(unpacked) <= share.MAX_LINK_JSON_BYTES < 1.1 * len(unpacked)


def test_a_link_bomb_stops_unpacking_at_the_link_cap(monkeypatch):
    bomb = base64.urlsafe_b64encode(zlib.compress(b" " * (9 * 2**20), 9)).decode().rstrip("=")
    assert len(bomb) < share.MAX_PARAM_CHARS
    unpacked: list[int] = []
    real_decompressobj = zlib.decompressobj

    class CountingUnpacker:
        def __init__(self, *args, **kwargs):
            self._unpacker = real_decompressobj(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(self._unpacker, name)

        def decompress(self, data, max_length=0):
            out = self._unpacker.decompress(data, max_length)
            unpacked.append(len(out))
            return out

    monkeypatch.setattr(zlib, "decompressobj", CountingUnpacker)
    with pytest.raises(S.SpecError) as error:
        share.decode(bomb)
    assert str(error.value) == ("link: the lesson in the link unpacks to over 128 KB, "
                                "the limit for a link")
    assert sum(unpacked) <= share.MAX_LINK_JSON_BYTES + 1
