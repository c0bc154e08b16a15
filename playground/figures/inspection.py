"""Figure builders for the Inspect page: arrays in, plotly figures out (no Streamlit, no
torch: the frequency figures get their spectra from `analysis.spectra`'s views).

Grids of kernels or feature maps are one tiled heatmap each (NaN gaps between tiles), not
one subplot per tile: a 256-tile grid then builds in milliseconds. Signed values use the
style's diverging scale centred on zero. Each builder writes its layout as one dict and
hands it to go.Figure: every update_layout on a built figure validates the whole layout
again, which was nearly half of a live panel's time.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from playground.figures.style import DEFAULT, Style, chart_layout

if TYPE_CHECKING:
    from playground.analysis.spectra import FrequencyView, TheoremView

TILE_GAP = 1
HIDDEN_TICKS = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="")


def _figure(traces: Sequence, layout: dict, title: str, height: int, key: str,
            style: Style, ticks: bool = True, top: int = 50) -> go.Figure:
    """One figure from its traces and layout, with the shared title, fonts and margins.

    Every axis in `layout` (or the default pair) gets the style's tick font, set
    explicitly: Streamlit's chart theme shrinks and greys ticks. With `ticks` False
    (every axis hides its ticks) there is nothing to size."""
    full = chart_layout(title, height, style, key=key, top=top)
    full.update(layout)
    if ticks:
        for name in [name for name in layout if name[1:5] == "axis"] or ("xaxis", "yaxis"):
            axis = dict(full.get(name, {}), tickfont=style.tick_font())
            title_text = axis.get("title")
            axis["title"] = dict(title_text if isinstance(title_text, dict)
                                 else {} if title_text is None else {"text": title_text},
                                 font=style.tick_font())
            full[name] = axis
    return go.Figure(data=list(traces), layout=full)


def _square_axes(x: str = "x", y: str = "y") -> dict:
    """Hidden-tick axes whose pixels are square, rows counted downwards."""
    return {f"xaxis{x[1:]}": dict(HIDDEN_TICKS, constrain="domain"),
            f"yaxis{y[1:]}": dict(HIDDEN_TICKS, autorange="reversed", scaleanchor=x,
                                  constrain="domain")}


def _caption(text: str, x: float, y: float, style: Style) -> dict:
    return dict(text=text, x=x, y=y, xref="paper", yref="paper", showarrow=False,
                yanchor="bottom", font=style.caption_font())


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
                title: str = "", max_in: int = 16, *, style: Style = DEFAULT) -> go.Figure:
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
    # float32: the weights are float32 anyway, and float64 doubled what every refresh sends
    custom = np.stack([real, out_index, in_index], axis=-1).astype(np.float32)
    heatmap = go.Heatmap(
        z=shown, customdata=custom, colorscale=style.diverging, zmid=0, zmin=-limit,
        zmax=limit, hoverongaps=False, colorbar=style.colorbar(bar_title),
        hovertemplate="out %{customdata[1]}, in %{customdata[2]}<br>"
                      "weight %{customdata[0]:.4f}<extra></extra>")
    rows = shown.shape[0]
    return _figure([heatmap], _square_axes(), title, int(min(720, max(300, 22 * rows + 90))),
                   "kernels", style)


def rgb_kernel_images(weights: np.ndarray, first_out: int = 0, title: str = "", *,
                      style: Style = DEFAULT) -> go.Figure:
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
    image = go.Image(z=canvas, hovertemplate="r %{z[0]} g %{z[1]} b %{z[2]}<extra></extra>")
    hidden = dict(showticklabels=False, showgrid=False, ticks="")
    return _figure([image], dict(xaxis=hidden, yaxis=hidden), title,
                   int(min(520, max(260, 30 * rows + 80))), "rgb-kernels", style)


def kernel_evolution(frames: Sequence[tuple[int, np.ndarray]], title: str = "", *,
                     style: Style = DEFAULT) -> go.Figure:
    """One kernel [k, k] at several training steps, side by side on one colour scale."""
    if not frames:
        raise ValueError("no frames")
    maps = np.stack([np.asarray(kernel, dtype=np.float32) for _, kernel in frames])
    tiled, owner = tile(maps, columns=len(maps))
    limit = _symmetric_limit(tiled)
    steps = np.array([step for step, _ in frames])
    custom = np.where(owner >= 0, steps[np.maximum(owner, 0)], -1)
    heatmap = go.Heatmap(
        z=tiled, customdata=custom, colorscale=style.diverging, zmid=0, zmin=-limit,
        zmax=limit, hoverongaps=False, colorbar=style.colorbar("weight"),
        hovertemplate="step %{customdata}<br>weight %{z:.4f}<extra></extra>")
    layout = _square_axes()
    width = maps.shape[2]
    layout["xaxis"].update(
        showticklabels=True, tickangle=0,
        tickvals=[n * (width + 1) + (width - 1) / 2 for n in range(len(maps))],
        ticktext=[f"step {s:,}" for s in steps])
    return _figure([heatmap], layout, title, 230, "evolution", style)


# --- feature maps -------------------------------------------------------------------------

# Cells a feature grid sends at most: a wide layer on big images (64 channels of 112x112)
# would otherwise send megabytes on every refresh, more than a chart can show anyway.
MAX_GRID_CELLS = 160_000


def shrink_maps(maps: np.ndarray, max_cells: int = MAX_GRID_CELLS) -> tuple[np.ndarray, int]:
    """(maps [C, h, w] averaged over factor x factor blocks, factor): factor 1 (the maps
    as they are) when they fit in `max_cells`, else the smallest that fits."""
    count, height, width = maps.shape
    factor = max(1, math.ceil(math.sqrt(count * height * width / max_cells)))
    if factor == 1 or min(height, width) < factor:
        return maps, 1
    height, width = height // factor, width // factor
    blocks = maps[:, :height * factor, :width * factor].reshape(
        count, height, factor, width, factor)
    return blocks.mean(axis=(2, 4)), factor


def feature_grid(maps: np.ndarray, title: str = "", selected: int | None = None,
                 limit: float | None = None, *, style: Style = DEFAULT) -> go.Figure:
    """All channels [C, h, w] of one layer for the probe, tiled, on one signed scale
    (white is zero, so dead ReLU units read as white). `selected` is outlined. Maps too
    big to send whole are shown averaged over blocks (`shrink_maps`; the title says so)."""
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"expected maps [C, h, w], got {list(maps.shape)}")
    maps, factor = shrink_maps(maps)
    if factor > 1:
        title = f"{title} (averaged over {factor}x{factor} blocks)".strip()
    tiled, owner = tile(maps)
    limit = limit or _symmetric_limit(tiled)
    # channel numbers in int16 (a layer has far fewer than 32,768): half of int32's bytes
    owner = owner.astype(np.int16) if maps.shape[0] < 2**15 else owner
    heatmap = go.Heatmap(
        z=tiled, customdata=owner, colorscale=style.diverging, zmid=0, zmin=-limit,
        zmax=limit, hoverongaps=False, colorbar=style.colorbar("value"),
        hovertemplate="channel %{customdata}<br>value %{z:.3f}<extra></extra>")
    layout = _square_axes()
    count, h, w = maps.shape
    if selected is not None and 0 <= selected < count:
        columns = max(1, math.ceil(math.sqrt(count)))
        top, left = (selected // columns) * (h + 1), (selected % columns) * (w + 1)
        layout["shapes"] = [dict(type="rect", x0=left - 0.5, x1=left + w - 0.5,
                                 y0=top - 0.5, y1=top + h - 0.5,
                                 line=dict(color=style.highlight,
                                           width=1.5 * style.line_width))]
    return _figure([heatmap], layout, title, 440, "feature-grid", style)


def clickable_map(map2d: np.ndarray, title: str = "", selected: tuple[int, int] | None = None,
                  limit: float | None = None, *, style: Style = DEFAULT) -> go.Figure:
    """One feature map as a heatmap with a transparent scatter point on every pixel.

    Streamlit's selection events fire on scatter points, not on heatmaps: clicking the
    invisible point of a pixel selects it (customdata [row, col]).
    """
    map2d = np.asarray(map2d, dtype=np.float32)
    height, width = map2d.shape
    limit = limit or _symmetric_limit(map2d)
    rows, cols = np.indices(map2d.shape)
    marker_size = max(6, min(28, 300 // max(height, width)))
    traces = [
        go.Heatmap(z=map2d, colorscale=style.diverging, zmid=0, zmin=-limit, zmax=limit,
                   colorbar=style.colorbar("value"), hoverinfo="skip"),
        go.Scatter(x=cols.ravel(), y=rows.ravel(), mode="markers",
                   customdata=np.stack([rows.ravel(), cols.ravel()], axis=1),
                   text=map2d.ravel(),
                   marker=dict(size=marker_size, symbol="square", color="rgba(0,0,0,0)"),
                   hovertemplate="row %{y}, col %{x}<br>value %{text:.3f}<extra></extra>",
                   showlegend=False, name="pixels")]
    layout = dict(
        xaxis=dict(HIDDEN_TICKS, range=[-0.5, width - 0.5], constrain="domain"),
        yaxis=dict(HIDDEN_TICKS, range=[height - 0.5, -0.5], scaleanchor="x",
                   constrain="domain"))
    if selected is not None:
        row, col = selected
        layout["shapes"] = [dict(type="rect", x0=col - 0.5, x1=col + 0.5, y0=row - 0.5,
                                 y1=row + 0.5,
                                 line=dict(color=style.highlight, width=2 * style.line_width))]
    return _figure(traces, layout, title, 420, "clickable-map", style)


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
                             title: str = "", *, style: Style = DEFAULT) -> go.Figure:
    """The probe image with the receptive window of a clicked pixel: the part inside the
    image filled and outlined, the full window (reaching into the zero padding) dashed,
    and the axes widened to show that padding."""
    image = np.asarray(image, dtype=np.float32)
    height, width = image.shape[:2]
    top, left, bottom, right = window
    shapes = []
    inside = clip_window(window, (height, width))
    if (top, left, bottom, right) != inside:
        shapes += [dict(type="rect", x0=left - 0.5, x1=right + 0.5, y0=top - 0.5,
                        y1=bottom + 0.5,
                        line=dict(color=style.highlight, width=style.line_width, dash="dot"),
                        fillcolor=style.highlight_faint),
                   dict(type="rect", x0=-0.5, x1=width - 0.5, y0=-0.5, y1=height - 0.5,
                        line=dict(color="#888", width=style.thin_line_width))]
    if inside is not None:
        t, l, b, r = inside
        shapes.append(dict(type="rect", x0=l - 0.5, x1=r + 0.5, y0=t - 0.5, y1=b + 0.5,
                           line=dict(color=style.highlight, width=2 * style.line_width),
                           fillcolor=style.highlight_fill))
    x_range = [min(left, 0) - 0.5, max(right, width - 1) + 0.5]
    y_range = [max(bottom, height - 1) + 0.5, min(top, 0) - 0.5]
    layout = dict(
        xaxis=dict(HIDDEN_TICKS, range=x_range, constrain="domain"),
        yaxis=dict(HIDDEN_TICKS, range=y_range, scaleanchor="x", constrain="domain",
                   autorange=False),
        plot_bgcolor="#e6e6e6")  # the zero padding around the image
    if shapes:
        layout["shapes"] = shapes
    return _figure([_image_trace(image)], layout, title, 420, "receptive-field", style)


def probe_image(image: np.ndarray, title: str = "", height: int = 260, *,
                style: Style = DEFAULT) -> go.Figure:
    """The probe input, pixel-exact, no axes."""
    return _figure([_image_trace(image)], _square_axes(), title, height, "probe", style)


OTHER_CLASS = "#9ecae1"  # a light tint of the predicted class's blue


def probabilities(probs: np.ndarray, classes: Sequence[str], true_class: int | None = None,
                  title: str = "", height: int | None = None, *,
                  style: Style = DEFAULT) -> go.Figure:
    """Class probabilities as horizontal bars, the predicted class dark, the true one
    outlined; best class at the top."""
    probs = np.asarray(probs, dtype=np.float64)
    predicted = int(np.argmax(probs))
    colours = [style.line_color(0) if i == predicted else OTHER_CLASS
               for i in range(len(probs))]
    outline = [1.5 * style.line_width if i == true_class else 0 for i in range(len(probs))]
    labels = [f"{name} ✓" if i == true_class else str(name) for i, name in enumerate(classes)]
    bars = go.Bar(
        x=probs, y=labels, orientation="h",
        marker=dict(color=colours, line=dict(color=style.caption_color, width=outline)),
        text=[f"{p:.0%}" if p >= 0.005 else "" for p in probs], textposition="outside",
        cliponaxis=False, hovertemplate="%{y}: %{x:.2%}<extra></extra>")
    layout = dict(xaxis=dict(range=[0, 1.15], tickformat=".0%", showgrid=True),
                  yaxis=dict(autorange="reversed", type="category"), bargap=0.15)
    return _figure([bars], layout, title, height or max(260, 26 * len(probs) + 60),
                   "probabilities", style)


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
            padding: int = 0, mode: str = "max", title: str = "", *,
            style: Style = DEFAULT) -> go.Figure:
    """One channel: the pooling input with its windows (and, for max, each window's winner
    marked, unless all its values tie) beside the pooled output. `mode` picks which output
    is drawn ("max"/"avg")."""
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
    input_map = np.asarray(input_map, dtype=np.float32)
    output = np.asarray(max_output if mode == "max" else avg_output, dtype=np.float32)
    height, width = input_map.shape
    out_h, out_w = output.shape
    limit = _symmetric_limit(np.concatenate([input_map.ravel(), output.ravel()]))
    scale = dict(colorscale=style.diverging, zmid=0, zmin=-limit, zmax=limit)
    xs, ys = _window_lines(height, width, out_h, out_w, kernel, stride, padding)
    traces = [
        go.Heatmap(z=input_map, xaxis="x", yaxis="y", showscale=False,
                   hovertemplate="input row %{y}, col %{x}<br>%{z:.3f}<extra></extra>",
                   **scale),
        go.Scatter(x=xs, y=ys, mode="lines", xaxis="x", yaxis="y",
                   line=dict(color="#444", width=style.thin_line_width), hoverinfo="skip",
                   showlegend=False, name="windows")]
    if mode == "max":
        # A window whose values are all equal (a dead ReLU's zeros) has no real winner:
        # its max equals its mean, and marking it would only clutter the picture.
        contested = (np.asarray(max_output) > np.asarray(avg_output) + 1e-7).ravel()
        traces.append(go.Scatter(
            x=np.asarray(argmax_cols).ravel()[contested],
            y=np.asarray(argmax_rows).ravel()[contested],
            mode="markers", xaxis="x", yaxis="y", name="max winner", showlegend=False,
            marker=dict(symbol="circle-open",
                        size=style.marker(max(5, min(14, 260 // max(height, width)))),
                        color=style.winner, line=dict(width=1.25 * style.line_width)),
            hovertemplate="winner at row %{y}, col %{x}<extra></extra>"))
    traces.append(go.Heatmap(z=output, xaxis="x2", yaxis="y2",
                             colorbar=style.colorbar("value"),
                             hovertemplate="output row %{y}, col %{x}<br>%{z:.3f}"
                                           "<extra></extra>", **scale))
    axis = dict(HIDDEN_TICKS, constrain="domain")
    layout = dict(
        xaxis=dict(domain=[0, 0.58], range=[-0.5 - padding, width - 0.5 + padding], **axis),
        yaxis=dict(range=[height - 0.5 + padding, -0.5 - padding], scaleanchor="x", **axis),
        xaxis2=dict(domain=[0.64, 0.94], range=[-0.5, out_w - 0.5], **axis),
        yaxis2=dict(range=[out_h - 0.5, -0.5], scaleanchor="x2", anchor="x2", **axis),
        annotations=[
            _caption(f"input {height}x{width}, {kernel}x{kernel} windows, stride {stride}",
                     0.29, 1.0, style),
            _caption(f"{mode} pooled {out_h}x{out_w}", 0.79, 1.0, style)])
    return _figure(traces, layout, title, 430, "pooling", style)


# --- frequency ----------------------------------------------------------------------------

def frequency_response(view: FrequencyView, title: str = "", *,
                       style: Style = DEFAULT) -> go.Figure:
    """A kernel, the magnitude of its zero-padded centred 2-D FFT, and its radial profile,
    side by side (`spectra.frequency_view`); the title carries the kernel's character."""
    text = view.label if view.angle is None else f"{view.label}, {view.angle:.0f}°"
    limit = _symmetric_limit(view.kernel)
    freqs = view.frequencies
    traces = [
        go.Heatmap(z=view.kernel, xaxis="x", yaxis="y", colorscale=style.diverging, zmid=0,
                   zmin=-limit, zmax=limit, showscale=False,
                   hovertemplate="row %{y}, col %{x}<br>weight %{z:.4f}<extra></extra>"),
        go.Heatmap(z=view.spectrum, x=freqs, y=freqs, xaxis="x2", yaxis="y2",
                   colorscale=style.sequential,
                   colorbar=style.colorbar(view.unit, x=0.64, len=0.8),
                   hovertemplate="fx %{x:.3f}, fy %{y:.3f}<br>%{z:.3f}<extra></extra>"),
        go.Scatter(x=view.radii, y=view.profile, xaxis="x3", yaxis="y3", mode="lines+markers",
                   line=dict(color=style.line_color(3), width=1.5 * style.line_width),
                   showlegend=False,
                   hovertemplate="radius %{x:.3f}<br>%{y:.3f}<extra></extra>")]
    # the band edges of the label, as dotted lines (shapes: add_vline is slow)
    edges = [dict(type="line", x0=edge, x1=edge, xref="x3", y0=0, y1=1, yref="y3 domain",
                  line=dict(color="#999", dash="dot")) for edge in view.bands]
    axis = dict(showgrid=False, zeroline=False, constrain="domain")
    layout = dict(
        shapes=edges,
        xaxis=dict(domain=[0, 0.22], showticklabels=False, ticks="", **axis),
        yaxis=dict(autorange="reversed", scaleanchor="x", showticklabels=False, ticks="",
                   **axis),
        xaxis2=dict(domain=[0.3, 0.62], title="fx (cycles/pixel)", **axis),
        yaxis2=dict(anchor="x2", scaleanchor="x2", title="fy", autorange="reversed", **axis),
        xaxis3=dict(domain=[0.82, 1.0], title="radius (cycles/pixel)", range=[0, 0.5]),
        yaxis3=dict(anchor="x3", title=f"mean {view.unit}"),
        annotations=[_caption("kernel", 0.11, 1.0, style),
                     _caption(f"FFT magnitude ({view.unit})", 0.46, 1.0, style),
                     _caption("radial profile", 0.91, 1.0, style)])
    # 85 pixels on top: room for the subplot captions under the title
    return _figure(traces, layout, f"{title}: {text}" if title else text, 360, "frequency",
                   style, top=85)


