"""The spec JSON contract (DESIGN.md "Spec JSON (version 1)"): loading, defaults, round
trips and the one-line errors a user sees for a bad file."""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playground.model import build as M
from playground import spec as S

PRESET_DIR = Path(__file__).resolve().parents[2] / "assets" / "presets"
PRESETS = sorted(PRESET_DIR.glob("*.json"))


def minimal(**changes) -> dict:
    """A small valid spec as decoded JSON; `changes` replace top-level fields."""
    data = {"version": 1, "name": "t", "input": [1, 28, 28], "num_classes": 10,
            "layers": [{"type": "conv", "out_channels": 4, "kernel_size": 3}]}
    data.update(changes)
    return data


def with_layers(*layers: dict, **changes) -> dict:
    return minimal(layers=list(layers), **changes)


def spec_error(data) -> str:
    """The message of the SpecError that parsing `data` (dict or JSON text) raises."""
    with pytest.raises(S.SpecError) as caught:
        if isinstance(data, str):
            S.spec_from_json(data)
        else:
            S.parse_spec(data)
    return str(caught.value)


def one_layer(layer: dict):
    return S.parse_spec(with_layers(layer)).layers[0]


# --- presets and round trips -------------------------------------------------------------

def test_there_are_presets():
    names = {p.stem for p in PRESETS}
    assert {"lenet5", "mnist_fast", "resnet_cifar10", "tinyvgg_cifar10"} <= names


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_every_preset_loads_and_validates(path):
    model_spec = S.load_spec(path)
    assert model_spec.version == 1
    assert model_spec.name and isinstance(model_spec.name, str)
    assert len(model_spec.layers) == len(json.loads(path.read_text())["layers"])
    analysis = M.analyze(model_spec)
    assert analysis.output_shape == (model_spec.num_classes,)


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_preset_round_trips_through_json(path, tmp_path):
    original = S.load_spec(path)
    again = S.spec_from_json(original.to_json())
    assert again == original
    assert again.to_dict() == original.to_dict()
    # and through a file, as export/import does
    (tmp_path / "copy.json").write_text(original.to_json(), encoding="utf-8")
    assert S.load_spec(tmp_path / "copy.json") == original
    # compact JSON too
    assert S.spec_from_json(original.to_json(indent=None)) == original


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_preset_training_section_is_kept(path):
    raw = json.loads(path.read_text())
    model_spec = S.load_spec(path)
    assert model_spec.to_dict()["training"] == raw["training"]


def test_to_dict_is_in_contract_form():
    model_spec = S.parse_spec(minimal(description="hello"))
    data = model_spec.to_dict()
    assert data == {"version": 1, "name": "t", "description": "hello", "input": [1, 28, 28],
                    "num_classes": 10, "layers": [
                        {"type": "conv", "out_channels": 4, "kernel_size": 3, "stride": 1,
                         "padding": 0, "dilation": 1, "bias": True}]}
    json.dumps(data, allow_nan=False)  # plain JSON
    # no description and no training: the keys are left out, not written as null
    bare = S.parse_spec(minimal()).to_dict()
    assert "description" not in bare and "training" not in bare


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_auto_head_is_never_written_back(path):
    model_spec = S.load_spec(path)
    before = model_spec.to_dict()
    analysis = M.analyze(model_spec)
    M.build_model(model_spec, analysis=analysis)
    assert model_spec.to_dict() == before
    assert len(model_spec.to_dict()["layers"]) == len(model_spec.layers)
    auto = [info for info in analysis.layers if info.auto]
    if auto:  # presets that rely on the head still save without it
        assert len(analysis.layers) == len(model_spec.layers) + len(auto)
    saved = json.loads(model_spec.to_json())
    assert all("auto" not in layer for layer in saved["layers"])
    assert S.spec_from_json(model_spec.to_json()) == model_spec


