"""The cap on one training step's work (`Limits.max_step_macs`): a step takes about a second
at most on a 2-core CPU, so a stop, seen between steps, takes effect within one. It is
checked wherever the activation cap is: the Trainer, the command line (exit 2, one line),
lesson files and links, the Build and Train pages."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from playground import share
from playground import spec as S
from playground.model import build as M
from playground.presets import load_preset, preset_names
from playground.train import trainer as T
from tests.pages.test_train_page import page, small_mnist  # noqa: F401 (fixtures)
from tests.support import ROOT, needs_data
from tests.unit.test_train import synthetic

# Three 512-channel 3x3 convs on 28x28 digits: 8.7 M parameters and 3.7 G multiply-adds an
# image (the kind of network that took 130 s to stop), within every other cap at batch 16.
HEAVY_LAYERS = [{"type": "conv", "out_channels": 512, "kernel_size": 3, "padding": 1}] * 3


def heavy_spec(batch_size: int | None = 16, input_shape=(1, 28, 28), num_classes=10,
               layers=HEAVY_LAYERS) -> S.ModelSpec:
    data = {"version": 1, "name": "heavy", "input": list(input_shape),
            "num_classes": num_classes, "layers": layers}
    if batch_size is not None:
        data["training"] = {"batch_size": batch_size}
    return S.parse_spec(data)


MESSAGE = (r"^training.batch_size: a batch of 16 needs [\d.,]+ G multiply-adds per training "
           r"step \([\d.,]+ G per image, [\d.,]+ G of them in layer 1 \(conv\), counting what "
           r"each layer stores\), over the limit of 20.0 G \(about a second on a 2-core CPU\); "
           r"use a batch of at most (\d+) or a smaller network$")


def test_the_cap_names_the_heaviest_layer_the_limit_and_the_largest_batch_that_fits():
    analysis = M.analyze(heavy_spec())
    M.check_batch_memory(analysis, 16)  # the memory cap lets it through
    with pytest.raises(S.SpecError, match=MESSAGE) as refused:
        M.check_batch(analysis, 16)
    largest = int(re.match(MESSAGE, str(refused.value)).group(1))
    assert 1 <= largest < 16
    assert M.check_step_work(analysis, largest) <= S.LIMITS.max_step_macs
    with pytest.raises(S.SpecError):
        M.check_step_work(analysis, largest + 1)


def test_a_network_over_the_cap_for_one_image_says_so():
    wide = [{"type": "conv", "out_channels": 256, "kernel_size": 11, "padding": 5}] * 2
    analysis = M.analyze(heavy_spec(input_shape=(3, 64, 64), layers=wide))
    with pytest.raises(S.SpecError, match=r"over the limit of 20.0 G \(about a second on a "
                                          r"2-core CPU\); even one image is over it: make "
                                          r"layer 1 \(conv\) smaller$"):
        M.check_batch(analysis, 1)


def test_every_preset_and_the_build_page_defaults_fit():
    for name in preset_names():
        preset = load_preset(name)
        M.check_batch(M.analyze(preset), S.resolve_training(preset.training).batch_size)


def test_lesson_files_links_and_the_trainer_refuse_it():
    lesson = heavy_spec()
    with pytest.raises(S.SpecError, match=MESSAGE):
        share.from_file_bytes(share.to_file_bytes(lesson))
    with pytest.raises(S.SpecError, match=MESSAGE):
        share.decode(share.encode(lesson))
    digits = synthetic()
    model_spec = heavy_spec(None, input_shape=digits.input_shape, num_classes=3)
    with pytest.raises(S.SpecError, match=r"multiply-adds per training step"):
        T.Trainer(model_spec, digits, S.TrainingConfig(batch_size=512),
                  T.TrainerOptions(device="cpu"))


def test_the_command_line_exits_2_with_one_line(tmp_path):
    path = tmp_path / "heavy.json"
    path.write_text(json.dumps(heavy_spec(None).to_dict()))
    result = subprocess.run([sys.executable, "-m", "playground", "train", str(path),
                             "--dataset", "mnist", "--batch-size", "16", "--data-dir",
                             str(tmp_path / "no-data")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1
    assert re.match(MESSAGE, result.stderr.removeprefix("error: ").strip())


def test_the_build_page_refuses_a_batch_over_the_cap_and_keeps_the_network():
    from tests.pages.test_build_page import open_page, valid

    lesson = heavy_spec(2)
    at = open_page({share.PARAM: share.encode(lesson)})
    assert valid(at) == lesson
    at.number_input(key="lesson-batch_size").set_value(16).run()
    assert not at.exception
    shown = " ".join(e.value for e in at.error)
    assert "training.batch_size: a batch of 16 needs" in shown, shown
    assert "over the limit of 20.0 G" in shown
    assert valid(at) == lesson


@needs_data
def test_the_train_page_refuses_it_with_one_line(page):
    from playground.ui import session
    from tests.pages.test_train_page import button

    at = page()
    at.session_state[session.SPEC_KEY] = heavy_spec()
    at.run()
    button(at, "Train").click().run()
    assert not at.exception
    assert any(re.match(MESSAGE, e.value) for e in at.error), [e.value for e in at.error]
