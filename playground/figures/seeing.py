"""Figure builders for the Inspect page's panels on what the network sees: favourite
images, attribution maps, adversarial noise and the feature space. Arrays in, plotly
figures out (no torch), each layout one dict, drawn in the session's `Style`."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from playground.figures.inspection import (_caption, _figure, _image_trace, _square_axes,
                                           _symmetric_limit, grad_cam_overlay, tile)
from playground.figures.style import DEFAULT, Style


# --- image grids --------------------------------------------------------------------------

CAPTIONED = 16          # grids of at most this many tiles name each tile under it
CAPTION_ROOM = 0.35     # of a tile's height, left free under it for its name


def image_grid(images: np.ndarray, names: Sequence[str], title: str = "",
               columns: int | None = None, *, style: Style = DEFAULT) -> go.Figure:
    """Images [N, H, W, C] in [0, 1] tiled on one grid, each outlined (a white image must
    not melt into the page) and named on hover and, for a few, under the tile."""
    images = np.asarray(images, dtype=np.float32)
    count, height, width, channels = images.shape
    room = int(np.ceil(CAPTION_ROOM * height)) if count <= CAPTIONED else 0
    padded = np.pad(images, ((0, 0), (0, room), (0, 0), (0, 0)), constant_values=np.nan)
    planes = [tile(padded[..., c], columns) for c in range(channels)]
    owner = planes[0][1]
    stacked = np.stack([np.nan_to_num(p, nan=1.0) for p, _ in planes], axis=-1)
    labels = np.asarray(list(names) + [""], dtype=object)[owner]
    if channels == 1:
        trace = go.Heatmap(z=planes[0][0], colorscale="gray", zmin=0, zmax=1,
                           showscale=False, customdata=labels,
                           hovertemplate="%{customdata}<extra></extra>")
    else:
        trace = go.Image(z=(stacked * 255).round().astype(np.uint8), customdata=labels,
                         hovertemplate="%{customdata}<extra></extra>")
    step_x, step_y = width + 1, height + room + 1
    per_row = (owner.shape[1] + 1) // step_x
    rows = -(-count // per_row)
    corners = [((n % per_row) * step_x, (n // per_row) * step_y) for n in range(count)]
    layout = _square_axes()
    layout["shapes"] = [dict(type="rect", x0=x - 0.5, x1=x + width - 0.5, y0=y - 0.5,
                             y1=y + height - 0.5, xref="x", yref="y",
                             line=dict(color=style.muted_color, width=style.thin_line_width))
                        for x, y in corners]
    if room:
        layout["annotations"] = [
            dict(text=str(name), x=x + width / 2 - 0.5, y=y + height, xref="x", yref="y",
                 yanchor="top", showarrow=False, font=style.caption_font())
            for (x, y), name in zip(corners, names)]
    aspect = rows * step_y / (per_row * step_x)
    height_px = int(min(820, max(320, 620 * aspect + 80)))
    return _figure([trace], layout, title, height_px, f"grid-{title[:20]}", style,
                   ticks=False)


def image_spectra(rows: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
                  title: str = "", *, style: Style = DEFAULT) -> go.Figure:
    """One row per (caption, grey image [H, W], its |FFT| [H, W], the kernel's |H| on the
    same frequency grid): the image beside its spectrum and its kernel's."""
    names = ("favourite image", "its FFT magnitude", "the kernel's frequency response")
    traces, layout, annotations = [], {}, []
    count = len(rows)
    band = 1.0 / max(count, 1)
    for r, (caption, image, spectrum, kernel) in enumerate(rows):
        top = 1.0 - r * band
        y_domain = [top - band + 0.05 * band, top - 0.2 * band]
        for c, (z, scale) in enumerate(((image, "gray"), (spectrum, style.sequential),
                                        (kernel, style.sequential))):
            n = r * 3 + c
            axis_id = "" if n == 0 else str(n + 1)
            traces.append(go.Heatmap(z=z, colorscale=scale, showscale=False,
                                     xaxis=f"x{axis_id}", yaxis=f"y{axis_id}",
                                     hovertemplate="%{z:.3f}<extra></extra>"))
            layout[f"xaxis{axis_id}"] = dict(showticklabels=False, showgrid=False,
                                             zeroline=False, ticks="",
                                             domain=[c / 3 + 0.02, (c + 1) / 3 - 0.02],
                                             constrain="domain")
            layout[f"yaxis{axis_id}"] = dict(showticklabels=False, showgrid=False,
                                             zeroline=False, ticks="", domain=y_domain,
                                             anchor=f"x{axis_id}", scaleanchor=f"x{axis_id}",
                                             autorange="reversed", constrain="domain")
            text = f"{names[c]}" if c else caption
            annotations.append(_caption(text, (c + 0.5) / 3, y_domain[1], style))
    layout["annotations"] = annotations
    return _figure(traces, layout, title, 60 + 250 * count, "favourite-spectra", style,
                   ticks=False, top=60)


