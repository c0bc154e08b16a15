"""Random and mutated specs: each is accepted and builds, or is refused with one clear line.

Never another exception, never a model over the limits.
"""
from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playground import model as M
from playground import spec as S
from playground.presets import load_preset, preset_names

ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.integers(0, 40),
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


def check(data) -> None:
    try:
        model_spec = S.parse_spec(data)
        analysis = M.analyze(model_spec)
    except S.SpecError as error:
        message = str(error)
        assert "\n" not in message and len(message) < 400, message
        assert message.split(":")[0].startswith(
            ("layer ", "input", "version", "name", "description", "num_classes", "layers",
             "training", "spec", "file")), message
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
