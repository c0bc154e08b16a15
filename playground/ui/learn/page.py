"""Learn page: short interactive lessons on how convolution works, one per screen.

Every number shown is computed by `playground.lessons.basics` (torch/OpenCV); figures come from
`playground.figures.lessons`. Each lesson ends with a button that loads a small network
showing the idea into the session and opens the Build page.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch

from playground.figures import diagram
from playground.figures import inspection as IF
from playground.figures import lessons as LF
from playground.figures import lessons_deeper as LFD
from playground.lessons import basics as L
from playground.lessons import deeper as LD
from playground.model import build as M
from playground.ui.learn import more as learn_part2
from playground.ui.learn.widgets import chart as _chart
from playground.ui.learn.widgets import open_on_build as _open_on_build
from playground.ui.learn.widgets import open_spec as _open_spec

LESSONS = (
    "1 · Convolution step by step",
    "2 · Correlation vs convolution",
    "3 · Multiple channels",
    "4 · Weight sharing",
    "5 · Frequency view",
    "6 · Activation functions",
    "7 · Pooling and shifts",
    "8 · Receptive fields",
    "9 · BatchNorm, dropout, residuals",
    # Issue 9's order: three lessons of part 2, going deeper, then the other two.
    *learn_part2.LESSONS[:3],
    "13 · Going deeper (ResNets)",
    *learn_part2.LESSONS[3:],
)
# Fifteen lessons do not fit one row of a radio: a part choice above it. Part 1 keeps the
# widget key "learn_lesson" it always had.
PARTS = {"Part 1 · How convolution works": (LESSONS[:9], "learn_lesson"),
         "Part 2 · Training, other convolutions, limits": (LESSONS[9:], "learn_lesson_part2")}


def render() -> None:
    st.title("Learn how convolution works")
    part = st.segmented_control("Part", tuple(PARTS), default=next(iter(PARTS)),
                                key="learn_part", label_visibility="collapsed")
    lessons, key = PARTS[part or next(iter(PARTS))]
    lesson = st.radio("Lesson", lessons, horizontal=True, key=key,
                      label_visibility="collapsed")
    st.divider()
    RENDERERS[LESSONS.index(lesson)]()


def _kernel_editor(default: str, key: str, presets: tuple[str, ...] | None = None) -> np.ndarray:
    """A preset picker and the 3x3 kernel as an editable table (reset by the picker)."""
    names = presets or tuple(L.KERNEL_PRESETS)
    preset = st.selectbox("Kernel", names, index=names.index(default), key=f"{key}_preset")
    table = pd.DataFrame(np.round(L.kernel_preset(preset), 3),
                         columns=[f"c{c}" for c in range(3)])
    edited = st.data_editor(table, key=f"{key}_grid_{preset}", hide_index=True,
                            width="stretch")
    return edited.to_numpy(dtype=np.float64)


# --- 1 ------------------------------------------------------------------------------------

def lesson_convolution() -> None:
    st.header("Convolution step by step")
    st.markdown("A conv layer slides a small **kernel** over the image. At each position it "
                "multiplies the pixels under the kernel by the kernel's weights and adds the "
                "products up: one number of the output. **Stride** is the step between "
                "positions, **padding** adds a border of zeros, **dilation** spreads the taps.")
    controls, view = st.columns([1, 3])
    with controls:
        source = st.radio("Input", ("digit crop", "photo crop"), horizontal=True,
                          key="learn_c_source")
        size = st.slider("Input size", 5, 10, 7, key="learn_c_size")
        kernel = _kernel_editor("Sobel x", "learn_c")
        stride = st.slider("Stride S", 1, 3, 1, key="learn_c_stride")
        padding = st.slider("Padding P", 0, 3, 0, key="learn_c_padding")
        dilation = st.slider("Dilation D", 1, 3, 1, key="learn_c_dilation")
    image = L.sample_digit(3) if source == "digit crop" else L.sample_gray(48)
    top = (image.shape[0] - size) // 2
    grid = np.round(L.crop(image, top, top, size), 2)
    k = kernel.shape[0]
    with view:
        try:
            steps = L.conv_steps(grid, kernel, stride, padding, dilation)
        except ValueError as error:
            st.error(f"No output: {error}. Add padding or shrink the dilation.")
            st.latex(L.output_size_latex(size, k, stride, padding, dilation))
            return
        out_h, out_w = steps.output.shape
        step_key = f"learn_c_step_{out_h}x{out_w}"  # a new output size starts at step 1
        st.session_state.setdefault(step_key, 1)
        playing = _play_button(step_key, len(steps.steps))
        st.fragment(_conv_player, run_every=PLAY_SECONDS if playing else None)(
            steps, kernel, step_key)
        st.latex(L.output_size_latex(size, k, stride, padding, dilation))
        kind = L.convolution_kind(size, k, stride, padding, dilation)
        names = {"narrow": "a **narrow** (valid) convolution: no padding, the output shrinks",
                 "same": "a **same** convolution: the padding keeps the size (at stride 1)",
                 "wide": "a **wide** (full) convolution: padding K_eff−1, every partial "
                         "overlap counts, the output grows",
                 "padded": "a padded convolution (neither narrow, same nor wide)"}
        difference = float(np.abs(steps.output - L.conv_reference(
            grid, kernel, stride, padding, dilation)).max())
        st.markdown(f"This is {names[kind]}. Output {out_h}x{out_w}; the same numbers from "
                    f"PyTorch's `F.conv2d` differ by at most {difference:.1e}.")
    _open_on_build([{"type": "conv", "out_channels": 8, "kernel_size": 3, "stride": stride,
                     "padding": padding, "dilation": dilation}, {"type": "relu"}],
                   "Lesson 1: one conv layer", "A single conv layer with the lesson's stride, "
                   "padding and dilation.", "learn_c_build")


PLAY_SECONDS = 0.8          # between two kernel positions while playing
PLAY_KEY = "learn_c_playing"


def _toggle_play(step_key: str, count: int) -> None:
    """Play / pause (a button callback, so the label is right in the same run); playing
    from the last step starts again at the first."""
    playing = not st.session_state.get(PLAY_KEY)
    if playing and st.session_state[step_key] >= count:
        st.session_state[step_key] = 1
    st.session_state[PLAY_KEY] = playing


def _play_button(step_key: str, count: int) -> bool:
    playing = bool(st.session_state.get(PLAY_KEY)) and count > 1
    if count > 1:
        st.button("Pause" if playing else "Play", key="learn_c_play",
                  icon=":material/pause:" if playing else ":material/play_arrow:",
                  on_click=_toggle_play, args=(step_key, count))
    return playing


def _conv_player(steps: L.ConvSteps, kernel: np.ndarray, step_key: str) -> None:
    """The step slider, the kernel on the input and the sum written out; while playing
    (a timed rerun of this fragment only) the kernel moves one position per run."""
    count = len(steps.steps)
    if st.session_state.get(PLAY_KEY):
        if st.session_state[step_key] < count:
            st.session_state[step_key] += 1
        else:  # the last position: stop the timer with a full rerun
            st.session_state[PLAY_KEY] = False
            st.rerun()
    index = st.slider("Step (output pixel)", 1, count, key=step_key) - 1 if count > 1 else 0
    step = steps.steps[index]
    _chart(LF.conv_step(steps, kernel, index, title=f"Step {index + 1} of {count}: output "
                                                    f"pixel ({step.out_row}, {step.out_col})"))
    st.latex(L.mac_terms(step, kernel))


# --- 2 ------------------------------------------------------------------------------------

def lesson_correlation() -> None:
    st.header("Cross-correlation vs convolution")
    st.markdown("Mathematicians' **convolution** flips the kernel by 180° before sliding it; "
                "**cross-correlation** does not. Deep-learning libraries (PyTorch's `conv2d` "
                "too) compute cross-correlation and still call it convolution: the kernel is "
                "learned, so a flipped kernel is learned just as well, and skipping the flip "
                "is simpler.")
    st.latex(r"\text{correlation: } y_{i,j} = \sum_{u,v} x_{i+u,\,j+v}\, w_{u,v}"
             r"\qquad \text{convolution: } y_{i,j} = \sum_{u,v} x_{i+u,\,j+v}\,"
             r" w_{K-1-u,\,K-1-v}")
    left, right = st.columns([1, 3])
    with left:
        kernel = _kernel_editor("emboss", "learn_x")
    result = L.correlation_vs_convolution(L.sample_gray(48), kernel)
    with right:
        _chart(LF.heatmaps([kernel, result.flipped], ["kernel w", "w rotated by 180°"],
                           [True, True], height=300))
    _chart(LF.heatmaps([result.correlation, result.convolution,
                        result.correlation - result.convolution],
                       ["cross-correlation (conv2d)", "convolution (flipped kernel)",
                        "difference"], [True, True, True], height=400))
    verdict = ("symmetric under a 180° turn, so both give the same output"
               if result.symmetric else "not symmetric, so the outputs differ")
    st.markdown(f"This kernel is **{verdict}**: the largest difference is "
                f"**{result.max_difference:.4f}**.")
    _open_on_build([{"type": "conv", "out_channels": 8, "kernel_size": 3},
                    {"type": "relu"}, {"type": "maxpool", "kernel_size": 2}],
                   "Lesson 2: learned kernels", "Train it and look at the learned kernels on "
                   "the Inspect page: whether they are flipped does not matter.",
                   "learn_x_build")


# --- 3 ------------------------------------------------------------------------------------

def lesson_channels() -> None:
    st.header("Multiple channels")
    st.markdown("A colour image has 3 channels, so each kernel has 3 slices, one per input "
                "channel. Each slice is slid over its own channel; the 3 results are **added** "
                "and a bias is added: one output channel. A layer has one such kernel per "
                "output channel.")
    controls, view = st.columns([1, 3])
    with controls:
        preset = st.selectbox("Kernel slice", ("Sobel x", "Laplacian", "box (mean)"),
                              key="learn_m_preset")
        weights = [st.slider(f"weight of the {name} slice", -1.0, 1.0, value,
                             step=0.25, key=f"learn_m_w{name}")
                   for name, value in (("R", 1.0), ("G", 0.0), ("B", -1.0))]
        bias = st.slider("bias b", -1.0, 1.0, 0.0, step=0.1, key="learn_m_bias")
    photo = L.sample_photo(40).transpose(2, 0, 1)
    kernel = np.stack([w * L.kernel_preset(preset) for w in weights])
    result = L.multichannel(photo, kernel, bias)
    with view:
        _chart(LF.heatmaps(list(photo), ["red channel", "green channel", "blue channel"],
                           [False] * 3, height=300))
        _chart(LF.heatmaps(list(result.per_channel) + [result.output],
                           ["R ⋆ w_R", "G ⋆ w_G", "B ⋆ w_B", f"sum + b ({bias:+.1f})"],
                           [True] * 4, height=320))
    st.latex(rf"y = x_R \star w_R + x_G \star w_G + x_B \star w_B + b,\quad "
             rf"y_{{0,0}} = {result.per_channel[0, 0, 0]:.3f} + {result.per_channel[1, 0, 0]:.3f}"
             rf" + {result.per_channel[2, 0, 0]:.3f} + ({bias:.2f}) = {result.output[0, 0]:.3f}")
    st.subheader("Parameters of a conv layer")
    a, b, c = st.columns(3)
    depth = a.number_input("input channels D", 1, 512, 3, key="learn_m_in")
    count = b.number_input("output channels P", 1, 512, 16, key="learn_m_out")
    size = c.number_input("kernel size U = V", 1, 11, 3, key="learn_m_k")
    st.markdown(f"The kernel depth equals the input channels ({depth}); the number of kernels "
                f"equals the output channels ({count}). `nn.Conv2d({depth}, {count}, {size})` "
                f"has weight shape `[{count}, {depth}, {size}, {size}]` and "
                f"**{L.conv_params(depth, count, size):,}** parameters:")
    st.latex(L.conv_params_latex(depth, count, size))
    _open_on_build([{"type": "conv", "out_channels": int(count), "kernel_size": int(size)},
                    {"type": "relu"}, {"type": "maxpool", "kernel_size": 2}],
                   "Lesson 3: colour input", "One conv layer on 3-channel CIFAR-10 images.",
                   "learn_m_build", (3, 32, 32), "cifar10")


# --- 4 ------------------------------------------------------------------------------------

def lesson_sharing() -> None:
    st.header("Local connection and weight sharing")
    st.markdown("A fully-connected layer links **every** input pixel to **every** output "
                "unit, each link with its own weight. A conv layer links each output only to "
                "the pixels under its kernel (**local connection**), and every position uses "
                "the same kernel (**weight sharing**).")
    cols = st.columns(6)
    size = cols[0].number_input("input size H = W", 2, 64, 8, key="learn_s_size")
    depth = cols[1].number_input("input channels", 1, 64, 1, key="learn_s_in")
    outs = cols[2].number_input("output channels", 1, 64, 1, key="learn_s_out")
    k = cols[3].number_input("kernel size", 1, 7, 3, step=2, key="learn_s_k")
    same = cols[4].toggle("same padding", True, key="learn_s_same")
    bias = cols[5].toggle("bias", False, key="learn_s_bias")
    if k > size + (k // 2) * 2 * same:
        st.error("The kernel is larger than the (padded) input.")
        return
    counts = L.connection_counts(size, size, depth, outs, k, padding=k // 2 if same else 0,
                                 bias=bias)
    o, oh, ow = counts.out_shape
    a, b, c2, d = st.columns(4)
    a.metric("conv parameters", f"{counts.conv_params:,}")
    b.metric("fully-connected parameters", f"{counts.dense_params:,}")
    c2.metric("conv connections", f"{counts.conv_connections:,}")
    d.metric("fully-connected connections", f"{counts.dense_connections:,}")
    for formula in L.connection_latex(counts, bias):
        st.latex(formula)
    ratio = counts.dense_params / max(counts.conv_params, 1)
    st.markdown(f"Output {o}x{oh}x{ow}. The fully-connected layer needs **{ratio:,.0f}x** the "
                "parameters. Connections of the conv layer count only real pixels (not the "
                "zero padding) under each window.")
    _chart(LF.count_bars(["parameters", "connections"],
                         [counts.conv_params, counts.conv_connections],
                         [counts.dense_params, counts.dense_connections],
                         title="Conv layer vs fully-connected layer, same input and output"))
    _open_on_build([{"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1},
                    {"type": "relu"}, {"type": "maxpool", "kernel_size": 2},
                    {"type": "flatten"}, {"type": "linear", "out_features": 10}],
                   "Lesson 4: conv vs dense", "Compare the parameter counts of the conv and "
                   "linear layers in the Build page's summary.", "learn_s_build")


# --- 5 ------------------------------------------------------------------------------------

def lesson_frequency() -> None:
    st.header("Frequency view")
    st.markdown("The **convolution theorem**: filtering an image in space is the same as "
                "multiplying its 2-D Fourier spectrum by the kernel's spectrum H. A **low-pass** "
                "kernel (Gaussian) keeps slow changes and blurs; a **high-pass** kernel "
                "(identity − Gaussian) keeps fast changes: edges.")
    st.latex(r"\mathcal{F}\{x \star w\} = \mathcal{F}\{x\}\cdot H")
    left, right = st.columns([1, 3])
    with left:
        sigma = st.slider("Gaussian σ (pixels)", 0.5, 4.0, 1.5, step=0.25, key="learn_f_sigma")
        kind = st.radio("Filter", ("low-pass", "high-pass"), key="learn_f_kind")
    gauss = L.gaussian_kernel(sigma)
    kernel = gauss if kind == "low-pass" else L.high_pass(gauss)
    image = L.sample_gray(64)
    check = L.convolution_theorem(image, gauss if kind == "low-pass" else kernel)
    cutoff = L.half_power_cutoff(gauss, size=128)
    with left:
        st.metric("low-pass half-power cutoff", f"{cutoff:.3f} cycles/px")
        st.metric("theorem check: max |FFT(filtered) − product|", f"{check.max_error:.1e}")
    with right:
        _chart(IF.convolution_theorem(image, kernel, db=True,
                                      title=f"{kind} {kernel.shape[0]}x{kernel.shape[1]} "
                                            f"kernel, σ = {sigma}"))
    st.latex(rf"|H(f)| \approx e^{{-2\pi^2\sigma^2 f^2}},\quad |H| = \tfrac12 \text{{ at }} "
             rf"f = \frac{{\sqrt{{\ln 2 / 2}}}}{{\pi\sigma}} = "
             rf"{np.sqrt(np.log(2) / 2) / (np.pi * sigma):.3f}\ \text{{(measured: }}"
             rf"{cutoff:.3f})")
    st.caption("A larger σ moves the cutoff to lower frequencies: more blur. The measured "
               "value is read off the kernel's radial FFT profile (on a 128x128 grid).")
    _open_on_build([{"type": "conv", "out_channels": 16, "kernel_size": 5, "padding": 2},
                    {"type": "relu"}, {"type": "maxpool", "kernel_size": 2}],
                   "Lesson 5: kernels in frequency", "Train it, then open Inspect → "
                   "Frequency to see which kernels became low- or high-pass.", "learn_f_build")


# --- 6 ------------------------------------------------------------------------------------

def lesson_activations() -> None:
    st.header("Activation functions")
    st.markdown("After each convolution comes a **nonlinearity**. Without it, two stacked "
                "convolutions are still one linear map: exactly one bigger convolution.")
    left, right = st.columns([1, 3])
    with left:
        name = st.radio("Activation", tuple(L.ACTIVATIONS), key="learn_a_name")
        st.latex(L.ACTIVATION_FORMULAS[name])
    features = L.conv_reference(L.sample_digit(3), L.kernel_preset("Sobel x"))
    with right:
        _chart(LF.activation_curves({n: L.activation_curve(n) for n in L.ACTIVATIONS},
                                    title="The curves and their derivatives"))
    activated = L.activate(name, features)
    _chart(LF.heatmaps([features, activated], ["feature map (digit ⋆ Sobel x)",
                                               f"after {name}"], [True, True], height=380))
    st.caption(f"Negative values before: {int((features < 0).sum())}; after {name}: "
               f"{int((activated < 0).sum())}.")
    st.subheader("Two 3x3 convolutions = one 5x5 convolution")
    seed = st.number_input("random kernels, seed", 0, 999, 0, key="learn_a_seed")
    generator = np.random.default_rng(int(seed))
    k1, k2 = np.round(generator.normal(size=(2, 3, 3)), 2)
    stack = L.stacked_vs_single(L.sample_digit(3), k1, k2, name)
    _chart(LF.heatmaps([k1, k2, stack.composed], ["kernel 1 (3x3)", "kernel 2 (3x3)",
                                                  "composed kernel (5x5)"],
                       [True, True, True], height=360))
    st.latex(rf"(x \star w_1) \star w_2 = x \star (w_1 * w_2):\quad \max|\text{{stacked}} - "
             rf"\text{{single}}| = {L.sci_latex(stack.max_error)}")
    st.markdown(f"With {name} between the two convolutions the result differs from the 5x5 "
                f"convolution by up to **{stack.activation_gap:.3f}**: no single kernel can do "
                "that, so depth adds power only with nonlinearities.")
    layer = {"ReLU": "relu", "leaky ReLU": "leaky_relu", "sigmoid": "sigmoid", "tanh": "tanh",
             "GELU": "gelu"}[name]
    _open_on_build([{"type": "conv", "out_channels": 8, "kernel_size": 3}, {"type": layer},
                    {"type": "conv", "out_channels": 8, "kernel_size": 3}, {"type": layer},
                    {"type": "maxpool", "kernel_size": 2}],
                   f"Lesson 6: {name}", "Two 3x3 convs with the chosen activation between.",
                   "learn_a_build")


# --- 7 ------------------------------------------------------------------------------------

def lesson_pooling() -> None:
    st.header("Pooling and translation invariance")
    st.markdown("**Max pooling** keeps the largest value of each window, **average pooling** "
                "its mean. A small shift of the input moves the feature map, but often leaves "
                "the pooled maps almost the same: pooling makes features less sensitive to "
                "exact positions.")
    left, right = st.columns([1, 3])
    with left:
        digit = st.selectbox("Digit", list(range(10)), index=3, key="learn_p_digit")
        pool = st.radio("Pool window", (2, 3, 4), index=2, horizontal=True, key="learn_p_pool")
        moved = st.slider("Shift the input (pixels)", 0, 6, 2, key="learn_p_shift")
    image = L.sample_digit(digit)
    kernels = np.stack([L.kernel_preset("Sobel x"), L.kernel_preset("Sobel y")])
    result = L.shift_experiment(image, kernels, pool, max_shift=6)
    features = L.activate("ReLU", L.conv_reference(image, kernels[0], padding=1))
    shifted = L.activate("ReLU", L.conv_reference(L.shift(image, moved), kernels[0], padding=1))
    compare = L.pooled(features, pool)
    compare_shift = L.pooled(shifted, pool)
    with right:
        _chart(LF.heatmaps([features, compare[0], compare[1]],
                           ["ReLU(digit ⋆ Sobel x)", f"max pool {pool}x{pool}",
                            f"avg pool {pool}x{pool}"], [False] * 3, height=330))
        _chart(LF.heatmaps([shifted, compare_shift[0], compare_shift[1]],
                           [f"input shifted {moved} px", "max pool", "avg pool"], [False] * 3,
                           height=330))
    _chart(LF.shift_curves(result, title="How much the features change when the input shifts"))
    n = moved
    st.latex(rf"\text{{change}} = \frac{{\lVert f(\text{{shifted}}) - f(x)\rVert}}"
             rf"{{\lVert f(x)\rVert}}:\ \text{{no pool }} {result.change_conv[n]:.2f},\ "
             rf"\text{{max }} {result.change_max[n]:.2f},\ "
             rf"\text{{avg }} {result.change_avg[n]:.2f}")
    st.caption("Measured on both Sobel feature maps of a real MNIST digit. The pooled features "
               "change less for shifts smaller than the window; they are not fully invariant.")
    st.subheader("A trained model under shifts")
    st.markdown(f"Two small networks (conv 5x5 + ReLU, then max pooling {pool}x{pool} or no "
                "pooling, then a linear classifier) are trained on 4,000 real MNIST digits; "
                "then the 1,000 test digits are shifted and we count how often the "
                "prediction stays the same. Pooling alone does not guarantee invariance: "
                "a linear layer after it still sees positions.")
    if st.button("Train both and measure (a few seconds)", key="learn_p_train"):
        st.session_state["learn_p_models"] = pool
    if st.session_state.get("learn_p_models") == pool:
        with st.spinner("Training two small models on the CPU..."):
            results = [_trained_shift(pool), _trained_shift(1)]
        _chart(LF.model_shift_curves(results, title="Trained models under shifts: predictions "
                                                    "and the classifier's input"))
        pooled_model, plain = results
        st.latex(rf"\text{{same prediction after a 2-pixel shift: max pool }}"
                 rf"{pooled_model.unchanged[2]:.1%},\ \text{{no pooling }}"
                 rf"{plain.unchanged[2]:.1%}".replace("%", r"\%"))
        st.latex(rf"\text{{classifier input change after 2 pixels: max pool }}"
                 rf"{pooled_model.feature_change[2]:.2f},\ \text{{no pooling }}"
                 rf"{plain.feature_change[2]:.2f}")
        st.markdown(
            "The right panel is the direct measure of invariance: how much the features the "
            "final linear layer reads change. Pooling shrinks that change "
            f"({pooled_model.feature_change[2]:.2f} against {plain.feature_change[2]:.2f} "
            "after 2 pixels), but the predictions gain less, because both linear layers "
            "still weigh each position separately, and a shift as large as the pooling "
            "window moves the pooled map by a whole cell. Invariance to larger shifts comes "
            "from stacking pooling stages or a global average pool (the network below).")
    _open_on_build([{"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1},
                    {"type": "relu"}, {"type": "maxpool", "kernel_size": pool},
                    {"type": "conv", "out_channels": 16, "kernel_size": 3, "padding": 1},
                    {"type": "relu"}, {"type": "global_avgpool"}],
                   "Lesson 7: pooling", "Max pooling then global average pooling: a network "
                   "that cares little where the digit is.", "learn_p_build")


@st.cache_resource(show_spinner=False)
def _trained_shift(pool: int) -> L.ModelShift:
    return L.model_shift_experiment(pool, max_shift=6)


# --- 8 ------------------------------------------------------------------------------------

def lesson_receptive() -> None:
    st.header("Receptive fields")
    st.markdown("The **receptive field** of an output pixel is the patch of the input it can "
                "see. Each layer adds (K_eff − 1) times the product of the strides before it.")
    st.latex(r"RF_l = RF_{l-1} + (K_\text{eff} - 1)\prod_{i<l} S_i,\quad "
             r"K_\text{eff} = K + (K-1)(D-1)")
    left, right = st.columns([1, 3])
    with left:
        depth = st.slider("Layers", 1, 6, 3, key="learn_r_layers")
        k = st.radio("Kernel size", (3, 5, 7), horizontal=True, key="learn_r_k")
        stride = st.radio("Stride of every layer", (1, 2), horizontal=True, key="learn_r_s")
        dilation = st.radio("Dilation", ("1", "2", "doubling (1, 2, 4, ...)"),
                            key="learn_r_d")
    dilations = ([2 ** n for n in range(depth)] if dilation.startswith("doubling")
                 else [int(dilation)] * depth)
    layers = [(k, stride, d) for d in dilations]
    rows = L.receptive_fields(layers)
    measured = L.measured_receptive_field(layers)
    with right:
        st.dataframe(pd.DataFrame([{"layer": r.name, "K": r.kernel, "S": r.stride,
                                    "D": r.dilation, "jump in": r.jump_in, "RF": r.rf}
                                   for r in rows]), hide_index=True, width="stretch")
        last = rows[-1]
        k_eff = L.effective_kernel(last.kernel, last.dilation)
        previous = rows[-2].rf if len(rows) > 1 else 1
        st.latex(rf"RF_{{{depth}}} = {previous} + ({k_eff} - 1)\cdot{last.jump_in} = {last.rf}"
                 rf"\quad(\text{{measured by backprop: }} {measured})")
    growth = {"your stack": rows,
              "plain 3x3": L.receptive_fields([(3, 1, 1)] * depth)}
    chart, window = st.columns([3, 2])
    with chart:
        _chart(LF.receptive_growth(growth, title="Receptive field per layer"))
    with window:
        _chart(LF.receptive_window(min(last.rf + 6, 64), min(last.rf, 64),
                                   title=f"{last.rf}x{last.rf} input pixels"))
    channels = 64
    stacked, single = L.stack_params(depth, channels, 3), L.stack_params(1, channels,
                                                                         2 * depth + 1)
    st.markdown(f"**VGG's trick:** {depth} stacked 3x3 layers see "
                f"{2 * depth + 1}x{2 * depth + 1}, like one {2 * depth + 1}x{2 * depth + 1} "
                f"layer, with {stacked:,} instead of {single:,} weights at {channels} channels "
                "(and a nonlinearity after each).")
    _open_on_build([item for (kk, s, d) in layers for item in
                    ({"type": "conv", "out_channels": 8, "kernel_size": kk, "stride": s,
                      "dilation": d, "padding": d * (kk // 2)}, {"type": "relu"})],
                   "Lesson 8: receptive field", "The lesson's stack: the Build page's summary "
                   "shows each layer's receptive field.", "learn_r_build")


# --- 9 ------------------------------------------------------------------------------------

def lesson_normalisation() -> None:
    st.header("Batch normalization, dropout, residual blocks")
    bn_tab, drop_tab, res_tab = st.tabs(["BatchNorm", "Dropout", "Residual blocks"])
    with bn_tab:
        st.markdown("BatchNorm normalises each channel with the mean and variance over the "
                    "batch and all positions (N, H, W), then scales by γ and shifts by β: "
                    "2 trainable parameters per channel.")
        batch_size = st.slider("Batch size N (real digits)", 2, 10, 8, key="learn_b_n")
        digits = torch.tensor(np.stack([L.sample_digit(n % 10) for n in range(batch_size)]))
        kernels = torch.tensor(np.stack([L.kernel_preset(n) for n in
                                         ("Sobel x", "Sobel y", "box (mean)")]))[:, None]
        batch = torch.nn.functional.conv2d(digits[:, None], kernels)
        check = L.batchnorm_check(batch)
        names = ["Sobel x", "Sobel y", "box"]
        _chart(LF.channel_bars(names, {"mean before": check.mean, "variance before":
                                       check.var,
                                       "mean after": check.normalised.mean(axis=(0, 2, 3)),
                                       "variance after": check.normalised.var(axis=(0, 2, 3))},
                               title=f"Per-channel statistics over (N, H, W) = "
                                     f"({batch_size}, 26, 26)"))
        mean = float(np.round(check.mean[0], 3)) + 0.0  # no "-0.000"
        st.latex(rf"\hat x = \frac{{x - \mu_c}}{{\sqrt{{\sigma_c^2 + \epsilon}}}},\ "
                 rf"y = \gamma_c \hat x + \beta_c,\quad \mu_{{\text{{Sobel x}}}} = "
                 rf"{mean:.3f},\ \sigma^2 = {check.var[0]:.3f};\ "
                 rf"\text{{params}} = 2C = {check.params}")
        st.caption(f"nn.BatchNorm2d in training mode agrees with the formula to "
                   f"{check.max_error:.1e}; it also keeps {check.buffers} running statistics "
                   "(not trained) for evaluation.")
    with drop_tab:
        st.markdown("Dropout zeroes each value with probability p while training and scales "
                    "the rest by 1/(1−p), so the expected value is unchanged; in evaluation "
                    "it does nothing.")
        p = st.slider("p", 0.0, 0.9, 0.5, step=0.1, key="learn_b_p")
        demo = L.dropout_demo(L.sample_digit(5), p, samples=3)
        _chart(LF.heatmaps(list(demo.train_outputs) + [demo.eval_output],
                           ["training pass 1", "training pass 2", "training pass 3",
                            "evaluation"], [False] * 4, height=330))
        st.latex(rf"\text{{kept}} = {demo.kept_fraction:.2f}\ (1-p = {1 - p:.2f}),\quad "
                 rf"\text{{mean}}_\text{{train}} = {demo.train_mean:.3f} \approx "
                 rf"\text{{mean}}_\text{{input}} = {demo.input_mean:.3f}")
    with res_tab:
        st.markdown("A residual block adds its input back: y = ReLU(F(x) + shortcut(x)). The "
                    "shortcut is the **identity** when the shape is unchanged, else a 1x1 "
                    "**projection** (conv + BN). If F learns zero, the block passes its input "
                    "through, so extra blocks cannot make the network worse; plain deep stacks "
                    "have no such easy path and train worse.")
        a, b, c = st.columns(3)
        cin = a.number_input("in channels", 1, 64, 16, key="learn_b_cin")
        cout = b.number_input("out channels", 1, 64, 16, key="learn_b_cout")
        stride = c.radio("stride", (1, 2), horizontal=True, key="learn_b_stride")
        info = L.residual_info(int(cin), int(cout), int(stride))
        kind = "projection (1x1 conv + BN)" if info.projection else "identity"
        st.markdown(f"Shortcut: **{kind}**, {info.shortcut_params:,} parameters; block: "
                    f"{info.params:,} parameters; output {info.out_shape}. With F set to "
                    f"zero: max |block(x) − ReLU(shortcut(x))| = {info.zero_body_error:.1e}.")
        st.subheader("Why deep plain stacks degrade")
        _degradation_panel("learn_b")
        st.caption("Lesson 13 (Going deeper) adds the bottleneck block and ResNet stages.")
    _open_on_build([{"type": "conv", "out_channels": 16, "kernel_size": 3, "padding": 1,
                     "bias": False}, {"type": "batchnorm"}, {"type": "relu"},
                    {"type": "residual", "out_channels": 16},
                    {"type": "residual", "out_channels": 32, "stride": 2},
                    {"type": "dropout", "p": 0.3}, {"type": "global_avgpool"}],
                   "Lesson 9: BN, dropout, residual", "A small ResNet: BatchNorm, an identity "
                   "and a projection block, dropout before the head.", "learn_b_build")


# --- 13 (issue 9, lesson 4): going deeper ---------------------------------------------------

@st.cache_resource(show_spinner=False)
def _degradation(blocks: int) -> LD.DegradationResult:
    return LD.degradation_experiment(blocks)


def _degradation_panel(key: str) -> None:
    """The plain vs residual experiment (shared by lessons 9 and 13)."""
    blocks = st.select_slider("Depth (3x3 conv layers in each network)",
                              [2 * b + 1 for b in range(1, LD.MAX_BLOCKS + 1)],
                              value=2 * LD.MAX_BLOCKS + 1, key=f"{key}_depth")
    with st.spinner("Training both networks on the CPU (a few seconds)..."):
        result = _degradation((blocks - 1) // 2)
    plain, residual = result.plain, result.residual
    _chart(LFD.degradation_curves(result, title=f"{blocks} conv layers, plain vs residual: "
                                                f"{result.steps} SGD steps of "
                                                f"{result.batch_size} digits"))
    a, b, c = st.columns(3)
    a.metric("test accuracy, plain", f"{plain.test_acc:.1%}")
    b.metric("test accuracy, residual", f"{residual.test_acc:.1%}")
    c.metric("first-layer gradient, residual / plain", f"{result.first_layer_ratio:,.3g}x")
    st.latex(rf"\frac{{\partial L}}{{\partial x_l}} = \frac{{\partial L}}{{\partial x_L}}"
             rf"\prod_{{i=l}}^{{L-1}} \frac{{\partial x_{{i+1}}}}{{\partial x_i}}"
             rf"\quad\text{{vs}}\quad x_{{i+1}} = x_i + F(x_i) \Rightarrow "
             rf"\frac{{\partial x_{{i+1}}}}{{\partial x_i}} = I + \frac{{\partial F}}"
             rf"{{\partial x_i}};\quad \lVert\nabla W_1\rVert:\ \text{{plain }} "
             rf"{L.sci_latex(float(plain.first_grad_norms[0]))},\ \text{{residual }} "
             rf"{L.sci_latex(float(residual.first_grad_norms[0]))}")
    st.markdown(
        "In the plain stack the gradient reaching a layer is a **product** of one factor per "
        "layer above it. With PyTorch's default initialisation each conv + ReLU shrinks the "
        "signal, so the product vanishes: the first layers get almost no gradient and the "
        "loss hardly moves. A residual block adds its input back, so each factor is the "
        "identity plus something, and the gradient reaches the first layer intact. "
        f"(Same data for both: {result.dataset}; same batches, same seed; "
        f"{plain.params:,} vs {residual.params:,} parameters, the residual blocks' "
        f"BatchNorm being the difference. Trained in {result.seconds:.1f} s.)")
    left, right = st.columns(2)
    with left:
        _open_spec(plain.spec, "Train the plain stack on the Train page", f"{key}_train_plain")
    with right:
        _open_spec(residual.spec, "Train the residual stack on the Train page",
                   f"{key}_train_residual")


def lesson_deeper() -> None:
    st.header("Going deeper: degradation and residual learning")
    st.markdown("Stacking more layers should never hurt: the extra layers could learn the "
                "identity. Yet plain deep stacks train **worse** than shallow ones. Residual "
                "blocks learn a change F(x) on top of the identity: y = ReLU(F(x) + x).")
    experiment, bottleneck, stages = st.tabs(["Plain vs residual", "Bottleneck block",
                                              "ResNet stages"])
    with experiment:
        _degradation_panel("learn_d")
    with bottleneck:
        st.markdown("Deep ResNets (50 layers and more) use a **bottleneck** block: a 1x1 conv "
                    "reduces the channels, the 3x3 conv works on the few channels, a 1x1 conv "
                    "expands them back. Numbers from the real blocks the spec builds "
                    "(`residual` with `bottleneck_width`), BatchNorm included.")
        a, b = st.columns(2)
        channels = a.select_slider("channels C", [64, 128, 256, 512], value=256,
                                   key="learn_d_channels")
        width = b.select_slider("bottleneck width w", [16, 32, 64, 128],
                                value=64, key="learn_d_width")
        count = LD.bottleneck_count(int(channels), int(width))
        _chart(LFD.bottleneck_bars(count, title=f"{channels} → {width} → {channels} "
                                                f"vs two 3x3 convs at {channels} channels "
                                                "(14x14 input)"))
        for formula in LD.bottleneck_latex(count):
            st.latex(formula)
        st.markdown(f"The bottleneck has **{count.basic_params / count.bottleneck_params:.1f}x"
                    "** fewer parameters, so the same budget buys a much deeper network.")
        _open_spec(LD.block_spec(int(channels), int(width)),
                   "Open the bottleneck block on the Build page", "learn_d_build_bottleneck",
                   page="build")
    with stages:
        st.markdown("A ResNet is a **stem**, then **stages**: each stage after the first "
                    "halves the resolution (stride 2 in its first block) and doubles the "
                    "channels, so the work per layer stays about the same. The first block of "
                    "a stage changes the shape, so its shortcut is a 1x1 **projection**; the "
                    "others are identities.")
        a, b, c = st.columns(3)
        count_stages = a.slider("stages", 1, 4, 3, key="learn_d_stages")
        per_stage = b.slider("blocks per stage", 1, 3, 2, key="learn_d_blocks")
        use_bottleneck = c.toggle("bottleneck blocks", False, key="learn_d_bottleneck")
        model_spec = LD.resnet_spec(count_stages, per_stage, bottleneck=use_bottleneck)
        rows = LD.stage_rows(model_spec)
        analysis = M.analyze(model_spec)
        _chart(diagram.network_figure(analysis, height=360))
        st.dataframe(pd.DataFrame([{
            "layer": row.index, "stage": row.stage, "block": row.block, "stride": row.stride,
            "output": "x".join(map(str, row.output_shape)), "parameters": f"{row.params:,}",
            "shortcut": "projection (1x1 conv + BN)" if row.projection else "identity"}
            for row in rows]), hide_index=True, width="stretch")
        last = rows[-1].output_shape
        st.latex(rf"H_s = \frac{{H}}{{2^{{s-1}}}},\ C_s = 2^{{s-1}} C_1:\quad "
                 rf"{model_spec.input[1]} \to {last[1]},\ {rows[0].output_shape[0]} \to {last[0]}"
                 rf"\ \text{{channels}};\ \text{{total }} {L.latex_int(analysis.total_params)}"
                 r"\ \text{parameters}")
        _open_spec(model_spec, "Open this ResNet on the Build page", "learn_d_build_resnet",
                   page="build")
    _open_on_build([{"type": "conv", "out_channels": 16, "kernel_size": 3, "padding": 1,
                     "bias": False}, {"type": "batchnorm"}, {"type": "relu"},
                    {"type": "residual", "out_channels": 16},
                    {"type": "residual", "out_channels": 32, "stride": 2},
                    {"type": "residual", "out_channels": 64, "stride": 2,
                     "bottleneck_width": 16}, {"type": "global_avgpool"}],
                   "Lesson 13: going deeper", "Three stages; the last uses a bottleneck "
                   "block.", "learn_d_build")


RENDERERS = (lesson_convolution, lesson_correlation, lesson_channels, lesson_sharing,
             lesson_frequency, lesson_activations, lesson_pooling, lesson_receptive,
             lesson_normalisation, *learn_part2.RENDERERS[:3], lesson_deeper,
             *learn_part2.RENDERERS[3:])