# --- attribution --------------------------------------------------------------------------

def unsigned_map(image: np.ndarray, values: np.ndarray, title: str = "", *,
                 style: Style = DEFAULT) -> go.Figure:
    """A map of magnitudes (saliency) laid over the image, scaled to its peak."""
    values = np.asarray(values, dtype=np.float32)
    peak = float(values.max())
    return grad_cam_overlay(image, values / peak if peak > 0 else values, title, style=style,
                            scale_title="of peak")


def signed_map(image: np.ndarray, values: np.ndarray, title: str = "", unit: str = "",
               *, style: Style = DEFAULT) -> go.Figure:
    """A signed map (red raises the score, blue lowers it) over a faint copy of the image."""
    values = np.asarray(values, dtype=np.float32)
    limit = _symmetric_limit(values)
    heat = go.Heatmap(z=values, colorscale=style.diverging, zmid=0, zmin=-limit, zmax=limit,
                      opacity=0.8, colorbar=style.colorbar(unit),
                      hovertemplate="row %{y}, col %{x}<br>%{z:.4f}<extra></extra>")
    return _figure([_image_trace(image), heat], _square_axes(), title, 420, f"signed-{unit}",
                   style)


# --- adversarial noise --------------------------------------------------------------------

def adversarial_images(image: np.ndarray, perturbation: np.ndarray, adversarial: np.ndarray,
                       epsilon: float, captions: Sequence[str], title: str = "", *,
                       style: Style = DEFAULT) -> go.Figure:
    """The probe, its perturbation amplified to the full range (grey = 0), and the
    perturbed image, side by side."""
    shown = 0.5 + perturbation / (2 * epsilon) if epsilon > 0 else np.full_like(image, 0.5)
    traces, layout, annotations = [], {}, []
    for n, picture in enumerate((image, np.clip(shown, 0, 1), adversarial)):
        axis_id = "" if n == 0 else str(n + 1)
        trace = _image_trace(picture)
        trace.update(xaxis=f"x{axis_id}", yaxis=f"y{axis_id}")
        traces.append(trace)
        layout.update(_picture_axes(axis_id, [n / 3 + 0.02, (n + 1) / 3 - 0.02]))
        annotations.append(_caption(captions[n], (n + 0.5) / 3, 0.9, style))
    layout["annotations"] = annotations
    return _figure(traces, layout, title, 400, "adversarial", style, ticks=False, top=60)


def _picture_axes(axis_id: str, x_domain: list[float]) -> dict:
    """Layout of one picture's axes in a row of pictures: no ticks, square pixels, row 0
    at the top, in `x_domain` of the figure's width."""
    bare = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="",
                constrain="domain")
    return {f"xaxis{axis_id}": dict(bare, domain=x_domain),
            f"yaxis{axis_id}": dict(bare, domain=[0, 0.88], anchor=f"x{axis_id}",
                                    scaleanchor=f"x{axis_id}", autorange="reversed")}


def spectra_pair(image_spectrum: np.ndarray, noise_spectrum: np.ndarray,
                 captions: Sequence[str], title: str = "", *,
                 style: Style = DEFAULT) -> go.Figure:
    """Two centred FFT magnitudes (dB) side by side: DC in the middle, the highest
    frequencies at the edges."""
    traces, layout, annotations = [], {}, []
    for n, spectrum in enumerate((image_spectrum, noise_spectrum)):
        axis_id = "" if n == 0 else str(n + 1)
        traces.append(go.Heatmap(z=spectrum, colorscale=style.sequential, xaxis=f"x{axis_id}",
                                 yaxis=f"y{axis_id}", showscale=n == 1,
                                 colorbar=style.colorbar("dB"),
                                 hovertemplate="%{z:.1f} dB<extra></extra>"))
        layout.update(_picture_axes(axis_id, [n / 2 + 0.03, (n + 1) / 2 - 0.08]))
        annotations.append(_caption(captions[n], (n + 0.45) / 2, 0.9, style))
    layout["annotations"] = annotations
    return _figure(traces, layout, title, 380, "adversarial-spectra", style, ticks=False,
                   top=60)


