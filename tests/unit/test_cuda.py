"""The CUDA path (issue 7): pinned copies, bf16 autocast, cuDNN autotuning, CUDA graphs.

Every test needs a CUDA GPU and is skipped without one; the CPU side of the same choices
(autocast_for, mixed precision changing nothing, compile matching eager) is in test_train.
"""
from __future__ import annotations

import shutil

import pytest
import torch

from playground.bench import benchmark as B
from playground import spec as S
from playground.train import trainer as T
from playground.train.device import autocast_for, has_native_bf16
from tests.unit.test_train import SMALL_NET, make_trainer, synthetic

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
CUDA = torch.device("cuda")


def test_dataset_to_cuda_is_a_complete_copy():
    data = synthetic()
    moved = data.to(CUDA)
    for name in ("train_x", "train_y", "test_x", "test_y"):
        original, copied = getattr(data, name), getattr(moved, name)
        assert copied.device.type == "cuda" and original.device.type == "cpu"
        assert torch.equal(copied.cpu(), original), name
    assert moved.to(CUDA).train_x.device.type == "cuda"  # already there: no pinning


def test_autocast_runs_the_forward_in_bf16():
    layer = torch.nn.Linear(4, 3).to(CUDA)
    with autocast_for(CUDA, True):
        output = layer(torch.randn(2, 4, device=CUDA))
    assert output.dtype == torch.bfloat16 and layer.weight.dtype == torch.float32


def test_trainer_on_cuda_learns_with_fp32_weights():
    trainer = make_trainer(options={"device": "cuda"})
    assert torch.backends.cudnn.benchmark
    assert trainer.mixed_precision == has_native_bf16(CUDA)
    trainer.run()
    assert trainer.state == T.FINISHED, trainer.message
    assert trainer.eval_records[-1].test_acc > 0.9
    assert all(p.dtype == torch.float32 for p in trainer.network.parameters())
    assert all(t.dtype != torch.bfloat16 for t in trainer.latest_weights()[1].values())


def test_trainer_without_mixed_precision_on_cuda():
    trainer = make_trainer(epochs=1, options={"device": "cuda", "mixed_precision": False})
    assert not trainer.mixed_precision
    trainer.run()
    assert trainer.state == T.FINISHED, trainer.message


@pytest.mark.parametrize("mixed_precision", [False, True], ids=["fp32", "bf16"])
def test_compiled_cuda_training_follows_eager(mixed_precision):
    """mode reduce-overhead (CUDA graphs): the losses follow eager's; CUDA is not bit-exact."""
    runs = []
    for compile in (False, True):
        trainer = make_trainer(synthetic(n_train=256, n_test=64), epochs=1,
                               options={"device": "cuda", "log_every": 1, "compile": compile,
                                        "mixed_precision": mixed_precision})
        trainer.run()
        assert trainer.state == T.FINISHED, trainer.message
        runs.append(trainer)
    eager, compiled = runs
    tolerance = 5e-2 if mixed_precision else 1e-3
    for mine, theirs in zip(compiled.step_records, eager.step_records):
        assert mine.loss == pytest.approx(theirs.loss, rel=tolerance), mine.step


def test_bench_trainer_reports_gpu_utilization():
    config = S.TrainingConfig(optimizer="adam", lr=0.01, batch_size=32, epochs=20, seed=7)
    result = B.measure_trainer(S.parse_spec(SMALL_NET), config, synthetic(), CUDA, 200, 5)
    if shutil.which("nvidia-smi") is None:
        assert "GPU utilization not available (nvidia-smi not found)" in result.note
    else:
        assert "GPU utilization" in result.note and "gpu_util" in result.extra
        assert all(0 <= value <= 100 for value in result.extra["gpu_util"])
