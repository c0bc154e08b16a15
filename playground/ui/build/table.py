"""The Build page's live analysis table: per layer its output shape, parameters,
receptive field, jump and multiply-adds, each number opening the formula behind it, and
the totals below.

The numbers come from the model analysis (the real module); the formulas explain them.
"""
from __future__ import annotations

import dataclasses
import html

import streamlit as st

from playground import spec as S
from playground.model import build as M
from playground.model import formulas as F
from playground.ui.build.layer_labels import NAMES, in_page_words, layer_summary, type_name

# A number's formula row opens under its layer when the number is clicked (pure CSS).
CSS = """.pg-table {border-collapse: collapse; width: 100%; font-size: 17px;}
.pg-table th {text-align: left; border-bottom: 2px solid #d0d7de; padding: 4px 6px;
  font-size: 15px; color: #57606a; font-weight: 600; white-space: nowrap;}
.pg-table td {border-bottom: 1px solid #eaeef2; padding: 4px 6px; vertical-align: top;}
.pg-table td.num {text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap;}
.pg-table td.name {white-space: nowrap;}
.pg-table tr.auto td {color: #57606a; font-style: italic;}
.pg-table tr.bad td {background: #ffebe9; color: #b42318; font-weight: 600;}
.pg-table tr.bad-reason td {background: #ffebe9; color: #b42318; font-size: 16px;}
.pg-table tr.later td {color: #8c959f;}
.pg-table summary, .pg-total summary {cursor: pointer; list-style: none;
  text-decoration: underline dotted #8c959f; text-underline-offset: 4px;}
.pg-table summary::-webkit-details-marker, .pg-total summary::-webkit-details-marker
  {display: none;}
.pg-table details[open] > summary {background: #ddf4ff; border-radius: 4px;}
.pg-table tr.fx {display: none;}
.pg-table tr:has(details[open]) + tr.fx {display: table-row;}
.pg-table tr.fx > td {background: #f6f8fa; border-bottom: 2px solid #d0d7de;}
.pg-fxs {display: flex; flex-wrap: wrap; gap: 6px 12px;}
.pg-fxs > div {display: none; flex: 1 1 260px;}
.pg-table tr:has(td.c-out details[open]) + tr.fx .fx-out,
.pg-table tr:has(td.c-params details[open]) + tr.fx .fx-params,
.pg-table tr:has(td.c-rf details[open]) + tr.fx .fx-rf,
.pg-table tr:has(td.c-jump details[open]) + tr.fx .fx-jump,
.pg-table tr:has(td.c-macs details[open]) + tr.fx .fx-macs {display: block;}
.pg-fx-label {font-size: 14px; font-weight: 600; color: #0969da;}
.pg-fx {font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 15px;
  font-weight: normal; font-style: normal; color: #1f2328; text-align: left;
  background: white; border-left: 3px solid #0969da; padding: 3px 8px; margin: 2px 0;}
.pg-fx .gen {color: #57606a; font-size: 14px;}
.pg-fx .note {font-family: Arial, sans-serif; color: #57606a; font-size: 14px;}
.pg-totals {display: flex; gap: 14px; flex-wrap: wrap; margin-top: 10px;}
.pg-total {flex: 1 1 180px; border: 1px solid #d0d7de; border-radius: 8px; padding: 6px 10px;}
.pg-total .label {font-size: 15px; color: #57606a;}
.pg-total summary {font-size: 24px; font-weight: 600;}
.pg-total .pg-fx {font-size: 14px;}
"""
HEADER = ("<tr><th>#</th><th>layer</th><th style='text-align:right'>output</th>"
          "<th style='text-align:right'>params</th>"
          "<th style='text-align:right' title='receptive field'>RF</th>"
          "<th style='text-align:right'>jump</th>"
          "<th style='text-align:right' title='multiply-adds per image'>MACs</th></tr>")


def show(model_spec: S.ModelSpec, analysis: M.Analysis | None,
         error: S.SpecError | None) -> None:
    """The table of `model_spec` (up to its first problem, then that problem) and totals."""
    st.subheader("Shapes, parameters, receptive field")
    open_all = st.toggle("Show every formula", key="show_formulas",
                         help="Or click any underlined number to see how it is computed")
    if analysis is not None:
        infos = analysis.layers
    elif error is not None and error.layer_index is not None:
        infos = _partial(model_spec, error.layer_index)
    else:
        infos = []
    rows = [f"<tr><td></td><td>input</td><td class='num'>{F.shape_text(model_spec.input)}"
            "</td><td class='num'>0</td><td class='num'>1</td><td class='num'>1</td>"
            "<td class='num'>0</td></tr>"]
    for row in F.explain(M.Analysis(tuple(model_spec.input), infos)):
        rows += _layer_rows(row, open_all)
    if error is not None and error.layer_index is not None:
        rows += _problem_rows(model_spec.layers, error)
    st.html(f"<table class='pg-table'>{HEADER}{''.join(rows)}</table>")
    if analysis is not None:
        _totals(model_spec, analysis, open_all)


