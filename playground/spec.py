"""The spec: the one plain-data description of a network (DESIGN.md, spec JSON version 1).

Parsing checks everything that can be checked without shapes: types, unknown fields,
ranges and limits. Shape rules (kernel larger than its input, linear on spatial input)
need the real module and live in `model.analyze`.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

SPEC_VERSION = 1


@dataclass(frozen=True)
class Limits:
    """Caps that keep one session from taking a shared classroom server down."""

    max_layers: int = 32
    max_channels: int = 512
    max_features: int = 4096
    max_kernel: int = 11
    max_stride: int = 16
    max_padding: int = 16
    max_dilation: int = 8
    max_params: int = 20_000_000
    max_input: tuple[int, int, int] = (3, 256, 256)
    max_classes: int = 1000
    max_name_chars: int = 200
    max_description_chars: int = 5000
    max_batch_size: int = 2048
    # Layer outputs of one training batch (float32): what a forward pass keeps for backward.
    max_activation_bytes: int = 2**30
    # Work of one training step, in multiply-adds counting what layers store
    # (model.build.STEP_WORK): about a second on a 2-core CPU, so that a stop, which
    # can only be seen between two steps, takes effect within about a second.
    max_step_macs: int = 20 * 10**9
    max_epochs: int = 200
    max_snapshot_bytes: int = 256 * 2**20


LIMITS = Limits()


class SpecError(ValueError):
    """One problem in a spec, located by layer index or by field path."""

    def __init__(self, message: str, layer_index: int | None = None,
                 layer_type: str | None = None, field_name: str | None = None,
                 where: str | None = None):
        self.reason = message
        self.layer_index = layer_index
        self.layer_type = layer_type
        self.field_name = field_name
        if layer_index is not None:
            prefix = f"layer {layer_index}" + (f" ({layer_type})" if layer_type else "")
        else:
            prefix = where or field_name or "spec"
        super().__init__(f"{prefix}: {message}")


REQUIRED = object()  # marks a field with no default


# --- layers ---------------------------------------------------------------------------
# One dataclass per layer type. Field order and defaults are the spec's contract.

@dataclass
class Conv:
    TYPE: ClassVar[str] = "conv"
    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    bias: bool = True


@dataclass
class MaxPool:
    TYPE: ClassVar[str] = "maxpool"
    kernel_size: int
    stride: int | None = None  # None means kernel_size; filled in by parse
    padding: int = 0


@dataclass
class AvgPool:
    TYPE: ClassVar[str] = "avgpool"
    kernel_size: int
    stride: int | None = None
    padding: int = 0


@dataclass
class ReLU:
    TYPE: ClassVar[str] = "relu"


@dataclass
class LeakyReLU:
    TYPE: ClassVar[str] = "leaky_relu"
    negative_slope: float = 0.01


@dataclass
class Sigmoid:
    TYPE: ClassVar[str] = "sigmoid"


@dataclass
class Tanh:
    TYPE: ClassVar[str] = "tanh"


@dataclass
class GELU:
    TYPE: ClassVar[str] = "gelu"


@dataclass
class BatchNorm:
    TYPE: ClassVar[str] = "batchnorm"


@dataclass
class Dropout:
    TYPE: ClassVar[str] = "dropout"
    p: float = 0.5


@dataclass
class Flatten:
    TYPE: ClassVar[str] = "flatten"


@dataclass
class Linear:
    TYPE: ClassVar[str] = "linear"
    out_features: int


@dataclass
class GlobalAvgPool:
    TYPE: ClassVar[str] = "global_avgpool"


@dataclass
class Residual:
    TYPE: ClassVar[str] = "residual"
    out_channels: int
    stride: int = 1
    bottleneck_width: int | None = None


Layer = (Conv | MaxPool | AvgPool | ReLU | LeakyReLU | Sigmoid | Tanh | GELU | BatchNorm
         | Dropout | Flatten | Linear | GlobalAvgPool | Residual)

LAYER_CLASSES: dict[str, type] = {cls.TYPE: cls for cls in (
    Conv, MaxPool, AvgPool, ReLU, LeakyReLU, Sigmoid, Tanh, GELU, BatchNorm, Dropout,
    Flatten, Linear, GlobalAvgPool, Residual)}
LAYER_TYPES: tuple[str, ...] = tuple(LAYER_CLASSES)


def layer_fields(layer_type: str) -> dict[str, Any]:
    """Field name -> default (REQUIRED when there is none), in contract order."""
    result = {}
    for f in dataclasses.fields(LAYER_CLASSES[layer_type]):
        result[f.name] = REQUIRED if f.default is dataclasses.MISSING else f.default
    return result


def make_layer(layer_type: str, **values: Any) -> Layer:
    """A validated layer from keyword values (the UI's and tests' way to make one)."""
    return parse_layer({"type": layer_type, **values}, index=0)


# --- training section ------------------------------------------------------------------

# Optimizer names as specs write them, with the label a page shows for each.
OPTIMIZER_LABELS = {"sgd": "SGD + momentum", "adam": "Adam", "adamw": "AdamW"}
OPTIMIZERS = tuple(OPTIMIZER_LABELS)
SCHEDULES = ("constant", "onecycle", "linear")
# A dataset uploaded in the page: a label, never a path (the page asks for the upload).
UPLOAD_NAME = re.compile(r"upload:[A-Za-z0-9._-]{1,64}")


@dataclass
class TrainingSpec:
    """A lesson's settings; None means "not set here" so flags and defaults can fill it."""

    dataset: str | None = None
    optimizer: str | None = None
    lr: float | None = None
    momentum: float | None = None
    batch_size: int | None = None
    epochs: int | None = None
    weight_decay: float | None = None
    schedule: str | None = None
    augment: bool | None = None
    seed: int | None = None
    hidden_panels: list[str] | None = None
    label_smoothing: float | None = None
    nesterov: bool | None = None
    warmup_fraction: float | None = None
    ema_decay: float | None = None
    test_flip: bool | None = None
    cpu_bf16: bool | None = None
    channels_last: bool | None = None