def test_auto_head_of_headless_spec_not_saved():
    model_spec = S.parse_spec(minimal())  # conv only: head is flatten + linear
    analysis = M.analyze(model_spec)
    assert [(i.type, i.auto) for i in analysis.layers] == [
        ("conv", False), ("flatten", True), ("linear", True)]
    assert [layer["type"] for layer in model_spec.to_dict()["layers"]] == ["conv"]
    assert len(model_spec.layers) == 1


# --- defaults ------------------------------------------------------------------------

def test_conv_defaults_when_missing():
    layer = one_layer({"type": "conv", "out_channels": 4, "kernel_size": 3})
    assert (layer.stride, layer.padding, layer.dilation, layer.bias) == (1, 0, 1, True)


def test_conv_defaults_when_null():
    layer = one_layer({"type": "conv", "out_channels": 4, "kernel_size": 3, "stride": None,
                       "padding": None, "dilation": None, "bias": None})
    assert (layer.stride, layer.padding, layer.dilation, layer.bias) == (1, 0, 1, True)


@pytest.mark.parametrize("kind", ["maxpool", "avgpool"])
@pytest.mark.parametrize("explicit_null", [False, True])
@pytest.mark.parametrize("kernel", [2, 3, 5])
def test_pool_stride_defaults_to_kernel_size(kind, explicit_null, kernel):
    data = {"type": kind, "kernel_size": kernel}
    if explicit_null:
        data.update(stride=None, padding=None)
    layer = one_layer(data)
    assert layer.stride == kernel
    assert layer.padding == 0
    # the filled-in stride survives a round trip and is what the module uses
    assert S.parse_spec(json.loads(S.parse_spec(with_layers(data)).to_json())).layers[0] == layer
    info = M.analyze(S.parse_spec(with_layers(data)).replace(num_classes=10)).layers[0]
    assert info.output_shape == (1, 28 // kernel, 28 // kernel)


def test_pool_explicit_stride_is_kept():
    assert one_layer({"type": "maxpool", "kernel_size": 3, "stride": 1}).stride == 1


@pytest.mark.parametrize("layer, attribute, default", [
    ({"type": "dropout"}, "p", 0.5),
    ({"type": "dropout", "p": None}, "p", 0.5),
    ({"type": "leaky_relu"}, "negative_slope", 0.01),
    ({"type": "leaky_relu", "negative_slope": None}, "negative_slope", 0.01),
    ({"type": "residual", "out_channels": 8}, "stride", 1),
    ({"type": "residual", "out_channels": 8, "bottleneck_width": None}, "bottleneck_width",
     None),
])
def test_other_defaults(layer, attribute, default):
    assert getattr(one_layer(layer), attribute) == default


def test_layer_field_table_matches_design():
    fields = {kind: S.layer_fields(kind) for kind in S.LAYER_TYPES}
    R = S.REQUIRED
    assert fields == {
        "conv": {"out_channels": R, "kernel_size": R, "stride": 1, "padding": 0,
                 "dilation": 1, "bias": True},
        "maxpool": {"kernel_size": R, "stride": None, "padding": 0},
        "avgpool": {"kernel_size": R, "stride": None, "padding": 0},
        "relu": {}, "leaky_relu": {"negative_slope": 0.01}, "sigmoid": {}, "tanh": {},
        "gelu": {}, "batchnorm": {}, "dropout": {"p": 0.5}, "flatten": {},
        "linear": {"out_features": R}, "global_avgpool": {},
        "residual": {"out_channels": R, "stride": 1, "bottleneck_width": None},
    }


def test_top_level_optional_fields():
    model_spec = S.parse_spec(minimal(description=None, training=None))
    assert model_spec.description == "" and model_spec.training is None
    assert S.parse_spec(minimal(layers=None)).layers == []
    assert S.parse_spec(minimal(layers=[])).layers == []


def test_make_layer_validates():
    assert S.make_layer("conv", out_channels=3, kernel_size=5) == S.Conv(3, 5)
    with pytest.raises(S.SpecError, match="kernel_size 12 is over the limit of 11"):
        S.make_layer("conv", out_channels=3, kernel_size=12)


# --- errors: types, fields, version ----------------------------------------------------

def test_unknown_layer_type():
    message = spec_error(with_layers({"type": "relu"}, {"type": "convolution"}))
    assert message.startswith("layer 1")
    assert 'unknown type "convolution"' in message
    assert "conv" in message and "maxpool" in message  # lists the known types


def test_missing_layer_type():
    assert spec_error(with_layers({"out_channels": 3})).startswith("layer 0: unknown type null")


def test_layer_not_an_object():
    assert spec_error(with_layers({"type": "relu"}, "relu")).startswith("layer 1: ")


def test_unknown_layer_field():
    message = spec_error(with_layers({"type": "relu"}, {"type": "relu"}, {"type": "relu"},
                                     {"type": "conv", "out_channels": 4, "kernal_size": 3}))
    assert message.startswith("layer 3 (conv): ")
    assert 'unknown field "kernal_size"' in message
    assert "kernel_size" in message  # the fields it does have


def test_field_of_parameterless_layer():
    message = spec_error(with_layers({"type": "relu", "inplace": True}))
    assert message.startswith("layer 0 (relu): unknown field \"inplace\"")


def test_unknown_top_level_field():
    message = spec_error(minimal(classes=10))
    assert message.startswith("spec: unknown field \"classes\"")


def test_unknown_training_field():
    assert spec_error(minimal(training={"learning_rate": 0.1})).startswith(
        "training: unknown field \"learning_rate\"")


@pytest.mark.parametrize("version, shown", [(2, "2"), (0, "0"), ("1", '"1"'),
                                            (True, "true"), (1.0, "1.0"), (None, "null")])
def test_version_other_than_1(version, shown):
    data = minimal(version=version)
    if version is None:
        del data["version"]
    assert spec_error(data) == f"version: version must be 1, got {shown}"


def test_version_2_from_text():
    text = json.dumps(minimal(version=2))
    assert spec_error(text) == "version: version must be 1, got 2"


@pytest.mark.parametrize("layer, expected", [
    ({"type": "conv", "out_channels": 4, "kernel_size": "3"},
     'layer 0 (conv): kernel_size must be an integer, got a string "3"'),
    ({"type": "conv", "out_channels": 4.0, "kernel_size": 3},
     "layer 0 (conv): out_channels must be an integer, got a number 4.0"),
    ({"type": "conv", "out_channels": 4.5, "kernel_size": 3},
     "layer 0 (conv): out_channels must be an integer, got a number 4.5"),
    ({"type": "conv", "out_channels": True, "kernel_size": 3},
     "layer 0 (conv): out_channels must be an integer, got a boolean true"),
    ({"type": "conv", "out_channels": 4, "kernel_size": 3, "stride": False},
     "layer 0 (conv): stride must be an integer, got a boolean false"),
    ({"type": "conv", "out_channels": 4, "kernel_size": 3, "bias": "yes"},
     'layer 0 (conv): bias must be true or false, got "yes"'),
    ({"type": "conv", "out_channels": 4, "kernel_size": 3, "bias": 1},
     "layer 0 (conv): bias must be true or false, got 1"),
    ({"type": "conv", "out_channels": 4, "kernel_size": [3, 3]},
     "layer 0 (conv): kernel_size must be an integer, got a list [3, 3]"),
    ({"type": "conv", "out_channels": 4, "kernel_size": 3, "padding": "same"},
     'layer 0 (conv): padding must be an integer, got a string "same"'),
    ({"type": "linear", "out_features": "10"},
     'layer 0 (linear): out_features must be an integer, got a string "10"'),
    ({"type": "dropout", "p": "0.5"},
     'layer 0 (dropout): p must be a number, got a string "0.5"'),
    ({"type": "dropout", "p": True},
     "layer 0 (dropout): p must be a number, got a boolean true"),
    ({"type": "leaky_relu", "negative_slope": "0.1"},
     'layer 0 (leaky_relu): negative_slope must be a number, got a string "0.1"'),
    ({"type": "residual", "out_channels": 8, "bottleneck_width": 2.0},
     "layer 0 (residual): bottleneck_width must be an integer, got a number 2.0"),
])
def test_wrong_value_types(layer, expected):
    assert spec_error(with_layers(layer)) == expected


@pytest.mark.parametrize("layer, missing", [
    ({"type": "conv", "kernel_size": 3}, "out_channels"),
    ({"type": "conv", "out_channels": 3}, "kernel_size"),
    ({"type": "conv", "out_channels": None, "kernel_size": 3}, "out_channels"),
    ({"type": "maxpool"}, "kernel_size"),
    ({"type": "linear"}, "out_features"),
    ({"type": "residual"}, "out_channels"),
])
def test_required_field_missing_or_null(layer, missing):
    assert spec_error(with_layers({"type": "relu"}, layer)) == (
        f"layer 1 ({layer['type']}): {missing} is missing")


# --- errors: ranges and limits ---------------------------------------------------------

@pytest.mark.parametrize("changes, expected", [
    ({"out_channels": 0}, "out_channels must be positive, got 0"),
    ({"out_channels": -4}, "out_channels must be positive, got -4"),
    ({"kernel_size": 0}, "kernel_size must be positive, got 0"),
    ({"kernel_size": -1}, "kernel_size must be positive, got -1"),
    ({"stride": 0}, "stride must be positive, got 0"),
    ({"dilation": 0}, "dilation must be positive, got 0"),
    ({"padding": -1}, "padding must be at least 0, got -1"),
    ({"kernel_size": 12}, "kernel_size 12 is over the limit of 11"),
    ({"out_channels": 513}, "out_channels 513 is over the limit of 512"),
    ({"stride": 17}, "stride 17 is over the limit of 16"),
    ({"padding": 17}, "padding 17 is over the limit of 16"),
    ({"dilation": 9}, "dilation 9 is over the limit of 8"),
])
def test_conv_ranges(changes, expected):
    layer = {"type": "conv", "out_channels": 4, "kernel_size": 3, **changes}
    message = spec_error(with_layers({"type": "relu"}, {"type": "relu"}, {"type": "relu"},
                                     layer))
    assert message == f"layer 3 (conv): {expected}"


def test_limits_themselves_are_allowed():
    model_spec = S.parse_spec(minimal(input=[3, 256, 256], layers=[
        {"type": "conv", "out_channels": 512, "kernel_size": 11, "stride": 16,
         "padding": 16, "dilation": 1},
        *[{"type": "relu"}] * 31]))
    assert len(model_spec.layers) == 32
    assert model_spec.layers[0].out_channels == 512
    assert one_layer({"type": "linear", "out_features": 4096}).out_features == 4096
    assert S.parse_spec(minimal(num_classes=1000)).num_classes == 1000
    assert S.parse_spec(minimal(num_classes=2)).num_classes == 2


def test_more_than_32_layers():
    assert spec_error(minimal(layers=[{"type": "relu"}] * 33)) == (
        "layers: 33 layers is over the limit of 32")


def test_out_features_limit():
    assert spec_error(with_layers({"type": "flatten"}, {"type": "linear",
                                                        "out_features": 4097})) == (
        "layer 1 (linear): out_features 4097 is over the limit of 4096")


@pytest.mark.parametrize("shape, expected", [
    ([4, 32, 32], "input: C 4 is over the limit of 3 (largest input 3x256x256)"),
    ([3, 257, 32], "input: H 257 is over the limit of 256 (largest input 3x256x256)"),
    ([3, 32, 300], "input: W 300 is over the limit of 256 (largest input 3x256x256)"),
    ([0, 28, 28], "input: C must be positive, got 0"),
    ([1, -28, 28], "input: H must be positive, got -28"),
    ([1, 28], "input: must be a list of three integers [C, H, W], got [1, 28]"),
    ([1, 28, 28.0], "input: must be a list of three integers [C, H, W], got [1, 28, 28.0]"),
    ([1, 28, "28"], 'input: must be a list of three integers [C, H, W], got [1, 28, "28"]'),
    ([True, 28, 28], "input: must be a list of three integers [C, H, W], got [true, 28, 28]"),
    ("1x28x28", 'input: must be a list of three integers [C, H, W], got "1x28x28"'),
])
def test_input_errors(shape, expected):
    assert spec_error(minimal(input=shape)) == expected


def test_input_missing():
    data = minimal()
    del data["input"]
    assert spec_error(data).startswith("input: input is missing")


@pytest.mark.parametrize("value, expected", [
    (1, "num_classes: must be between 2 and 1000, got 1"),
    (1001, "num_classes: must be between 2 and 1000, got 1001"),
    (10.0, "num_classes: must be an integer, got 10.0"),
    (True, "num_classes: must be an integer, got true"),
    (None, "num_classes: num_classes is missing"),
])
def test_num_classes_errors(value, expected):
    assert spec_error(minimal(num_classes=value)) == expected


@pytest.mark.parametrize("p, expected", [
    (1, "p must be in [0, 1), got 1.0"),
    (1.5, "p must be in [0, 1), got 1.5"),
    (-0.1, "p must be in [0, 1), got -0.1"),
    (float("nan"), "p must be a finite number, got nan"),
    (float("inf"), "p must be a finite number, got inf"),
])
def test_dropout_p_out_of_range(p, expected):
    message = spec_error(with_layers({"type": "flatten"}, {"type": "dropout", "p": p}))
    assert message == f"layer 1 (dropout): {expected}"


def test_dropout_p_nan_from_json_text():
    text = json.dumps(with_layers({"type": "dropout", "p": 0.5})).replace("0.5", "NaN")
    assert "NaN" in text
    assert spec_error(text) == "layer 0 (dropout): p must be a finite number, got nan"


def test_dropout_p_zero_is_allowed():
    assert one_layer({"type": "dropout", "p": 0}).p == 0.0


@pytest.mark.parametrize("kind", ["maxpool", "avgpool"])
@pytest.mark.parametrize("kernel, padding, ok", [
    (2, 1, True), (2, 2, False), (3, 1, True), (3, 2, False), (5, 2, True), (5, 3, False)])
def test_pool_padding_at_most_half_the_kernel(kind, kernel, padding, ok):
    layer = {"type": kind, "kernel_size": kernel, "padding": padding}
    data = with_layers({"type": "relu"}, {"type": "relu"}, layer)
    if ok:
        model_spec = S.parse_spec(data)
        M.analyze(model_spec)  # torch agrees: the module builds and runs
    else:
        assert spec_error(data) == (
            f"layer 2 ({kind}): padding {padding} is over half the kernel_size {kernel} "
            f"(at most {kernel // 2})")


@pytest.mark.parametrize("field_name, value, expected", [
    ("name", 42, "name: name must be a string, got an integer 42"),
    ("name", ["a"], 'name: name must be a string, got a list ["a"]'),
    ("name", None, "name: name is missing"),
    ("name", "x" * 201, "name: name has 201 characters, over the limit of 200"),
    ("description", 7, "description: description must be a string, got an integer 7"),
    ("description", "x" * 5001,
     "description: description has 5,001 characters, over the limit of 5,000"),
])
def test_name_and_description_errors(field_name, value, expected):
    assert spec_error(minimal(**{field_name: value})) == expected


@pytest.mark.parametrize("text", ["", "{", '{"version": 1,', "not json", "[1, 2",
                                  '{"version": 1} trailing'])
def test_invalid_json_text(text):
    message = spec_error(text)
    assert message.startswith("file: not valid JSON (")
    assert "line 1, column" in message


def test_deeply_nested_json_is_a_spec_error():
    assert spec_error("[" * 100_000 + "]" * 100_000).startswith("file: not valid JSON")


@pytest.mark.parametrize("text, expected", [
    ("[]", "spec: a spec must be a JSON object, got a list"),
    ("null", "spec: a spec must be a JSON object, got null"),
    ('"spec"', "spec: a spec must be a JSON object, got a string"),
])
def test_spec_not_an_object(text, expected):
    assert spec_error(text) == expected


def test_layers_not_a_list():
    assert spec_error(minimal(layers={"type": "relu"})) == "layers: must be a list, got an object"


def test_load_spec_missing_file(tmp_path):
    with pytest.raises(S.SpecError) as caught:
        S.load_spec(tmp_path / "nope.json")
    assert str(caught.value).startswith("file: cannot read ")
    assert "nope.json" in str(caught.value)


def test_load_spec_bad_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"version": 2}', encoding="utf-8")
    with pytest.raises(S.SpecError, match=r"^version: version must be 1, got 2$"):
        S.load_spec(path)