def robustness_curve(epsilons: np.ndarray, accuracy: np.ndarray, title: str = "", *,
                     style: Style = DEFAULT) -> go.Figure:
    """Test accuracy against epsilon (pixel units)."""
    line = go.Scatter(x=epsilons, y=accuracy, mode="lines+markers",
                      line=dict(color=style.line_color(3), width=1.5 * style.line_width),
                      marker=dict(size=style.marker(9)),
                      hovertemplate="ε %{x:.3f}: %{y:.1%} right<extra></extra>")
    layout = dict(xaxis=dict(title="epsilon (pixel units of the [0, 1] image)", showgrid=True,
                             gridcolor=style.grid),
                  yaxis=dict(title="test accuracy", range=[0, 1.02], tickformat=".0%",
                             showgrid=True, gridcolor=style.grid))
    return _figure([line], layout, title, 380, "robustness", style)


# --- feature space ------------------------------------------------------------------------

def feature_scatter(coordinates: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
                    indices: np.ndarray, classes: Sequence[str], explained: Sequence[float],
                    selected: int | None = None, title: str = "", *,
                    style: Style = DEFAULT) -> go.Figure:
    """The 2-D projection, one colour per true class; `customdata` holds each point's test
    index (a click reads it). Mistakes are drawn as crosses; `selected` (a test index) is
    ringed."""
    coordinates = np.asarray(coordinates, dtype=np.float64)
    traces = []
    for label, name in enumerate(classes):
        members = np.flatnonzero(labels == label)
        colour = style.series[label % len(style.series)]
        # the legend's entry: its own empty trace, so that it shows (as a dot) even when
        # every image of the class is a mistake
        traces.append(go.Scattergl(x=[None], y=[None], mode="markers", name=name,
                                   legendgroup=name, hoverinfo="skip",
                                   marker=dict(size=style.marker(9), color=colour)))
        for wrong in (False, True):   # right as dots, wrong as crosses
            shown = members[(predictions[members] != label) == wrong]
            if len(shown) == 0:
                continue
            traces.append(go.Scattergl(
                x=coordinates[shown, 0], y=coordinates[shown, 1], mode="markers", name=name,
                legendgroup=name, showlegend=False,
                customdata=indices[shown],
                marker=dict(size=style.marker(9 if wrong else 7), color=colour,
                            symbol="x" if wrong else "circle", opacity=0.8),
                hovertemplate=f"{name}: test image %{{customdata}}"
                              + (" (wrong)" if wrong else "") + "<extra></extra>"))
    if selected is not None and selected in set(indices.tolist()):
        at = int(np.flatnonzero(indices == selected)[0])
        traces.append(go.Scatter(
            x=[coordinates[at, 0]], y=[coordinates[at, 1]], mode="markers", showlegend=False,
            hoverinfo="skip", marker=dict(size=style.marker(20), color="rgba(0,0,0,0)",
                                          line=dict(color=style.text_color,
                                                    width=style.line_width))))
    reach = float(np.abs(coordinates).max()) * 1.08 if len(coordinates) else 1.0
    reach = reach or 1.0
    layout = dict(
        xaxis=dict(title=f"PC 1 ({explained[0]:.0%} of the variance)", range=[-reach, reach],
                   showgrid=True, gridcolor=style.grid, zeroline=False),
        yaxis=dict(title=f"PC 2 ({explained[1]:.0%})", range=[-reach, reach], showgrid=True,
                   gridcolor=style.grid, zeroline=False, scaleanchor="x"),
        legend=dict(font=style.legend_font(), itemsizing="constant"),
        dragmode="select", clickmode="event+select")
    return _figure(traces, layout, title, 560, "feature-space", style)