@dataclass
class TrainingConfig:
    """Every training setting resolved: flags over the spec's section over these defaults."""

    dataset: str = "mnist"
    optimizer: str = "adam"
    lr: float = 0.001
    momentum: float = 0.9
    batch_size: int = 64
    epochs: int = 1
    weight_decay: float = 0.0
    schedule: str = "constant"
    augment: bool = False
    seed: int = 0
    hidden_panels: list[str] = field(default_factory=list)
    label_smoothing: float = 0.0
    # None keeps the behaviour from before the setting existed: Nesterov whenever SGD has
    # momentum, so older specs train exactly as they did.
    nesterov: bool | None = None
    warmup_fraction: float = 0.0
    ema_decay: float | None = None   # None: no weight average
    test_flip: bool = False
    # bf16 autocast on a CPU that computes bf16 natively (AVX512-BF16 or AMX); no effect
    # on other CPUs, and GPUs use bf16 where native whatever this says.
    cpu_bf16: bool = False
    channels_last: bool = False      # NHWC activations and weights


def resolve_training(section: TrainingSpec | None, **overrides: Any) -> TrainingConfig:
    """Defaults, then the spec's training section, then overrides that are not None."""
    config = TrainingConfig()
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(TrainingConfig)})
    if unknown:  # a misspelled setting must not be silently ignored
        raise TypeError(f"resolve_training: unknown setting(s) {', '.join(unknown)}")
    for source in (dataclasses.asdict(section) if section else {}, overrides):
        for name, value in source.items():
            if value is not None:
                setattr(config, name, value)
    parse_training(dataclasses.asdict(config))  # the same checks as a spec file gets
    return config


# --- the whole spec --------------------------------------------------------------------

@dataclass
class ModelSpec:
    name: str
    input: tuple[int, int, int]
    num_classes: int
    layers: list[Layer] = field(default_factory=list)
    description: str = ""
    training: TrainingSpec | None = None
    version: int = SPEC_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict in contract form; never contains the automatic head."""
        data: dict[str, Any] = {"version": self.version, "name": self.name}
        if self.description:
            data["description"] = self.description
        data["input"] = list(self.input)
        data["num_classes"] = self.num_classes
        data["layers"] = [layer_to_dict(layer) for layer in self.layers]
        if self.training is not None:
            section = {k: v for k, v in dataclasses.asdict(self.training).items()
                       if v is not None}
            if section:
                data["training"] = section
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def replace(self, **changes: Any) -> "ModelSpec":
        return dataclasses.replace(self, **changes)


def layer_to_dict(layer: Layer) -> dict[str, Any]:
    return {"type": layer.TYPE, **dataclasses.asdict(layer)}


def load_spec(path: str | Path) -> ModelSpec:
    """Read and validate a spec file. Raises SpecError with one readable line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}",
                        where="file") from None
    return spec_from_json(text)