def test_first_problem_is_reported():
    data = with_layers({"type": "conv", "out_channels": 0, "kernel_size": 3},
                       {"type": "nope"})
    assert spec_error(data).startswith("layer 0 (conv): out_channels must be positive")


def test_spec_error_attributes():
    with pytest.raises(S.SpecError) as caught:
        S.parse_spec(with_layers({"type": "relu"}, {"type": "conv", "out_channels": 4,
                                                    "kernel_size": 99}))
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.layer_index, error.layer_type, error.field_name) == (1, "conv", "kernel_size")
    assert error.reason == "kernel_size 99 is over the limit of 11"


# --- training section ------------------------------------------------------------------

@pytest.mark.parametrize("section, expected", [
    ({"lr": 0}, "training.lr: lr must be above 0 and at most 10, got 0"),
    ({"lr": "fast"}, 'training.lr: lr must be a number, got a string "fast"'),
    ({"optimizer": "rmsprop"},
     'training.optimizer: optimizer must be one of sgd, adam, adamw, got "rmsprop"'),
    ({"schedule": "cosine"},
     'training.schedule: schedule must be one of constant, onecycle, linear, got "cosine"'),
    ({"batch_size": 4096}, "training.batch_size: batch_size 4096 is over the limit of 2048"),
    ({"batch_size": 0}, "training.batch_size: batch_size must be positive, got 0"),
    ({"epochs": 201}, "training.epochs: epochs 201 is over the limit of 200"),
    ({"momentum": 1}, "training.momentum: momentum must be in [0, 1), got 1"),
    ({"weight_decay": -1}, "training.weight_decay: weight_decay must be 0 or more, got -1"),
    ({"augment": "yes"}, 'training.augment: augment must be true or false, got "yes"'),
    ({"seed": -1}, "training.seed: seed must be at least 0, got -1"),
    ({"dataset": "imagenet"}, "training.dataset: dataset must be mnist, fashion-mnist, "
                              "cifar10, folder:PATH or upload:NAME (NAME: letters, digits, '-', '_', '.'), "
     'got "imagenet"'),
    ({"dataset": "folder:"}, "training.dataset: dataset must be mnist, fashion-mnist, "
                             "cifar10, folder:PATH or upload:NAME (NAME: letters, digits, '-', '_', '.'), "
     'got "folder:"'),
    ({"dataset": "upload:../etc"}, "training.dataset: dataset must be mnist, fashion-mnist, "
     "cifar10, folder:PATH or upload:NAME (NAME: letters, digits, '-', '_', '.'), "
     'got "upload:../etc"'),
    ({"hidden_panels": "fft"},
     'training.hidden_panels: hidden_panels must be a list of strings, got "fft"'),
])
def test_training_section_errors(section, expected):
    assert spec_error(minimal(training=section)) == expected


