"""The 3x3 kernels the lessons offer by name (blur, edges, sharpen, ...)."""
from __future__ import annotations

import numpy as np


KERNEL_PRESETS: dict[str, list[list[float]]] = {
    "box (mean)": [[1 / 9] * 3] * 3,
    "Gaussian": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],
    "Sobel x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "Sobel y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "Laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
    "shift right": [[0, 0, 0], [1, 0, 0], [0, 0, 0]],
}


def kernel_preset(name: str) -> np.ndarray:
    """The named preset as a float64 [3, 3] array."""
    return np.array(KERNEL_PRESETS[name], dtype=np.float64)
