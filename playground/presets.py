"""The bundled example networks in assets/presets/."""
from __future__ import annotations

from pathlib import Path

from playground.spec import ModelSpec, load_spec

PRESET_DIR = Path(__file__).resolve().parent.parent / "assets" / "presets"
DEFAULT_PRESET = "mnist_fast"


def preset_names() -> list[str]:
    """File stems, the default first."""
    names = sorted(path.stem for path in PRESET_DIR.glob("*.json"))
    return sorted(names, key=lambda name: name != DEFAULT_PRESET)


def load_preset(name: str) -> ModelSpec:
    return load_spec(PRESET_DIR / f"{name}.json")