def test_training_section_not_an_object():
    assert spec_error(minimal(training=[1])) == "training: must be an object, got a list"


def test_training_section_parses():
    section = {"dataset": "folder:/tmp/x", "optimizer": "sgd", "lr": 0.1, "momentum": 0.5,
               "batch_size": 32, "epochs": 3, "weight_decay": 0, "schedule": "onecycle",
               "augment": True, "seed": 7, "hidden_panels": ["fft"]}
    model_spec = S.parse_spec(minimal(training=section))
    assert model_spec.training == S.TrainingSpec(**section)
    assert model_spec.to_dict()["training"] == section
    partial = S.parse_spec(minimal(training={"lr": 0.5, "epochs": None}))
    assert partial.to_dict()["training"] == {"lr": 0.5}  # unset keys are not written


def test_resolve_training_defaults():
    config = S.resolve_training(None)
    assert config == S.TrainingConfig()
    assert (config.dataset, config.optimizer, config.lr, config.batch_size, config.epochs,
            config.schedule, config.augment, config.seed) == (
        "mnist", "adam", 0.001, 64, 1, "constant", False, 0)


def test_resolve_training_precedence():
    section = S.TrainingSpec(dataset="cifar10", lr=0.1, batch_size=32, augment=True, seed=5)
    config = S.resolve_training(section, lr=0.02, epochs=4, augment=None, batch_size=None)
    assert config.lr == 0.02  # override beats the spec
    assert config.epochs == 4  # override beats the default
    assert config.batch_size == 32  # a None override leaves the spec's value
    assert config.augment is True
    assert config.dataset == "cifar10" and config.seed == 5  # spec beats the default
    assert config.optimizer == "adam" and config.momentum == 0.9  # defaults fill the rest
    # an explicit False override is a value, not "unset"
    assert S.resolve_training(section, augment=False).augment is False
    assert S.resolve_training(section, seed=0).seed == 0