def convolution_theorem(view: TheoremView, title: str = "", *,
                        style: Style = DEFAULT) -> go.Figure:
    """The kernel's effect on the probe, in space (top: image, filtered image) and in
    frequency (bottom: |FFT image| x |H| = |FFT filtered|), circular padding
    (`spectra.theorem_view`)."""
    names = ["probe image", "kernel", "filtered = probe ⋆ kernel",
             "|FFT probe|", "|H| of the kernel", "|FFT filtered| = product"]
    spectra = [view.image_spectrum, view.transfer, view.filtered_spectrum]
    domains = [[0, 0.3], [0.35, 0.65], [0.7, 1.0]]
    limit = _symmetric_limit(view.kernel)
    traces, layout, annotations = [], {}, []
    for n, name in enumerate(names):
        row, col = divmod(n, 3)
        axis_id = "" if n == 0 else str(n + 1)
        common = dict(xaxis=f"x{axis_id}", yaxis=f"y{axis_id}",
                      hovertemplate="%{z:.3f}<extra></extra>", showscale=False)
        if row == 0 and col == 1:
            traces.append(go.Heatmap(z=view.kernel, colorscale=style.diverging, zmid=0,
                                     zmin=-limit, zmax=limit, **common))
        elif row == 0:
            traces.append(go.Heatmap(z=view.image if col == 0 else view.filtered,
                                     colorscale="gray", **common))
        else:
            traces.append(go.Heatmap(z=spectra[col], colorscale=style.sequential, **common))
        y_domain = [0.54, 0.94] if row == 0 else [0.0, 0.4]
        layout[f"xaxis{axis_id}"] = dict(HIDDEN_TICKS, domain=domains[col],
                                         constrain="domain")
        layout[f"yaxis{axis_id}"] = dict(HIDDEN_TICKS, domain=y_domain, anchor=f"x{axis_id}",
                                         scaleanchor=f"x{axis_id}", autorange="reversed",
                                         constrain="domain")
        annotations.append(_caption(name, sum(domains[col]) / 2, y_domain[1], style))
    layout["annotations"] = annotations
    return _figure(traces, layout, title, 560, "theorem", style, ticks=False)


