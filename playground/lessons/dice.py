"""Convolution outside images: the distribution of a sum of dice is the convolution of
the dice's distributions, computed with the signals' `conv1d` and checked by counting."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from playground.lessons.latex import shorten_terms
from playground.lessons.signals import full_convolution


def uniform_die(faces: int) -> np.ndarray:
    """P(X = 1..faces) for a fair die."""
    if faces < 1:
        raise ValueError(f"a die needs at least one face (got {faces})")
    return np.full(faces, 1.0 / faces)


@dataclass
class DiceSum:
    faces: int
    dice: int
    values: list[int]            # possible sums: dice ... dice * faces
    probabilities: np.ndarray    # from repeated conv1d
    fractions: list[Fraction]    # the same as exact fractions over faces**dice
    enumerated: np.ndarray       # counted over all faces**dice outcomes
    max_error: float


def dice_sum(faces: int = 6, dice: int = 2) -> DiceSum:
    """The distribution of the sum of `dice` fair dice, f_Z = f_X * f_Y * ..., computed
    with `full_convolution` (the same conv1d as the signals), and checked by counting every
    outcome."""
    if not 1 <= dice <= 6:
        raise ValueError(f"dice must be 1..6 (got {dice})")
    die = uniform_die(faces)
    distribution = die
    for _ in range(dice - 1):
        distribution = full_convolution(distribution, die)
    outcomes = np.zeros(1)
    for _ in range(dice):
        outcomes = np.add.outer(outcomes, np.arange(1, faces + 1)).ravel()
    counts = np.bincount(outcomes.astype(int) - dice, minlength=len(distribution))
    enumerated = counts / faces ** dice
    total = faces ** dice
    return DiceSum(faces, dice, list(range(dice, dice * faces + 1)), distribution,
                   [Fraction(round(p * total), total) for p in distribution], enumerated,
                   float(np.abs(distribution - enumerated).max()))


def dice_terms_latex(faces: int, z: int) -> str:
    """P(Z = z) = sum_x f_X(x) f_Y(z - x) for two dice, filled in at z: the pairs that
    make z on one line, their probabilities on the next."""
    pairs = [(x, z - x) for x in range(1, faces + 1) if 1 <= z - x <= faces]
    named = shorten_terms([rf"f_X({x})f_Y({y})" for x, y in pairs], keep=6)
    exact = Fraction(len(pairs), faces * faces)
    reduced = (rf" = \frac{{{exact.numerator}}}{{{exact.denominator}}}"
               if exact.denominator != faces * faces else "")
    return (r"\begin{aligned} " + rf"P(Z={z}) &= \sum_x f_X(x)\,f_Y({z}-x) = "
            + " + ".join(named) + r" \\ "
            + rf"&= {len(pairs)} \times \frac{{1}}{{{faces}}}\cdot\frac{{1}}{{{faces}}} = "
            + rf"\frac{{{len(pairs)}}}{{{faces * faces}}}" + reduced + r" \end{aligned}")
