"""Figure builders for the Inspect page: arrays in, plotly figures out (no Streamlit).

Grids of kernels or feature maps are one tiled heatmap each (NaN gaps between tiles), not
one subplot per tile: a 256-tile grid then builds in milliseconds. Signed values use the
diverging, colour-blind-safe RdBu scale centred on zero (red positive, blue negative).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from playground.analysis import spectra as SP
from playground.figures.training import DIVERGING, FONT

SEQUENTIAL = "Viridis"      # magnitudes (spectra): perceptually uniform, colour-blind safe
HIGHLIGHT = "#00c853"       # receptive window / selection: green reads on gray and RdBu
WINNER = "#ffab00"          # max-pool winners
TILE_GAP = 1
CAPTION_FONT = dict(size=16, color="#222")   # subplot captions
TICK_FONT = dict(size=15, color="#333")      # ticks, axis and colour-bar titles
# Inferno's colours, see-through where the map is low: the image stays readable under it
HEAT_OVERLAY = [[0.0, "rgba(0,0,4,0)"], [0.2, "rgba(87,16,110,0.35)"],
                [0.45, "rgba(188,55,84,0.6)"], [0.7, "rgba(249,142,9,0.75)"],
                [1.0, "rgba(252,255,164,0.9)"]]


def _colorbar(title: str, **extra) -> dict:
    """A colour bar readable on a projector (Streamlit's theme would make it small and grey)."""
    return dict(title=dict(text=title, font=TICK_FONT), tickfont=TICK_FONT, thickness=20,
                **extra)


# --- tiling -------------------------------------------------------------------------------

def tile(maps: np.ndarray, columns: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Lay out maps [N, h, w] on a near-square grid with one NaN row/column between tiles.

    Returns (tiled 2-D float32 array, index array of the same shape holding each pixel's
    map number, -1 in the gaps).
    """
    count, height, width = maps.shape
    columns = columns or max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / columns))
    tiled = np.full((rows * (height + TILE_GAP) - TILE_GAP,
                     columns * (width + TILE_GAP) - TILE_GAP), np.nan, dtype=np.float32)
    owner = np.full(tiled.shape, -1, dtype=np.int32)
    for n in range(count):
        top, left = (n // columns) * (height + TILE_GAP), (n % columns) * (width + TILE_GAP)
        tiled[top:top + height, left:left + width] = maps[n]
        owner[top:top + height, left:left + width] = n
    return tiled, owner


def _symmetric_limit(values: np.ndarray) -> float:
    finite = np.abs(values[np.isfinite(values)])
    limit = float(finite.max()) if finite.size else 1.0
    return limit if limit > 0 else 1.0


def _square_axes(figure: go.Figure, x: str = "x", y: str = "y") -> None:
    figure.update_layout({
        f"xaxis{x[1:]}": dict(showticklabels=False, showgrid=False, zeroline=False, ticks="",
                              constrain="domain"),
        f"yaxis{y[1:]}": dict(showticklabels=False, showgrid=False, zeroline=False, ticks="",
                              autorange="reversed", scaleanchor=x, constrain="domain")})


def _layout(figure: go.Figure, title: str, height: int, key: str,
            ticks: bool = True) -> go.Figure:
    layout = dict(title=dict(text=title or None, font=dict(size=18)), font=FONT,
                  height=height, plot_bgcolor="white", uirevision=key,
                  margin=dict(l=10, r=10, t=50 if title else 10, b=10))
    # Projector sizes, set explicitly: Streamlit's chart theme shrinks and greys ticks
    # (colour bars and subplot captions get `_colorbar` and CAPTION_FONT where built).
    # One update_layout call: each one validates the whole layout again (live panels).
    if ticks:  # when every axis hides its ticks there is nothing to size
        axes = [name for name in figure.layout.to_plotly_json() if name[1:5] == "axis"]
        layout.update({name: dict(tickfont=TICK_FONT, title_font=TICK_FONT)
                       for name in axes or ("xaxis", "yaxis")})
    figure.update_layout(layout)
    return figure


# --- kernels ------------------------------------------------------------------------------

def kernel_page(weights: np.ndarray, page: int, per_page: int) -> tuple[np.ndarray, int]:
    """(the kernels [out, in, k, k] of output channels on `page`, first channel number)."""
    pages = max(1, math.ceil(weights.shape[0] / per_page))
    page = min(max(page, 0), pages - 1)
    first = page * per_page
    return weights[first:first + per_page], first


GROUP_GAP = 3  # blank columns between two output channels' rows of kernels


def _kernel_rows(flat: np.ndarray, out_channels: int,
                 in_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Kernels [out*in, k, k] laid out as one row of `in` kernels per output channel, those
    rows wrapped into side-by-side columns so that a layer with few inputs (32 x 3 RGB
    kernels) fills a wide chart instead of a thin strip. (tiled, owner) as `tile` gives."""
    _, kh, kw = flat.shape
    group_w = in_channels * (kw + TILE_GAP) - TILE_GAP
    wanted = math.sqrt(2 * out_channels * (kh + TILE_GAP) / (group_w + GROUP_GAP))
    groups = max(1, min(out_channels, round(wanted)))
    rows = math.ceil(out_channels / groups)
    tiled = np.full((rows * (kh + TILE_GAP) - TILE_GAP,
                     groups * (group_w + GROUP_GAP) - GROUP_GAP), np.nan, dtype=np.float32)
    owner = np.full(tiled.shape, -1, dtype=np.int32)
    for n in range(len(flat)):
        out, inn = divmod(n, in_channels)
        top = (out // groups) * (kh + TILE_GAP)
        left = (out % groups) * (group_w + GROUP_GAP) + inn * (kw + TILE_GAP)
        tiled[top:top + kh, left:left + kw] = flat[n]
        owner[top:top + kh, left:left + kw] = n
    return tiled, owner


def kernel_grid(weights: np.ndarray, scale: str = "layer", first_out: int = 0,
                title: str = "", max_in: int = 16) -> go.Figure:
    """Kernels [out, in, k, k] as one heatmap: per output channel a row of its input
    channels' kernels, the rows wrapped into side-by-side columns (see `_kernel_rows`).

    scale="layer": one colour scale for all kernels (compare strengths across kernels);
    scale="kernel": each kernel stretched to its own largest |weight| (see each one's
    pattern). Hover gives the output/input channel and the real weight either way. Only
    the first `max_in` input channels are drawn (caption it).
    """
    if scale not in ("layer", "kernel"):
        raise ValueError(f"scale must be 'layer' or 'kernel', got {scale!r}")
    weights = np.asarray(weights, dtype=np.float32)[:, :max_in]
    out_channels, in_channels, kh, kw = weights.shape
    flat = weights.reshape(out_channels * in_channels, kh, kw)
    real, owner = _kernel_rows(flat, out_channels, in_channels)
    if scale == "kernel":
        peaks = np.abs(flat).reshape(len(flat), -1).max(1)
        peaks[peaks == 0] = 1
        shown, _ = _kernel_rows(flat / peaks[:, None, None], out_channels, in_channels)
        limit, bar_title = 1.0, "weight / kernel max"
    else:
        shown, limit, bar_title = real, _symmetric_limit(real), "weight"
    out_index = np.where(owner >= 0, owner // in_channels + first_out, -1)
    in_index = np.where(owner >= 0, owner % in_channels, -1)
    custom = np.stack([real, out_index, in_index], axis=-1)
    figure = go.Figure(go.Heatmap(
        z=shown, customdata=custom, colorscale=DIVERGING, zmid=0, zmin=-limit, zmax=limit,
        hoverongaps=False, colorbar=_colorbar(bar_title),
        hovertemplate="out %{customdata[1]}, in %{customdata[2]}<br>"
                      "weight %{customdata[0]:.4f}<extra></extra>"))
    _square_axes(figure)
    rows = shown.shape[0]
    return _layout(figure, title, int(min(720, max(300, 22 * rows + 90))), "kernels")


def rgb_kernel_images(weights: np.ndarray, first_out: int = 0, title: str = "") -> go.Figure:
    """First-layer kernels [out, 3, k, k] as small colour pictures: each kernel mapped to
    0.5 + w / (2 max|w|) per channel (grey is zero), so a red-green edge looks like one."""
    weights = np.asarray(weights, dtype=np.float32)
    if weights.ndim != 4 or weights.shape[1] != 3:
        raise ValueError(f"expected kernels [out, 3, k, k], got {list(weights.shape)}")
    peaks = np.abs(weights).reshape(len(weights), -1).max(1)
    peaks[peaks == 0] = 1
    colours = 0.5 + weights / (2 * peaks[:, None, None, None])
    count, _, kh, kw = weights.shape
    columns = max(1, math.ceil(math.sqrt(count)))
    rows = math.ceil(count / columns)
    canvas = np.full((rows * (kh + 1) - 1, columns * (kw + 1) - 1, 3), 255, dtype=np.uint8)
    for n in range(count):
        top, left = (n // columns) * (kh + 1), (n % columns) * (kw + 1)
        canvas[top:top + kh, left:left + kw] = (colours[n].transpose(1, 2, 0) * 255).round()
    figure = go.Figure(go.Image(z=canvas, hovertemplate="r %{z[0]} g %{z[1]} b %{z[2]}"
                                                        "<extra></extra>"))
    figure.update_xaxes(showticklabels=False, showgrid=False, ticks="")
    figure.update_yaxes(showticklabels=False, showgrid=False, ticks="")
    return _layout(figure, title, int(min(520, max(260, 30 * rows + 80))), "rgb-kernels")


def kernel_evolution(frames: Sequence[tuple[int, np.ndarray]], title: str = "") -> go.Figure:
    """One kernel [k, k] at several training steps, side by side on one colour scale."""
    if not frames:
        raise ValueError("no frames")
    maps = np.stack([np.asarray(kernel, dtype=np.float32) for _, kernel in frames])
    tiled, owner = tile(maps, columns=len(maps))
    limit = _symmetric_limit(tiled)
    steps = np.array([step for step, _ in frames])
    custom = np.where(owner >= 0, steps[np.maximum(owner, 0)], -1)
    figure = go.Figure(go.Heatmap(
        z=tiled, customdata=custom, colorscale=DIVERGING, zmid=0, zmin=-limit, zmax=limit,
        hoverongaps=False, colorbar=_colorbar("weight"),
        hovertemplate="step %{customdata}<br>weight %{z:.4f}<extra></extra>"))
    _square_axes(figure)
    width = maps.shape[2]
    figure.update_xaxes(showticklabels=True, tickangle=0,
                        tickvals=[n * (width + 1) + (width - 1) / 2 for n in range(len(maps))],
                        ticktext=[f"step {s:,}" for s in steps])
    return _layout(figure, title, 230, "evolution")


# --- feature maps -------------------------------------------------------------------------

def feature_grid(maps: np.ndarray, title: str = "", selected: int | None = None,
                 limit: float | None = None) -> go.Figure:
    """All channels [C, h, w] of one layer for the probe, tiled, on one signed scale
    (white is zero, so dead ReLU units read as white). `selected` is outlined."""
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"expected maps [C, h, w], got {list(maps.shape)}")
    tiled, owner = tile(maps)
    limit = limit or _symmetric_limit(tiled)
    figure = go.Figure(go.Heatmap(
        z=tiled, customdata=owner, colorscale=DIVERGING, zmid=0, zmin=-limit, zmax=limit,
        hoverongaps=False, colorbar=_colorbar("value"),
        hovertemplate="channel %{customdata}<br>value %{z:.3f}<extra></extra>"))
    _square_axes(figure)
    count, h, w = maps.shape
    if selected is not None and 0 <= selected < count:
        columns = max(1, math.ceil(math.sqrt(count)))
        top, left = (selected // columns) * (h + 1), (selected % columns) * (w + 1)
        figure.add_shape(type="rect", x0=left - 0.5, x1=left + w - 0.5, y0=top - 0.5,
                         y1=top + h - 0.5, line=dict(color=HIGHLIGHT, width=3))
    return _layout(figure, title, 440, "feature-grid")


def clickable_map(map2d: np.ndarray, title: str = "", selected: tuple[int, int] | None = None,
                  limit: float | None = None) -> go.Figure:
    """One feature map as a heatmap with a transparent scatter point on every pixel.

    Streamlit's selection events fire on scatter points, not on heatmaps: clicking the
    invisible point of a pixel selects it (customdata [row, col]).
    """
    map2d = np.asarray(map2d, dtype=np.float32)
    height, width = map2d.shape
    limit = limit or _symmetric_limit(map2d)
    rows, cols = np.indices(map2d.shape)
    figure = go.Figure(go.Heatmap(z=map2d, colorscale=DIVERGING, zmid=0, zmin=-limit,
                                  zmax=limit, colorbar=_colorbar("value"),
                                  hoverinfo="skip"))
    marker_size = max(6, min(28, 300 // max(height, width)))
    figure.add_trace(go.Scatter(
        x=cols.ravel(), y=rows.ravel(), mode="markers",
        customdata=np.stack([rows.ravel(), cols.ravel()], axis=1), text=map2d.ravel(),
        marker=dict(size=marker_size, symbol="square", color="rgba(0,0,0,0)"),
        hovertemplate="row %{y}, col %{x}<br>value %{text:.3f}<extra></extra>",
        showlegend=False, name="pixels"))
    if selected is not None:
        row, col = selected
        figure.add_shape(type="rect", x0=col - 0.5, x1=col + 0.5, y0=row - 0.5, y1=row + 0.5,
                         line=dict(color=HIGHLIGHT, width=4))
    figure.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="",
                        range=[-0.5, width - 0.5], constrain="domain")
    figure.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="",
                        range=[height - 0.5, -0.5], scaleanchor="x", constrain="domain")
    return _layout(figure, title, 420, "clickable-map")


def _image_trace(image: np.ndarray) -> go.BaseTraceType:
    """[H, W, C] floats in [0, 1]: gray heatmap for one channel, an RGB image for three."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return go.Heatmap(z=image, colorscale="gray", zmin=0, zmax=1, showscale=False,
                          hovertemplate="row %{y}, col %{x}<br>%{z:.2f}<extra></extra>")
    return go.Image(z=(np.clip(image, 0, 1) * 255).round().astype(np.uint8),
                    hovertemplate="row %{y}, col %{x}<extra></extra>")


def clip_window(window: tuple[int, int, int, int],
                shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) inclusive, clipped to an image of `shape` (H, W);
    None when nothing of it is inside."""
    top, left, bottom, right = window
    height, width = shape
    clipped = (max(top, 0), max(left, 0), min(bottom, height - 1), min(right, width - 1))
    if clipped[0] > clipped[2] or clipped[1] > clipped[3]:
        return None
    return clipped


def receptive_field_on_input(image: np.ndarray, window: tuple[int, int, int, int],
                             title: str = "") -> go.Figure:
    """The probe image with the receptive window of a clicked pixel: the part inside the
    image filled and outlined, the full window (reaching into the zero padding) dashed,
    and the axes widened to show that padding."""
    image = np.asarray(image, dtype=np.float32)
    height, width = image.shape[:2]
    top, left, bottom, right = window
    figure = go.Figure(_image_trace(image))
    inside = clip_window(window, (height, width))
    if (top, left, bottom, right) != inside:
        figure.add_shape(type="rect", x0=left - 0.5, x1=right + 0.5, y0=top - 0.5,
                         y1=bottom + 0.5, line=dict(color=HIGHLIGHT, width=2, dash="dot"),
                         fillcolor="rgba(0,200,83,0.08)")
        figure.add_shape(type="rect", x0=-0.5, x1=width - 0.5, y0=-0.5, y1=height - 0.5,
                         line=dict(color="#888", width=1))
    if inside is not None:
        t, l, b, r = inside
        figure.add_shape(type="rect", x0=l - 0.5, x1=r + 0.5, y0=t - 0.5, y1=b + 0.5,
                         line=dict(color=HIGHLIGHT, width=4), fillcolor="rgba(0,200,83,0.18)")
    x_range = [min(left, 0) - 0.5, max(right, width - 1) + 0.5]
    y_range = [max(bottom, height - 1) + 0.5, min(top, 0) - 0.5]
    figure.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="", range=x_range,
                        constrain="domain")
    figure.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="", range=y_range,
                        scaleanchor="x", constrain="domain", autorange=False)
    _layout(figure, title, 420, "receptive-field")
    figure.update_layout(plot_bgcolor="#e6e6e6")
    return figure


def probe_image(image: np.ndarray, title: str = "", height: int = 260) -> go.Figure:
    """The probe input, pixel-exact, no axes."""
    figure = go.Figure(_image_trace(image))
    figure.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="",
                        constrain="domain")
    figure.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="",
                        autorange="reversed", scaleanchor="x", constrain="domain")
    return _layout(figure, title, height, "probe")


def probabilities(probs: np.ndarray, classes: Sequence[str], true_class: int | None = None,
                  title: str = "", height: int | None = None) -> go.Figure:
    """Class probabilities as horizontal bars, the predicted class dark, the true one
    outlined; best class at the top."""
    probs = np.asarray(probs, dtype=np.float64)
    predicted = int(np.argmax(probs))
    colours = ["#1f77b4" if i == predicted else "#9ecae1" for i in range(len(probs))]
    outline = [3 if i == true_class else 0 for i in range(len(probs))]
    labels = [f"{name} ✓" if i == true_class else str(name) for i, name in enumerate(classes)]
    figure = go.Figure(go.Bar(
        x=probs, y=labels, orientation="h", marker=dict(color=colours,
                                                        line=dict(color="#222", width=outline)),
        text=[f"{p:.0%}" if p >= 0.005 else "" for p in probs], textposition="outside",
        cliponaxis=False, hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    figure.update_xaxes(range=[0, 1.15], tickformat=".0%", showgrid=True)
    figure.update_yaxes(autorange="reversed", type="category")
    figure.update_layout(bargap=0.15)
    return _layout(figure, title, height or max(260, 26 * len(probs) + 60), "probabilities")


# --- pooling ------------------------------------------------------------------------------

def _window_lines(height: int, width: int, out_h: int, out_w: int, kernel: int, stride: int,
                  padding: int) -> tuple[list, list]:
    """Outlines of every pooling window as one polyline (None separates windows)."""
    xs: list = []
    ys: list = []
    inset = 0.12 if stride < kernel else 0.0  # overlapping windows: pull edges apart
    for i in range(out_h):
        for j in range(out_w):
            top, left = i * stride - padding - 0.5 + inset, j * stride - padding - 0.5 + inset
            bottom, right = top + kernel - 2 * inset, left + kernel - 2 * inset
            xs += [left, right, right, left, left, None]
            ys += [top, top, bottom, bottom, top, None]
    return xs, ys


def pooling(input_map: np.ndarray, max_output: np.ndarray, avg_output: np.ndarray,
            argmax_rows: np.ndarray, argmax_cols: np.ndarray, kernel: int, stride: int,
            padding: int = 0, mode: str = "max", title: str = "") -> go.Figure:
    """One channel: the pooling input with its windows (and, for max, each window's winner
    marked, unless all its values tie) beside the pooled output. `mode` picks which output is drawn ("max"/"avg")."""
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
    input_map = np.asarray(input_map, dtype=np.float32)
    output = np.asarray(max_output if mode == "max" else avg_output, dtype=np.float32)
    height, width = input_map.shape
    out_h, out_w = output.shape
    limit = _symmetric_limit(np.concatenate([input_map.ravel(), output.ravel()]))
    scale = dict(colorscale=DIVERGING, zmid=0, zmin=-limit, zmax=limit)
    figure = go.Figure()
    figure.add_trace(go.Heatmap(z=input_map, xaxis="x", yaxis="y", showscale=False,
                                hovertemplate="input row %{y}, col %{x}<br>%{z:.3f}"
                                              "<extra></extra>", **scale))
    xs, ys = _window_lines(height, width, out_h, out_w, kernel, stride, padding)
    figure.add_trace(go.Scatter(x=xs, y=ys, mode="lines", xaxis="x", yaxis="y",
                                line=dict(color="#444", width=1), hoverinfo="skip",
                                showlegend=False, name="windows"))
    if mode == "max":
        # A window whose values are all equal (a dead ReLU's zeros) has no real winner:
        # its max equals its mean, and marking it would only clutter the picture.
        contested = (np.asarray(max_output) > np.asarray(avg_output) + 1e-7).ravel()
        figure.add_trace(go.Scatter(
            x=np.asarray(argmax_cols).ravel()[contested],
            y=np.asarray(argmax_rows).ravel()[contested],
            mode="markers", xaxis="x", yaxis="y", name="max winner", showlegend=False,
            marker=dict(symbol="circle-open", size=max(5, min(14, 260 // max(height, width))),
                        color=WINNER, line=dict(width=2.5)),
            hovertemplate="winner at row %{y}, col %{x}<extra></extra>"))
    figure.add_trace(go.Heatmap(z=output, xaxis="x2", yaxis="y2",
                                colorbar=_colorbar("value"),
                                hovertemplate="output row %{y}, col %{x}<br>%{z:.3f}"
                                              "<extra></extra>", **scale))
    axis = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="", constrain="domain")
    figure.update_layout(
        xaxis=dict(domain=[0, 0.58], range=[-0.5 - padding, width - 0.5 + padding], **axis),
        yaxis=dict(range=[height - 0.5 + padding, -0.5 - padding], scaleanchor="x", **axis),
        xaxis2=dict(domain=[0.64, 0.94], range=[-0.5, out_w - 0.5], **axis),
        yaxis2=dict(range=[out_h - 0.5, -0.5], scaleanchor="x2", anchor="x2", **axis),
        annotations=[
            dict(text=f"input {height}x{width}, {kernel}x{kernel} windows, stride {stride}",
                 x=0.29, y=1.0, xref="paper", yref="paper", showarrow=False,
                 yanchor="bottom", font=CAPTION_FONT),
            dict(text=f"{mode} pooled {out_h}x{out_w}", x=0.79, y=1.0, xref="paper",
                 yref="paper", showarrow=False, yanchor="bottom", font=CAPTION_FONT)])
    return _layout(figure, title, 430, "pooling")


# --- frequency ----------------------------------------------------------------------------

def frequency_response(kernel2d: np.ndarray, db: bool = False, size: int = 32,
                       title: str = "") -> go.Figure:
    """A kernel, the magnitude of its zero-padded centred 2-D FFT, and its radial profile,
    side by side; the title carries the label (and angle) from `inspect.kernel_character`."""
    kernel = np.asarray(kernel2d, dtype=np.float64)
    spectrum = SP.kernel_spectrum(kernel, size, db=db)
    radii, profile = SP.radial_profile(SP.kernel_spectrum(kernel, size))
    if db:
        profile = 20 * np.log10(profile + SP.DB_EPS)
        floor = float(np.max(spectrum)) - 60  # show 60 dB of range, not the -160 dB zeros
        spectrum = np.maximum(spectrum, floor)
    label, angle = SP.kernel_character(kernel, size)
    text = label if angle is None else f"{label}, {angle:.0f}°"
    unit = "dB" if db else "|H|"
    limit = _symmetric_limit(kernel)
    traces = []
    traces.append(go.Heatmap(z=kernel, xaxis="x", yaxis="y", colorscale=DIVERGING, zmid=0,
                                zmin=-limit, zmax=limit, showscale=False,
                                hovertemplate="row %{y}, col %{x}<br>weight %{z:.4f}"
                                              "<extra></extra>"))
    freqs = np.fft.fftshift(np.fft.fftfreq(size))
    traces.append(go.Heatmap(z=spectrum, x=freqs, y=freqs, xaxis="x2", yaxis="y2",
                                colorscale=SEQUENTIAL,
                                colorbar=_colorbar(unit, x=0.64, len=0.8),
                                hovertemplate="fx %{x:.3f}, fy %{y:.3f}<br>%{z:.3f}"
                                              "<extra></extra>"))
    traces.append(go.Scatter(x=radii, y=profile, xaxis="x3", yaxis="y3", mode="lines+markers",
                                line=dict(color="#d62728", width=3), showlegend=False,
                                hovertemplate="radius %{x:.3f}<br>%{y:.3f}<extra></extra>"))
    # the band edges of the label, as dotted lines (shapes: add_vline is slow)
    edges = [dict(type="line", x0=edge, x1=edge, xref="x3", y0=0, y1=1, yref="y3 domain",
                  line=dict(color="#999", dash="dot")) for edge in (SP.LOW_BAND, SP.HIGH_BAND)]
    axis = dict(showgrid=False, zeroline=False, constrain="domain")
    figure = go.Figure(data=traces)
    figure.update_layout(
        shapes=edges,
        xaxis=dict(domain=[0, 0.22], showticklabels=False, ticks="", **axis),
        yaxis=dict(autorange="reversed", scaleanchor="x", showticklabels=False, ticks="",
                   **axis),
        xaxis2=dict(domain=[0.3, 0.62], title="fx (cycles/pixel)", **axis),
        yaxis2=dict(anchor="x2", scaleanchor="x2", title="fy", autorange="reversed", **axis),
        xaxis3=dict(domain=[0.82, 1.0], title="radius (cycles/pixel)", range=[0, 0.5]),
        yaxis3=dict(anchor="x3", title=f"mean {unit}"),
        annotations=[
            dict(text="kernel", x=0.11, y=1.0, xref="paper", yref="paper", showarrow=False,
                 yanchor="bottom", font=CAPTION_FONT),
            dict(text=f"FFT magnitude ({unit})", x=0.46, y=1.0, xref="paper", yref="paper",
                 showarrow=False, yanchor="bottom", font=CAPTION_FONT),
            dict(text="radial profile", x=0.91, y=1.0, xref="paper", yref="paper",
                 showarrow=False, yanchor="bottom", font=CAPTION_FONT)])
    _layout(figure, f"{title}: {text}" if title else text, 360, "frequency")
    figure.update_layout(margin=dict(t=85))  # room for the subplot captions under the title
    return figure


def convolution_theorem(image2d: np.ndarray, kernel2d: np.ndarray, db: bool = True,
                        title: str = "") -> go.Figure:
    """The kernel's effect on the probe, in space (top: image, filtered image) and in
    frequency (bottom: |FFT image| x |H| = |FFT filtered|), circular padding."""
    image = np.asarray(image2d, dtype=np.float64)
    filtered = SP.circular_filter(image, kernel2d)
    transfer = np.abs(np.fft.fftshift(SP.kernel_transfer(kernel2d, image.shape)))
    spectra = [SP.centred_magnitude(image, db),
               20 * np.log10(transfer + SP.DB_EPS) if db else transfer,
               SP.centred_magnitude(filtered, db)]
    if db:
        top = max(float(s.max()) for s in spectra)
        spectra = [np.maximum(s, top - 80) for s in spectra]
    names = ["probe image", "kernel", "filtered = probe ⋆ kernel",
             "|FFT probe|", "|H| of the kernel", "|FFT filtered| = product"]
    spatial = [image, None, filtered]
    domains = [[0, 0.3], [0.35, 0.65], [0.7, 1.0]]
    traces, axes, annotations = [], {}, []
    # one layout dict and fully specified traces: plotly's per-call validation dominates
    for n, name in enumerate(names):
        row, col = divmod(n, 3)
        axis_id = "" if n == 0 else str(n + 1)
        common = dict(xaxis=f"x{axis_id}", yaxis=f"y{axis_id}",
                      hovertemplate="%{z:.3f}<extra></extra>", showscale=False)
        if row == 0 and col == 1:
            kernel = np.asarray(kernel2d, dtype=np.float64)
            limit = _symmetric_limit(kernel)
            traces.append(go.Heatmap(z=kernel, colorscale=DIVERGING, zmid=0, zmin=-limit,
                                     zmax=limit, **common))
        elif row == 0:
            traces.append(go.Heatmap(z=spatial[col], colorscale="gray", **common))
        else:
            traces.append(go.Heatmap(z=spectra[col], colorscale=SEQUENTIAL, **common))
        y_domain = [0.54, 0.94] if row == 0 else [0.0, 0.4]
        axes[f"xaxis{axis_id}"] = dict(domain=domains[col], showticklabels=False, ticks="",
                                       showgrid=False, zeroline=False, constrain="domain")
        axes[f"yaxis{axis_id}"] = dict(domain=y_domain, anchor=f"x{axis_id}",
                                       scaleanchor=f"x{axis_id}", autorange="reversed",
                                       showticklabels=False, showgrid=False, zeroline=False,
                                       ticks="", constrain="domain")
        annotations.append(dict(text=name, x=sum(domains[col]) / 2, y=y_domain[1],
                                xref="paper", yref="paper", showarrow=False,
                                yanchor="bottom", font=CAPTION_FONT))
    figure = go.Figure(data=traces, layout=dict(annotations=annotations, **axes))
    return _layout(figure, title, 560, "theorem", ticks=False)


def reference_table(db: bool = False, size: int = 32) -> go.Figure:
    """The reference kernels (box, Gaussian, Sobel x/y, Laplacian) in one row each of
    kernel and FFT magnitude, labelled, so "low-pass" has a picture."""
    references = SP.reference_kernels()
    count = len(references)
    figure = go.Figure()
    annotations = []
    width = 1.0 / count
    for n, (name, kernel) in enumerate(references.items()):
        spectrum = SP.kernel_spectrum(kernel, size, db=db)
        if db:
            spectrum = np.maximum(spectrum, float(spectrum.max()) - 60)
        label, angle = SP.kernel_character(kernel, size)
        left = n * width
        for row, (z, scale) in enumerate(((kernel, DIVERGING), (spectrum, SEQUENTIAL))):
            axis_id = str(2 * n + row + 1) if 2 * n + row else ""
            limit = _symmetric_limit(z) if row == 0 else None
            figure.add_trace(go.Heatmap(
                z=z, colorscale=scale, showscale=False, xaxis=f"x{axis_id}",
                yaxis=f"y{axis_id}", zmid=0 if row == 0 else None,
                zmin=-limit if limit else None, zmax=limit,
                hovertemplate="%{z:.3f}<extra></extra>"))
            y_domain = [0.5, 0.86] if row == 0 else [0.0, 0.42]
            figure.update_layout({
                f"xaxis{axis_id}": dict(domain=[left + 0.02, left + width - 0.02],
                                        showticklabels=False, showgrid=False, zeroline=False, ticks="",
                                        constrain="domain"),
                f"yaxis{axis_id}": dict(domain=y_domain, anchor=f"x{axis_id}",
                                        scaleanchor=f"x{axis_id}", autorange="reversed",
                                        showticklabels=False, showgrid=False,
                                        zeroline=False, constrain="domain")})
        text = f"<b>{name}</b><br>{label}" + ("" if angle is None else f" {angle:.0f}°")
        annotations.append(dict(text=text, x=left + width / 2, y=0.88, xref="paper",
                                yref="paper", showarrow=False, yanchor="bottom",
                                font=CAPTION_FONT))
    figure.update_layout(annotations=annotations)
    return _layout(figure, "Reference kernels (top) and their FFT magnitude (bottom)", 400,
                   "references")


# --- saliency -----------------------------------------------------------------------------

def grad_cam_overlay(image: np.ndarray, cam: np.ndarray, title: str = "") -> go.Figure:
    """The probe with the Grad-CAM map (upsampled to the image) laid over it."""
    image = np.asarray(image, dtype=np.float32)
    height, width = image.shape[:2]
    cam = np.asarray(cam, dtype=np.float32)
    rows = (np.arange(height) + 0.5) * cam.shape[0] / height - 0.5
    cols = (np.arange(width) + 0.5) * cam.shape[1] / width - 0.5
    up = _bilinear(cam, rows, cols)
    figure = go.Figure(_image_trace(image))
    figure.add_trace(go.Heatmap(z=up, colorscale=HEAT_OVERLAY, zmin=0, zmax=1,
                                colorbar=_colorbar("Grad-CAM"),
                                hovertemplate="row %{y}, col %{x}<br>%{z:.2f}<extra></extra>"))
    figure.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="",
                        constrain="domain")
    figure.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="",
                        autorange="reversed", scaleanchor="x", constrain="domain")
    return _layout(figure, title, 420, "gradcam")


def _bilinear(values: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    rows = np.clip(rows, 0, values.shape[0] - 1)
    cols = np.clip(cols, 0, values.shape[1] - 1)
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    r1 = np.minimum(r0 + 1, values.shape[0] - 1)
    c1 = np.minimum(c0 + 1, values.shape[1] - 1)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    top = values[r0][:, c0] * (1 - fc) + values[r0][:, c1] * fc
    bottom = values[r1][:, c0] * (1 - fc) + values[r1][:, c1] * fc
    return top * (1 - fr) + bottom * fr