def reference_table(views: Mapping[str, FrequencyView], *,
                    style: Style = DEFAULT) -> go.Figure:
    """Reference kernels (`spectra.reference_views`: box, Gaussian, Sobel x/y, Laplacian)
    in one column each of kernel and FFT magnitude, labelled, so "low-pass" has a
    picture."""
    width = 1.0 / len(views)
    traces, layout, annotations = [], {}, []
    for n, (name, view) in enumerate(views.items()):
        left = n * width
        for row, (z, scale) in enumerate(((view.kernel, style.diverging),
                                          (view.spectrum, style.sequential))):
            axis_id = str(2 * n + row + 1) if 2 * n + row else ""
            limit = _symmetric_limit(z) if row == 0 else None
            traces.append(go.Heatmap(
                z=z, colorscale=scale, showscale=False, xaxis=f"x{axis_id}",
                yaxis=f"y{axis_id}", zmid=0 if row == 0 else None,
                zmin=-limit if limit else None, zmax=limit,
                hovertemplate="%{z:.3f}<extra></extra>"))
            y_domain = [0.5, 0.86] if row == 0 else [0.0, 0.42]
            layout[f"xaxis{axis_id}"] = dict(HIDDEN_TICKS, domain=[left + 0.02,
                                                                   left + width - 0.02],
                                             constrain="domain")
            layout[f"yaxis{axis_id}"] = dict(domain=y_domain, anchor=f"x{axis_id}",
                                             scaleanchor=f"x{axis_id}", autorange="reversed",
                                             showticklabels=False, showgrid=False,
                                             zeroline=False, constrain="domain")
        text = f"<b>{name}</b><br>{view.label}" + ("" if view.angle is None
                                                    else f" {view.angle:.0f}°")
        annotations.append(_caption(text, left + width / 2, 0.88, style))
    layout["annotations"] = annotations
    return _figure(traces, layout, "Reference kernels (top) and their FFT magnitude (bottom)",
                   400, "references", style)


# --- saliency -----------------------------------------------------------------------------

def grad_cam_overlay(image: np.ndarray, cam: np.ndarray, title: str = "", *,
                     style: Style = DEFAULT, scale_title: str = "Grad-CAM") -> go.Figure:
    """The probe with a map in [0, 1] (Grad-CAM's, upsampled to the image; or any other
    saliency map) laid over it."""
    image = np.asarray(image, dtype=np.float32)
    height, width = image.shape[:2]
    cam = np.asarray(cam, dtype=np.float32)
    rows = (np.arange(height) + 0.5) * cam.shape[0] / height - 0.5
    cols = (np.arange(width) + 0.5) * cam.shape[1] / width - 0.5
    up = _bilinear(cam, rows, cols)
    overlay = go.Heatmap(z=up, colorscale=[list(stop) for stop in style.heat_overlay],
                         zmin=0, zmax=1, colorbar=style.colorbar(scale_title),
                         hovertemplate="row %{y}, col %{x}<br>%{z:.2f}<extra></extra>")
    return _figure([_image_trace(image), overlay], _square_axes(), title, 420, "gradcam",
                   style)


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
