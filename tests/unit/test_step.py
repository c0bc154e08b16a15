"""One training step and one evaluation: the textbook arithmetic, usable outside a Trainer."""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from playground.model import build as M
from playground import spec as S
from playground.train.step import evaluate, train_step
from tests.unit.test_train import SMALL_NET, synthetic


def small_network() -> torch.nn.Module:
    return M.build_model(S.parse_spec(SMALL_NET), "cpu", torch.Generator().manual_seed(3))


def test_train_step_is_the_textbook_step():
    data = synthetic(n_train=64)
    images, labels = data.train_x[:32], data.train_y[:32]
    mine = small_network().train()
    theirs = copy.deepcopy(mine)
    torch.manual_seed(0)  # the dropout mask, the same for both
    loss, correct = train_step(mine, torch.optim.SGD(mine.parameters(), lr=0.1),
                               images, labels)
    optimizer = torch.optim.SGD(theirs.parameters(), lr=0.1)
    torch.manual_seed(0)
    logits = theirs(images)
    expected = F.cross_entropy(logits, labels)
    optimizer.zero_grad()
    expected.backward()
    optimizer.step()
    assert not loss.requires_grad and torch.equal(loss, expected.detach())
    assert int(correct) == int((logits.argmax(1) == labels).sum())
    for name, tensor in theirs.state_dict().items():
        assert torch.equal(mine.state_dict()[name], tensor), name


def test_train_step_uses_the_given_forward():
    data = synthetic(n_train=32)
    network = small_network()
    calls = []

    def forward(images):
        calls.append(len(images))
        return network(images)

    train_step(network, torch.optim.SGD(network.parameters(), lr=0.1),
               data.train_x, data.train_y, forward=forward)
    assert calls == [32]


def test_evaluate_in_chunks_in_eval_mode_and_back():
    data = synthetic(n_test=50)
    network = small_network().train()
    result = evaluate(network, data.test_x, data.test_y, chunk=16, keep_top=3)
    assert network.training
    with torch.no_grad():
        logits = network.eval()(data.test_x)
    assert result.count == 50
    assert result.correct == int((logits.argmax(1) == data.test_y).sum())
    assert result.accuracy == result.correct / 50
    expected = F.cross_entropy(logits, data.test_y, reduction="sum").item()
    assert abs(result.loss_sum - expected) < 1e-4 * max(1.0, abs(expected))
    assert result.top_classes.shape == result.top_probs.shape == (50, 3)
    assert torch.equal(result.top_classes[:, 0], logits.argmax(1))
    assert evaluate(network.eval(), data.test_x, data.test_y).top_classes is None
    assert not network.training  # a network evaluated in eval mode stays in it
