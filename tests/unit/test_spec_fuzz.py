"""Random, mutated and hostile specs, share links and lesson files: each is accepted and
builds, or is refused with one clear line.

Never another exception, never a hang (each case is time-bound), never a model over the
limits.
"""
from __future__ import annotations

import base64
import json
import math
import signal
import zlib
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playground.model import build as M
from playground import share
from playground import spec as S
from playground.presets import load_preset, preset_names

CASE_SECONDS = 20  # generous on a loaded 2-core machine; a hang would never end
BIG_STRING = "x" * 10_000_000
# What a hostile or careless hand types: wrong types, huge and negative numbers, NaN,
# deep nesting, 10 MB strings, text JSON cannot write.
HOSTILE_VALUE = st.one_of(
    st.integers(-2**70, 2**70), st.sampled_from([
        float("nan"), float("inf"), -float("inf"), 1e308, -0.0, 2**63, -1, 0, 10**6,
        "3", "", "\ud800", "\x00", BIG_STRING, [], {}, [[[[[[[[[[1]]]]]]]]]], True]),
    st.recursive(st.integers(0, 4), lambda inner: st.lists(inner, max_size=2)
                 | st.dictionaries(st.sampled_from(["type", "a"]), inner, max_size=2),
                 max_leaves=30))


@contextmanager
def time_bound(seconds: float = CASE_SECONDS):
    """Fail a case that runs too long instead of letting the suite hang on it."""
    def expire(signum, frame):
        raise TimeoutError(f"one case took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

ANY_VALUE = st.one_of(
    HOSTILE_VALUE, st.none(), st.booleans(), st.integers(-10**12, 10**12), st.integers(0, 40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.lists(st.integers(0, 64), max_size=4), st.dictionaries(st.text(max_size=4),
                                                              st.integers(), max_size=2))
FIELD_NAMES = st.sampled_from(["out_channels", "kernel_size", "stride", "padding", "dilation",
                               "bias", "p", "negative_slope", "out_features",
                               "bottleneck_width", "unknown", "type"])


@st.composite
def layers(draw):
    layer_type = draw(st.sampled_from([*S.LAYER_TYPES, "conv3d", 7, None]))
    layer = {"type": layer_type}
    if isinstance(layer_type, str) and layer_type in S.LAYER_CLASSES:
        for name, default in S.layer_fields(layer_type).items():
            if draw(st.booleans()) or default is S.REQUIRED:
                layer[name] = draw(st.one_of(st.integers(1, 5), st.integers(0, 12),
                                             st.booleans(), ANY_VALUE))
    for _ in range(draw(st.integers(0, 1))):
        layer[draw(FIELD_NAMES)] = draw(ANY_VALUE)
    return layer


@st.composite
def specs(draw):
    """A plausible spec with random layers; now and then one top-level field is broken."""
    data = {"version": 1, "name": draw(st.text(max_size=20)),
            "input": [draw(st.integers(1, 3)), draw(st.integers(1, 40)),
                      draw(st.integers(1, 40))],
            "num_classes": draw(st.integers(2, 12)),
            "layers": draw(st.lists(layers(), max_size=8))}
    if draw(st.booleans()):
        data["training"] = draw(st.fixed_dictionaries({}, optional={
            "lr": ANY_VALUE, "batch_size": ANY_VALUE, "optimizer": ANY_VALUE,
            "dataset": st.sampled_from(["mnist", "cifar10", "folder:", "x", "folder:/a"]),
            "hidden_panels": ANY_VALUE}))
    if draw(st.integers(0, 4)) == 0:
        broken = draw(st.sampled_from(["version", "name", "input", "num_classes", "layers",
                                       "training", "description", "extra"]))
        data[broken] = draw(st.one_of(ANY_VALUE, st.lists(st.integers(-2, 300), min_size=3,
                                                          max_size=3)))
    return data


PREFIXES = ("layer ", "input", "version", "name", "description", "num_classes", "layers",
            "training", "spec", "file", "link")


def assert_clear(error: S.SpecError) -> None:
    """One short line that starts by naming the layer or the field."""
    message = str(error)
    assert "\n" not in message and len(message) < 400, message
    assert message.split(":")[0].startswith(PREFIXES), message


def check(data) -> None:
    with time_bound():
        _check(data)


def _check(data) -> None:
    try:
        model_spec = S.parse_spec(data)
        analysis = M.analyze(model_spec)
    except S.SpecError as error:
        assert_clear(error)
        return
    assert analysis.total_params <= S.LIMITS.max_params
    assert analysis.layers[-1].output_shape == (model_spec.num_classes,)
    # An accepted spec survives the round trip and describes the same network.
    again = S.spec_from_json(model_spec.to_json())
    assert M.analyze(again).total_params == analysis.total_params
    if math.prod(model_spec.input) * 64 < 2_000_000 and analysis.total_params < 200_000:
        M.build_model(model_spec)


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs())
def test_random_specs_are_accepted_or_refused_clearly(data):
    check(data)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(preset_names()), st.data())
def test_mutated_presets_are_accepted_or_refused_clearly(name, data):
    spec_dict = load_preset(name).to_dict()
    index = data.draw(st.integers(0, len(spec_dict["layers"]) - 1))
    layer = spec_dict["layers"][index]
    layer[data.draw(FIELD_NAMES)] = data.draw(ANY_VALUE)
    check(spec_dict)