def _fx(*formulas: F.Formula | None, extra: str = "") -> str:
    """Each formula as a box: the general rule, then this network's numbers."""
    parts = []
    for formula in formulas:
        if formula is None:
            continue
        note = f"<br><span class='note'>{html.escape(formula.note)}</span>" if formula.note \
            else ""
        parts.append(f"<div class='pg-fx'><span class='gen'>{html.escape(formula.general)}"
                     f"</span><br>{html.escape(formula.filled)}{note}</div>")
    return "".join(parts) + extra


def _partial(model_spec: S.ModelSpec, upto: int) -> list[M.LayerInfo]:
    """The analysis of the layers before a broken one, so the table can show them.

    The parameter cap is lifted here (a cap error is about the total, and the layers
    before it are fine); shape errors cannot occur before the first one."""
    relaxed = dataclasses.replace(S.LIMITS, max_params=2**62)
    prefix = model_spec.replace(layers=model_spec.layers[:upto])
    try:
        analysis = M.analyze(prefix if upto < len(model_spec.layers) else model_spec, relaxed)
    except S.SpecError:
        return []
    return [info for info in analysis.layers if info.index < upto]


def _layer_rows(row: F.LayerFormulas, open_all: bool) -> list[str]:
    """A layer's row of numbers, then the (hidden) row of the formulas behind them."""
    info = row.info
    auto = " (auto)" if info.auto else ""
    layer_text = html.escape((layer_summary(info.layer) if not info.auto
                              else NAMES[info.type]) + auto)
    rf = "-" if info.receptive_field is None else str(info.receptive_field)
    jump = "-" if info.jump is None else str(info.jump)
    numbers = [("out", "output size", F.shape_text(info.output_shape), row.output),
               ("params", "parameters", f"{info.params:,}", [row.params]),
               ("rf", "receptive field", rf,
                [row.receptive_field] if info.receptive_field else []),
               ("jump", "jump", jump, [row.jump] if info.jump else []),
               ("macs", "multiply-adds per image", f"{info.macs:,}",
                [row.macs] if info.macs else [])]
    opened = " open" if open_all else ""
    cells = [f"<td>{info.index}</td>", f"<td class='name'>{layer_text}</td>"]
    boxes = []
    for name, label, text, shown in numbers:
        shown = [formula for formula in shown if formula is not None]
        if not shown:
            cells.append(f"<td class='num c-{name}'>{text}</td>")
            continue
        cells.append(f"<td class='num c-{name}'><details{opened}><summary>{text}"
                     "</summary></details></td>")
        box = f"<div class='pg-fx-label'>{label}</div>{_fx(*shown)}"
        if name == "params" and row.fully_connected is not None:  # parameter sharing
            box += ("<div class='pg-fx-label'>a fully-connected layer instead (same "
                    "input, same output)</div>" + _fx(row.fully_connected))
        boxes.append(f"<div class='fx-{name}'>{box}</div>")
    return [f"<tr class='{'auto' if info.auto else ''}'>{''.join(cells)}</tr>",
            f"<tr class='fx'><td></td><td colspan='6'><div class='pg-fxs'>"
            f"{''.join(boxes)}</div></td></tr>"]


def _problem_rows(layers: list[S.Layer], error: S.SpecError) -> list[str]:
    """The layer that cannot work, with the reason, and the layers after it."""
    reason = (f"<tr class='bad-reason'><td></td><td colspan='6'>"
              f"{html.escape(in_page_words(error.reason))}</td></tr>")
    rows = []
    if error.layer_index >= len(layers):  # the automatic head
        rows += [f"<tr class='bad'><td>{error.layer_index}</td><td>"
                 f"{type_name(error.layer_type)} (auto)</td>"
                 "<td colspan='5'>cannot work</td></tr>", reason]
    for index in range(error.layer_index, len(layers)):
        text = html.escape(layer_summary(layers[index]))
        if index == error.layer_index:
            rows += [f"<tr class='bad'><td>{index}</td><td>{text}</td>"
                     "<td colspan='5'>cannot work</td></tr>", reason]
        else:
            rows.append(f"<tr class='later'><td>{index}</td><td>{text}</td>"
                        "<td colspan='5'>not computed</td></tr>")
    return rows


def _totals(model_spec: S.ModelSpec, analysis: M.Analysis, open_all: bool) -> None:
    batch = S.resolve_training(model_spec.training).batch_size
    params, memory, macs = (F.total_params(analysis),
                            F.activation_memory(analysis, batch), F.total_macs(analysis))
    opened = " open" if open_all else ""
    boxes = [("Parameters", f"{params.value:,}", params),
             (f"Activations, one batch of {batch}", F.memory_text(memory.value), memory),
             ("Multiply-adds per image", f"{macs.value:,}", macs)]
    st.html("<div class='pg-totals'>" + "".join(
        f"<div class='pg-total'><div class='label'>{label}</div><details{opened}>"
        f"<summary>{value}</summary>{_fx(formula)}</details></div>"
        for label, value, formula in boxes) + "</div>")