def test_resolve_training_from_a_preset():
    model_spec = S.load_spec(PRESET_DIR / "resnet_cifar10.json")
    config = S.resolve_training(model_spec.training, epochs=1)
    assert (config.dataset, config.optimizer, config.lr, config.momentum, config.weight_decay,
            config.batch_size, config.epochs, config.augment) == (
        "cifar10", "sgd", 0.1, 0.9, 0.0005, 128, 1, True)
    assert model_spec.training.epochs == 15  # the spec itself is not changed


@pytest.mark.parametrize("overrides, expected", [
    ({"lr": -1.0}, "training.lr: lr must be above 0"),
    ({"lr": math.nan}, "training.lr: lr must be a finite number"),
    ({"batch_size": 0}, "training.batch_size: batch_size must be positive, got 0"),
    ({"batch_size": 1.5}, "training.batch_size: batch_size must be an integer"),
    ({"epochs": 1000}, "training.epochs: epochs 1000 is over the limit of 200"),
    ({"optimizer": "lbfgs"}, "training.optimizer: optimizer must be one of sgd, adam, adamw"),
    ({"dataset": "svhn"}, "training.dataset: dataset must be mnist"),
    ({"momentum": 1.5}, "training.momentum: momentum must be in [0, 1)"),
    ({"schedule": "step"}, "training.schedule: schedule must be one of constant, onecycle"),
])
def test_resolve_training_bad_override(overrides, expected):
    with pytest.raises(S.SpecError) as caught:
        S.resolve_training(S.TrainingSpec(lr=0.1), **overrides)
    assert str(caught.value).startswith(expected)