def test_huge_strings_and_deep_nesting_are_refused():
    for data in ({"version": 1, "name": "x" * 10_000_000, "input": [1, 28, 28],
                  "num_classes": 10},
                 {"version": 1, "name": "n", "input": [1, 28, 28], "num_classes": 10,
                  "layers": [{"type": "conv", "out_channels": [[[[[[1]]]]]],
                              "kernel_size": 3}]}):
        check(data)
    deep = "[" * 100_000 + "]" * 100_000
    try:
        S.spec_from_json(deep)
    except S.SpecError as error:
        assert str(error).startswith("file: ")
    else:
        raise AssertionError("deeply nested JSON was accepted")


def test_json_text_of_random_specs_round_trips_through_the_file_reader():
    text = json.dumps({"version": 1, "name": "ok", "input": [1, 8, 8], "num_classes": 3,
                       "layers": [{"type": "conv", "out_channels": 2, "kernel_size": 3}]})
    assert M.analyze(S.spec_from_json(text)).total_params > 0


# --- the same for share links and lesson files ------------------------------------------------

def raw_link(text: str) -> str:
    """A link value carrying any text, as a hostile page could make one."""
    packed = zlib.compress(text.encode("utf-8", "surrogatepass"), 9)
    return base64.urlsafe_b64encode(packed).decode("ascii").rstrip("=")


def check_accepted_lesson(model_spec: S.ModelSpec) -> None:
    analysis = M.analyze(model_spec)
    assert analysis.total_params <= S.LIMITS.max_params
    batch = S.resolve_training(model_spec.training).batch_size
    assert M.check_batch_memory(analysis, batch) <= S.LIMITS.max_activation_bytes
    # What the Build page does next with an opened lesson: put it in the URL and a file.
    assert share.decode(share.encode(model_spec)) == model_spec
    assert share.from_file_bytes(share.to_file_bytes(model_spec)) == model_spec


def check_lesson_input(read, value) -> None:
    with time_bound():
        try:
            model_spec = read(value)
        except S.SpecError as error:
            assert_clear(error)
            return
        check_accepted_lesson(model_spec)


def lesson_text(data) -> str:
    return json.dumps(data, allow_nan=True)  # NaN and Infinity literals, as Python reads


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs())
def test_random_lesson_files_are_accepted_or_refused_clearly(data):
    check_lesson_input(share.from_file_bytes,
                       lesson_text(data).encode("utf-8", "surrogatepass"))


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs())
def test_random_share_links_are_accepted_or_refused_clearly(data):
    check_lesson_input(share.decode, raw_link(lesson_text(data)))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(preset_names()), st.data())
def test_damaged_share_links_are_refused_clearly(name, data):
    """A link cut short, with characters changed or added, as copying can do."""
    link = share.encode(load_preset(name))
    position = data.draw(st.integers(0, len(link)))
    how = data.draw(st.sampled_from(["cut", "change", "insert"]))
    junk = data.draw(st.text(min_size=1, max_size=3))
    link = {"cut": link[:position], "change": link[:position] + junk + link[position + 1:],
            "insert": link[:position] + junk + link[position:]}[how]
    check_lesson_input(share.decode, link)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(st.text(max_size=300),
                 st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                         max_size=300)))
def test_any_text_as_a_share_link_is_refused_clearly(value):
    check_lesson_input(share.decode, value)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(st.binary(max_size=300),
                 st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_any_bytes_as_a_lesson_file_are_refused_clearly(data):
    check_lesson_input(share.from_file_bytes, data)


HOSTILE_TEXTS = [
    '{"version": 1' + "1" * 5000 + "}",                        # an integer of 5,000 digits
    '{"version": 1, "name": "a\\ud800", "input": [1, 28, 28], "num_classes": 10}',
    '{"version": 1, "name": "n", "input": [1, 28, 28], "num_classes": NaN}',
    '{"version": 1, "name": "n", "input": [1, 28, 28], "num_classes": 10, '
    '"training": {"lr": Infinity, "hidden_panels": ["\\udc00"]}}',
    '{"version": 1, "name": "n", "input": [1, 28, 28], "num_classes": 10, '
    '"layers": [{"type": "dropout", "p": 1e400}]}',
    '{"version": 1, "name": "n", "input": [1, 28, 28], "num_classes": 10, '
    '"training": {"dataset": "folder:\\u0000/etc"}}',
    '{"version": 1, "name": "%s", "input": [1, 28, 28], "num_classes": 10}' % BIG_STRING,
    '{"version": 1, "name": "n", "input": [1, 28, 28], "num_classes": 10, "layers": %s}'
    % ("[" * 50_000 + "]" * 50_000),
    '{"version": 1, "name": "n", "input": [3, 256, 256], "num_classes": 10, "layers": ['
    '{"type": "conv", "out_channels": 512, "kernel_size": 3, "padding": 1}], '
    '"training": {"batch_size": 2048}}',                       # 64 GB of activations
    '{"version": 1, "name": "n", "input": [1, 28, 28], "num_classes": 10, "layers": ['
    + ", ".join(['{"type": "conv", "out_channels": 4, "kernel_size": 3, "stride": 3}'] * 4)
    + "]}",                                                    # shapes that collapse
]


def test_hostile_lesson_files_and_links_are_refused_clearly():
    for text in HOSTILE_TEXTS:
        data = text.encode("utf-8")
        check_lesson_input(share.from_file_bytes, data)
        with pytest.raises(S.SpecError) as caught:
            share.from_file_bytes(data)
        assert_clear(caught.value)
    for text in HOSTILE_TEXTS[:6]:  # the link's own size cap takes the big ones first
        check_lesson_input(share.decode, raw_link(text))
