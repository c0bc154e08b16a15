"""Numbers and sums written for KaTeX, the way every lesson's formulas show them."""
from __future__ import annotations


def latex_int(value: int) -> str:
    """An integer for LaTeX with thousands separators ({,} keeps KaTeX from spacing)."""
    return f"{value:,}".replace(",", "{,}")


def sci_latex(value: float) -> str:
    """A small error for LaTeX: 3.6e-15 -> 3.6\\times 10^{-15}; exactly 0 -> 0."""
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.1e}".split("e")
    return rf"{mantissa}\times 10^{{{int(exponent)}}}"


def shorten_terms(terms: list[str], keep: int = 5) -> list[str]:
    """A long sum cut to its first three terms, a \\cdots and the last one."""
    return terms if len(terms) <= keep else terms[:3] + [r"\cdots"] + terms[-1:]