def test_resolve_training_unknown_override_is_not_ignored():
    with pytest.raises(TypeError, match="learning_rate"):
        S.resolve_training(None, learning_rate=0.1)


# --- property: any valid spec round-trips ----------------------------------------------

small = st.integers(min_value=1, max_value=5)
layer_dicts = st.one_of(
    st.fixed_dictionaries({"type": st.just("conv"), "out_channels": st.integers(1, 512),
                           "kernel_size": st.integers(1, 11)},
                          optional={"stride": small | st.none(), "padding": st.integers(0, 16),
                                    "dilation": st.integers(1, 8), "bias": st.booleans()}),
    st.integers(1, 11).flatmap(lambda k: st.fixed_dictionaries(
        {"type": st.sampled_from(["maxpool", "avgpool"]), "kernel_size": st.just(k)},
        optional={"stride": small | st.none(), "padding": st.integers(0, k // 2)})),
    st.fixed_dictionaries({"type": st.sampled_from(
        ["relu", "sigmoid", "tanh", "gelu", "batchnorm", "flatten", "global_avgpool"])}),
    st.fixed_dictionaries({"type": st.just("leaky_relu")},
                          optional={"negative_slope": st.floats(-10, 10)}),
    st.fixed_dictionaries({"type": st.just("dropout")},
                          optional={"p": st.floats(0, 1, exclude_max=True)}),
    st.fixed_dictionaries({"type": st.just("linear"), "out_features": st.integers(1, 4096)}),
    st.fixed_dictionaries({"type": st.just("residual"), "out_channels": st.integers(1, 512)},
                          optional={"stride": small,
                                    "bottleneck_width": st.integers(1, 512) | st.none()}),
)


@settings(max_examples=60, deadline=None)
@given(layers=st.lists(layer_dicts, max_size=32),
       name=st.text(max_size=200), description=st.text(max_size=100),
       shape=st.tuples(st.integers(1, 3), st.integers(1, 256), st.integers(1, 256)))
def test_any_valid_spec_round_trips(layers, name, description, shape):
    data = {"version": 1, "name": name, "description": description, "input": list(shape),
            "num_classes": 10, "layers": layers}
    model_spec = S.parse_spec(copy.deepcopy(data))
    again = S.spec_from_json(model_spec.to_json())
    assert again == model_spec
    assert again.to_dict() == model_spec.to_dict()
    saved = model_spec.to_dict()["layers"]
    for raw, written in zip(layers, saved):
        # every field given (non-null) is written back unchanged; the rest are defaults
        for key, value in raw.items():
            if value is not None:
                assert written[key] == value
        assert set(written) == {"type", *S.layer_fields(raw["type"])}


# --- training settings from the fast presets ---------------------------------------------

@pytest.mark.parametrize("section, expected", [
    ({"label_smoothing": 0.5},
     "training.label_smoothing: label_smoothing must be in [0, 0.5), got 0.5"),
    ({"label_smoothing": "some"},
     'training.label_smoothing: label_smoothing must be a number, got a string "some"'),
    ({"nesterov": 1}, "training.nesterov: nesterov must be true or false, got 1"),
    ({"warmup_fraction": -0.1},
     "training.warmup_fraction: warmup_fraction must be in [0, 0.5), got -0.1"),
    ({"ema_decay": 1}, "training.ema_decay: ema_decay must be in (0, 1), got 1"),
    ({"ema_decay": 0}, "training.ema_decay: ema_decay must be in (0, 1), got 0"),
    ({"test_flip": "yes"}, 'training.test_flip: test_flip must be true or false, got "yes"'),
    ({"cpu_bf16": 1}, "training.cpu_bf16: cpu_bf16 must be true or false, got 1"),
    ({"channels_last": "on"},
     'training.channels_last: channels_last must be true or false, got "on"'),
    ({"schedule": "cosine"},
     'training.schedule: schedule must be one of constant, onecycle, linear, got "cosine"'),
])
def test_fast_training_setting_errors(section, expected):
    assert spec_error(minimal(training=section)) == expected


def test_fast_training_settings_parse_and_round_trip():
    section = {"optimizer": "sgd", "schedule": "linear", "label_smoothing": 0.2,
               "nesterov": False, "warmup_fraction": 0.1, "ema_decay": 0.99, "test_flip": True}
    model_spec = S.parse_spec(minimal(training=section))
    assert model_spec.to_dict()["training"] == section
    assert S.spec_from_json(model_spec.to_json()) == model_spec
    config = S.resolve_training(model_spec.training, ema_decay=0.9)
    assert (config.label_smoothing, config.nesterov, config.ema_decay) == (0.2, False, 0.9)


def test_fast_training_defaults_keep_todays_behaviour():
    config = S.resolve_training(None)
    assert (config.label_smoothing, config.nesterov, config.warmup_fraction, config.ema_decay,
            config.test_flip, config.cpu_bf16, config.channels_last) == (
                0.0, None, 0.0, None, False, False, False)
    # a spec that sets none of them writes none of them
    assert "training" not in S.parse_spec(minimal(training={"ema_decay": None})).to_dict()
