"""The dice lesson: sums of dice by convolution, checked by counting every outcome."""
from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from playground.lessons.dice import dice_sum, dice_terms_latex, uniform_die


def test_two_dice_are_one_to_six_to_one_over_36():
    result = dice_sum(6, 2)
    assert result.values == list(range(2, 13))
    assert [f * 36 for f in result.fractions] == [1, 2, 3, 4, 5, 6, 5, 4, 3, 2, 1]
    np.testing.assert_allclose(result.probabilities,
                               np.array([1, 2, 3, 4, 5, 6, 5, 4, 3, 2, 1]) / 36, atol=1e-15)
    assert result.max_error < 1e-15 and sum(result.fractions) == 1


@pytest.mark.parametrize("faces,dice", [(4, 3), (12, 2), (6, 5), (2, 4)])
def test_dice_sums_match_counting_every_outcome(faces, dice):
    result = dice_sum(faces, dice)
    counts = {}
    for roll in itertools.product(range(1, faces + 1), repeat=dice):
        counts[sum(roll)] = counts.get(sum(roll), 0) + 1
    assert result.fractions == [Fraction(counts[z], faces ** dice) for z in result.values]
    assert result.max_error < 1e-12


def test_dice_formula_is_filled_in():
    text = dice_terms_latex(6, 7)
    assert text.count("f_X(") == 7 and "f_X(1)f_Y(6)" in text and "f_X(6)f_Y(1)" in text
    assert r"6 \times \frac{1}{6}\cdot\frac{1}{6} = \frac{6}{36} = \frac{1}{6}" in text
    assert r"= \frac{1}{36} \end" in dice_terms_latex(6, 2)
    with pytest.raises(ValueError):
        uniform_die(0)