def spec_from_json(text: str) -> ModelSpec:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SpecError(f"not valid JSON ({error.msg} at line {error.lineno}, "
                        f"column {error.colno})", where="file") from None
    except RecursionError:
        raise SpecError("not valid JSON (nested too deeply)", where="file") from None
    except ValueError:  # Python refuses to convert integers of over 4,300 digits
        raise SpecError(f"not valid JSON (a number has more than "
                        f"{sys.get_int_max_str_digits():,} digits)", where="file") from None
    return parse_spec(data)


# --- checking values -------------------------------------------------------------------

def _describe(value: Any) -> str:
    text = json.dumps(value) if _json_safe(value) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _json_safe(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
        return True
    except (TypeError, ValueError, RecursionError):
        return False


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _check_int(value: Any, name: str, low: int, high: int | None, raise_at) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise_at(name, f"{name} must be an integer, got {_type_name(value)} {_describe(value)}")
    if value < low:
        kind = "positive" if low == 1 else f"at least {low}"
        raise_at(name, f"{name} must be {kind}, got {value}")
    if high is not None and value > high:
        raise_at(name, f"{name} {value} is over the limit of {high}")
    return value


def _check_number(value: Any, name: str, raise_at) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise_at(name, f"{name} must be a number, got {_type_name(value)} {_describe(value)}")
    if not math.isfinite(value):
        raise_at(name, f"{name} must be a finite number, got {value}")
    return float(value)


def _check_choice(value: Any, name: str, choices: tuple[str, ...], raise_at) -> str:
    if not isinstance(value, str) or value not in choices:
        raise_at(name, f"{name} must be one of {', '.join(choices)}, got {_describe(value)}")
    return value


def parse_layer(data: Any, index: int, limits: Limits = LIMITS) -> Layer:
    if not isinstance(data, dict):
        raise SpecError(f"must be an object with a \"type\", got {_type_name(data)}",
                        layer_index=index)
    layer_type = data.get("type")
    if not isinstance(layer_type, str) or layer_type not in LAYER_CLASSES:
        raise SpecError(f"unknown type {_describe(layer_type)}; known types: "
                        f"{', '.join(LAYER_TYPES)}", layer_index=index)

    def raise_at(field_name: str, message: str):
        raise SpecError(message, layer_index=index, layer_type=layer_type,
                        field_name=field_name)

    fields = layer_fields(layer_type)
    for name in data:
        if name != "type" and name not in fields:
            allowed = ", ".join(fields) or "none"
            raise_at(name, f"unknown field {_describe(name)} (fields of {layer_type}: {allowed})")
    values = {}
    for name, default in fields.items():
        value = data.get(name)
        if value is None:
            if default is REQUIRED:
                raise_at(name, f"{name} is missing")
            value = default
        values[name] = value
    _check_layer_values(layer_type, values, limits, raise_at)
    return LAYER_CLASSES[layer_type](**values)


def _check_layer_values(layer_type: str, values: dict[str, Any], limits: Limits,
                        raise_at) -> None:
    if "out_channels" in values:
        _check_int(values["out_channels"], "out_channels", 1, limits.max_channels, raise_at)
    if "out_features" in values:
        _check_int(values["out_features"], "out_features", 1, limits.max_features, raise_at)
    if "kernel_size" in values:
        _check_int(values["kernel_size"], "kernel_size", 1, limits.max_kernel, raise_at)
    if "dilation" in values:
        _check_int(values["dilation"], "dilation", 1, limits.max_dilation, raise_at)
    if "padding" in values:
        _check_int(values["padding"], "padding", 0, limits.max_padding, raise_at)
    if layer_type in ("maxpool", "avgpool"):
        if values["stride"] is None:
            values["stride"] = values["kernel_size"]
        if values["padding"] * 2 > values["kernel_size"]:
            raise_at("padding", f"padding {values['padding']} is over half the kernel_size "
                                f"{values['kernel_size']} (at most {values['kernel_size'] // 2})")
    if "stride" in values:
        _check_int(values["stride"], "stride", 1, limits.max_stride, raise_at)
    if values.get("bottleneck_width") is not None:
        _check_int(values["bottleneck_width"], "bottleneck_width", 1, limits.max_channels,
                   raise_at)
    if "bias" in values and not isinstance(values["bias"], bool):
        raise_at("bias", f"bias must be true or false, got {_describe(values['bias'])}")
    if "negative_slope" in values:
        values["negative_slope"] = _check_number(values["negative_slope"], "negative_slope",
                                                 raise_at)
    if "p" in values:
        p = _check_number(values["p"], "p", raise_at)
        if not 0 <= p < 1:
            raise_at("p", f"p must be in [0, 1), got {p}")
        values["p"] = p


def parse_training(data: Any) -> TrainingSpec:
    def raise_at(field_name: str, message: str):
        raise SpecError(message, where=f"training.{field_name}")

    if not isinstance(data, dict):
        raise SpecError(f"must be an object, got {_type_name(data)}", where="training")
    known = {f.name for f in dataclasses.fields(TrainingSpec)}
    for name in data:
        if name not in known:
            raise SpecError(f"unknown field {_describe(name)} (known: {', '.join(known)})",
                            where="training")
    values = {name: value for name, value in data.items() if value is not None}
    checks = {
        "dataset": lambda v: _check_dataset_name(v, raise_at),
        "optimizer": lambda v: _check_choice(v, "optimizer", OPTIMIZERS, raise_at),
        "schedule": lambda v: _check_choice(v, "schedule", SCHEDULES, raise_at),
        "lr": lambda v: _check_positive_number(v, "lr", 10.0, raise_at),
        "momentum": lambda v: _check_fraction(v, "momentum", raise_at),
        "weight_decay": lambda v: _check_nonnegative_number(v, "weight_decay", raise_at),
        "batch_size": lambda v: _check_int(v, "batch_size", 1, LIMITS.max_batch_size, raise_at),
        "epochs": lambda v: _check_int(v, "epochs", 1, LIMITS.max_epochs, raise_at),
        "seed": lambda v: _check_int(v, "seed", 0, 2**63 - 1, raise_at),
        "augment": lambda v: _check_bool(v, "augment", raise_at),
        "hidden_panels": lambda v: _check_string_list(v, "hidden_panels", raise_at),
        "label_smoothing": lambda v: _check_below(v, "label_smoothing", 0.5, raise_at),
        "nesterov": lambda v: _check_bool(v, "nesterov", raise_at),
        "warmup_fraction": lambda v: _check_below(v, "warmup_fraction", 0.5, raise_at),
        "ema_decay": lambda v: _check_open_fraction(v, "ema_decay", raise_at),
        "test_flip": lambda v: _check_bool(v, "test_flip", raise_at),
        "cpu_bf16": lambda v: _check_bool(v, "cpu_bf16", raise_at),
        "channels_last": lambda v: _check_bool(v, "channels_last", raise_at),
    }
    return TrainingSpec(**{name: checks[name](value) for name, value in values.items()})


def _check_dataset_name(value: Any, raise_at) -> str:
    if not isinstance(value, str) or not (
            value in ("mnist", "fashion-mnist", "cifar10")
            or (value.startswith("folder:") and len("folder:") < len(value) <= 4096
                and _encodable(value) and "\0" not in value)
            or UPLOAD_NAME.fullmatch(value)):
        raise_at("dataset", "dataset must be mnist, fashion-mnist, cifar10, folder:PATH or "
                            "upload:NAME (NAME: letters, digits, '-', '_', '.'), "
                            f"got {_describe(value)}")
    return value


def _check_positive_number(value: Any, name: str, high: float, raise_at) -> float:
    number = _check_number(value, name, raise_at)
    if not 0 < number <= high:
        raise_at(name, f"{name} must be above 0 and at most {high:g}, got {number:g}")
    return number


def _check_nonnegative_number(value: Any, name: str, raise_at) -> float:
    number = _check_number(value, name, raise_at)
    if number < 0:
        raise_at(name, f"{name} must be 0 or more, got {number:g}")
    return number


def _check_fraction(value: Any, name: str, raise_at) -> float:
    number = _check_number(value, name, raise_at)
    if not 0 <= number < 1:
        raise_at(name, f"{name} must be in [0, 1), got {number:g}")
    return number


def _check_below(value: Any, name: str, high: float, raise_at) -> float:
    number = _check_number(value, name, raise_at)
    if not 0 <= number < high:
        raise_at(name, f"{name} must be in [0, {high:g}), got {number:g}")
    return number


def _check_open_fraction(value: Any, name: str, raise_at) -> float:
    number = _check_number(value, name, raise_at)
    if not 0 < number < 1:
        raise_at(name, f"{name} must be in (0, 1), got {number:g}")
    return number


def _check_bool(value: Any, name: str, raise_at) -> bool:
    if not isinstance(value, bool):
        raise_at(name, f"{name} must be true or false, got {_describe(value)}")
    return value


def _check_string_list(value: Any, name: str, raise_at) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise_at(name, f"{name} must be a list of strings, got {_describe(value)}")
    if len(value) > 100 or any(len(v) > 200 or not _encodable(v) for v in value):
        raise_at(name, f"{name} must be at most 100 panel names of up to 200 plain "
                       "characters each")
    return list(value)


def _encodable(text: str) -> bool:
    """False for text with lone surrogates (JSON's "\\ud800"): it cannot be written as UTF-8."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _check_text(data: dict, name: str, limit: int, required: bool) -> str:
    value = data.get(name)
    if value is None:
        if required:
            raise SpecError(f"{name} is missing", where=name)
        return ""
    if not isinstance(value, str):
        raise SpecError(f"{name} must be a string, got {_type_name(value)} {_describe(value)}",
                        where=name)
    if len(value) > limit:
        raise SpecError(f"{name} has {len(value):,} characters, over the limit of {limit:,}",
                        where=name)
    if not _encodable(value):
        raise SpecError(f"{name} holds an invalid character (half of a UTF-16 pair)",
                        where=name)
    return value


def _check_input(value: Any, limits: Limits) -> tuple[int, int, int]:
    if (not isinstance(value, list) or len(value) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise SpecError(f"must be a list of three integers [C, H, W], got {_describe(value)}",
                        where="input")
    for axis, size, cap in zip("CHW", value, limits.max_input):
        if size < 1:
            raise SpecError(f"{axis} must be positive, got {size}", where="input")
        if size > cap:
            raise SpecError(f"{axis} {size} is over the limit of {cap} "
                            f"(largest input {'x'.join(map(str, limits.max_input))})",
                            where="input")
    return tuple(value)


def parse_spec(data: Any, limits: Limits = LIMITS) -> ModelSpec:
    """Validate a decoded JSON object into a ModelSpec; the first problem raises SpecError."""
    if not isinstance(data, dict):
        raise SpecError(f"a spec must be a JSON object, got {_type_name(data)}", where="spec")
    known = ("version", "name", "description", "input", "num_classes", "layers", "training")
    for name in data:
        if name not in known:
            raise SpecError(f"unknown field {_describe(name)} (known: {', '.join(known)})",
                            where="spec")
    version = data.get("version")
    if type(version) is not int or version != SPEC_VERSION:  # 1.0 and true are not 1
        raise SpecError(f"version must be {SPEC_VERSION}, got {_describe(version)}",
                        where="version")
    name = _check_text(data, "name", limits.max_name_chars, required=True)
    description = _check_text(data, "description", limits.max_description_chars,
                              required=False)
    if "input" not in data or data["input"] is None:
        raise SpecError("input is missing (expected [C, H, W])", where="input")
    input_shape = _check_input(data["input"], limits)
    num_classes = data.get("num_classes")
    if num_classes is None:
        raise SpecError("num_classes is missing", where="num_classes")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int):
        raise SpecError(f"must be an integer, got {_describe(num_classes)}",
                        where="num_classes")
    if not 2 <= num_classes <= limits.max_classes:
        raise SpecError(f"must be between 2 and {limits.max_classes}, got {num_classes}",
                        where="num_classes")
    raw_layers = data.get("layers")
    raw_layers = [] if raw_layers is None else raw_layers
    if not isinstance(raw_layers, list):
        raise SpecError(f"must be a list, got {_type_name(raw_layers)}", where="layers")
    if len(raw_layers) > limits.max_layers:
        raise SpecError(f"{len(raw_layers)} layers is over the limit of {limits.max_layers}",
                        where="layers")
    layers = [parse_layer(item, index, limits) for index, item in enumerate(raw_layers)]
    training = data.get("training")
    training = None if training is None else parse_training(training)
    if training == TrainingSpec():  # an empty section sets nothing (and is never saved)
        training = None
    return ModelSpec(name=name, description=description, input=input_shape,
                     num_classes=num_classes, layers=layers, training=training)
