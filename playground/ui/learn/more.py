"""Learn page, part 2: signals, the backward pass, other convolutions, limits, dice.

Every number comes from `playground.lessons.more` (torch/OpenCV); figures from
`playground.figures.lessons_more`. `learn_page` registers these renderers.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from playground.figures import lessons as LF
from playground.figures import lessons_more as PF
from playground.lessons import basics as L
from playground.lessons import more as P
from playground.ui.learn.widgets import chart as _chart
from playground.ui.learn.widgets import open_on_build as _open_on_build

LESSONS = (
    "10 · Signals in 1-D",
    "11 · The backward pass",
    "12 · Transposed & dilated",
    "14 · Rotation and scale",
    "15 · Dice: convolution elsewhere",
)


# --- 10: 1-D convolution ------------------------------------------------------------------

def lesson_signals() -> None:
    st.header("1-D convolution as signal processing")
    st.markdown("Convolution is older than neural networks: it is how signal processing "
                "filters a sequence. The output at time t is a weighted sum of the current "
                "and the previous samples. A **moving average** [1/K, ..., 1/K] smooths; the "
                "**second difference** [1, −2, 1] is a discrete second derivative: zero on "
                "straight lines, it fires on corners.")
    st.latex(r"y_t = \sum_{k=1}^{K} w_k\, x_{t-k+1} = w_1 x_t + w_2 x_{t-1} + \dots"
             r" + w_K x_{t-K+1}")
    controls, view = st.columns([1, 3])
    with controls:
        signal_name = st.radio("Signal", P.SIGNALS, key="learn2_s_signal")
        kernel_name = st.radio("Kernel", P.KERNELS_1D, key="learn2_s_kernel")
        taps = st.slider("Moving average taps K", 2, 15, 5, key="learn2_s_taps",
                         disabled=kernel_name != "moving average")
        noise = st.slider("Noise (noisy sine)", 0.0, 0.6, 0.25, step=0.05,
                          key="learn2_s_noise")
    x = P.test_signal(signal_name, noise=noise)
    kernel = P.kernel_1d(kernel_name, taps)
    y = P.causal_convolution(x, kernel)
    correlation = P.cross_correlation_1d(x, kernel)
    flipped = not np.allclose(kernel, kernel[::-1])
    with view:
        t = st.slider("Time t", 1, len(x), len(x) // 2 + 2, key="learn2_s_t")
        _chart(PF.signal_filter(x, y, kernel, t, correlation if flipped else None,
                                title=f"{signal_name} filtered by {kernel_name}"))
        st.latex(P.convolution_terms_latex(x, kernel, t))
    reference = np.convolve(x, kernel)[:len(x)]
    gap = float(np.abs(correlation - y).max())
    st.markdown(
        "PyTorch's `conv1d` computes a **cross-correlation** (no flip), so the blue curve is "
        "`conv1d` with the kernel **flipped**; it equals NumPy's `np.convolve` "
        + (f"to {error:.1e}. " if (error := float(np.abs(y - reference).max())) else
           "exactly. ")
        + (f"This kernel is not symmetric: `conv1d` without the flip (dotted) differs by up "
           f"to **{gap:.2f}**." if flipped else
           "This kernel is symmetric, so the flip changes nothing."))
    st.subheader("In 2-D: the box filter")
    left, right = st.columns([1, 3])
    with left:
        size = st.radio("Box size K", (3, 5, 7, 9), index=1, horizontal=True,
                        key="learn2_s_box")
    box = P.box_filter_2d(L.sample_gray(64), size)
    with right:
        st.latex(rf"y_{{i,j}} = \frac{{1}}{{K^2}}\sum_{{u,v}} x_{{i+u,\,j+v}},\quad K = {size}:"
                 rf"\ \text{{every weight}} = \tfrac{{1}}{{{size * size}}}")
    _chart(LF.heatmaps([box.image, box.rows, box.rows_then_columns, box.box],
                       ["photo", f"{size}-tap average along rows", "... then along columns",
                        f"one {size}x{size} box conv2d"], [False] * 4, height=360))
    st.caption(f"The 2-D box kernel is the 1-D moving average applied along rows and then "
               f"columns (it is separable): max difference {box.separable_error:.1e}; OpenCV's "
               f"`cv2.blur` gives the same to {box.opencv_error:.1e}.")
    _open_on_build([{"type": "conv", "out_channels": 8, "kernel_size": size,
                     "padding": size // 2}, {"type": "relu"},
                    {"type": "maxpool", "kernel_size": 2}],
                   "Lesson 10: a box-sized filter", f"One conv layer with {size}x{size} "
                   "kernels: a box filter is one of the kernels it could learn.",
                   "learn2_s_build")


# --- 11: backward pass --------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=10)
def _backward(digit: int) -> P.BackwardPass:
    return P.backward_pass(L.sample_digit(digit), digit)


def lesson_backward() -> None:
    st.header("The backward pass")
    st.markdown("Training needs the gradient of the loss with respect to every weight. "
                "**Backpropagation** starts at the loss and applies the chain rule layer by "
                "layer, from the output back to the input. Here: one real digit, a small "
                "network (conv, ReLU, max pool, conv, ReLU, average pool, linear), and "
                "autograd's gradient at every layer.")
    st.latex(r"\frac{\partial L}{\partial x^{(l)}} = \frac{\partial L}{\partial x^{(l+1)}}"
             r"\cdot\frac{\partial x^{(l+1)}}{\partial x^{(l)}},\qquad "
             r"\frac{\partial L}{\partial W^{(l)}} = x^{(l-1)} \star "
             r"\frac{\partial L}{\partial y^{(l)}}")
    a, b, c = st.columns(3)
    digit = a.selectbox("Digit (its label is the target)", list(range(10)), index=3,
                        key="learn2_b_digit")
    channel = b.slider("Channel", 1, 4, 2, key="learn2_b_channel") - 1
    result = _backward(int(digit))
    c.metric("cross-entropy loss", f"{result.loss:.3f}",
             help="Untrained network with fixed seed: p(true class) = "
                  f"{result.probabilities[digit]:.1%}")
    names = ["conv 1", "ReLU", "max pool 2x2", "conv 2", "ReLU", "avg pool 2x2"]
    spatial = result.layers[:6]
    _chart(LF.heatmaps([result.input_image] + [layer.output[channel] for layer in spatial],
                       ["input"] + [f"{n} out" for n in names], [False] + [True] * 6,
                       title=f"Forward: the outputs (channel {channel + 1})", height=290))
    _chart(PF.gradient_maps([layer.grad_output[channel] for layer in spatial],
                            [f"∂L/∂ {n}" for n in names],
                            title="Backward: the gradient of the loss at each output "
                                  "(red raises the loss)", height=290))
    st.caption("Where ReLU was off (output 0) no gradient gets through; after max pooling "
               "only one pixel in four receives one.")
    first, second = result.layers[0].grad_weight, result.layers[3].grad_weight
    _chart(PF.gradient_maps([g * 1e3 for g in list(first[:, 0]) + list(second[channel])],
                            [f"conv1 k{n + 1}" for n in range(4)]
                            + [f"conv2 k{channel + 1}, in {n + 1}" for n in range(4)],
                            title="Kernel gradients ∂L/∂W ×1000: what one SGD step would "
                                  "change", height=300, show_values=True))

    st.subheader("Through pooling: the winner takes the gradient")
    left, right = st.columns([1, 3])
    busy_row, busy_col = P.busiest_window(result.layers[1].output[channel])
    with left:
        row = st.slider("Window row", 0, 6, busy_row, key="learn2_b_row")
        col = st.slider("Window column", 0, 6, busy_col, key="learn2_b_col")
    window = result.layers[1].output[channel][4 * row:4 * row + 4, 4 * col:4 * col + 4]
    upstream = result.layers[2].grad_output[channel][2 * row:2 * row + 2, 2 * col:2 * col + 2]
    pools = P.pool_gradients(window, upstream)
    with right:
        _chart(PF.grids([pools.window, pools.upstream * 1e3, pools.max_autograd * 1e3,
                         pools.avg_autograd * 1e3],
                        ["pool input x (4x4)", "upstream ∂L/∂y ×1000", "max pool: ∂L/∂x ×1000",
                         "avg pool: ∂L/∂x ×1000"], [False, True, True, True],
                        number_format=".2f", height=330))
    st.latex(r"\text{max: } \frac{\partial L}{\partial x_i} = \frac{\partial L}{\partial y}"
             r"\text{ if } x_i \text{ won, else } 0;\qquad \text{average: } "
             r"\frac{\partial L}{\partial x_i} = \frac{1}{4}\frac{\partial L}{\partial y};"
             rf"\qquad \max|\text{{rule}} - \text{{autograd}}| = {L.sci_latex(pools.max_error)}")
    st.caption("The same upstream gradient, sent back through max pooling and through average "
               "pooling of the same window (the network itself uses max pooling here).")

    st.subheader("Through a conv layer: convolution with the flipped kernel")
    check = P.network_conv_check(result, 3)
    first_check = P.network_conv_check(result, 0)
    scale = float(np.abs(check.autograd[channel]).max()) or 1.0
    _chart(PF.gradient_maps([check.autograd[channel], check.flipped[channel],
                             check.autograd[channel] - check.flipped[channel]],
                            ["∂L/∂x of conv 2 (autograd)", "∂L/∂y ⋆ rot180(W), padding K−1−P",
                             "difference (same colour scale)"], height=330,
                            limits=[None, None, scale]))
    st.latex(r"\frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} \star "
             r"\operatorname{rot}_{180}(W)\ (\text{in/out channels swapped}):\quad "
             rf"\max|\cdot| = {L.sci_latex(check.max_error)}\ (\text{{conv 2}}),\ "
             rf"{L.sci_latex(first_check.max_error)}\ (\text{{conv 1}})")
    st.caption(f"The kernel gradients above are the layer's input correlated with ∂L/∂y: "
               f"they match autograd to {max(check.weight_error, first_check.weight_error):.1e}."
               " Computed in float64.")
    _open_on_build(P.BACKWARD_LAYERS, "Lesson 11: backward pass", "The lesson's network: "
                   "train it and watch the gradient norms on the Train page.", "learn2_b_build")


# --- 12: transposed and dilated -----------------------------------------------------------

def lesson_transposed() -> None:
    st.header("Transposed, fractionally-strided and dilated convolution")
    st.markdown("A strided convolution shrinks a map. A **transposed convolution** "
                "(`ConvTranspose2d`) grows one: every input pixel stamps a copy of the kernel, "
                "scaled by its value, into the output, S pixels apart, and overlaps add up. It "
                "equals inserting S−1 zeros between the inputs and running an ordinary "
                "convolution: a convolution with stride **1/S**.")
    controls, view = st.columns([1, 3])
    with controls:
        n = st.slider("Input size H", 2, 5, 3, key="learn2_t_n")
        k = st.slider("Kernel size K", 1, 5, 3, key="learn2_t_k")
        stride = st.slider("Stride S", 1, 3, 2, key="learn2_t_s")
        padding = st.slider("Padding P", 0, 2, 0, key="learn2_t_p")
        kind = st.radio("Kernel", ("random (seed 0)", "all ones"), key="learn2_t_kernel")
    image = np.arange(1.0, n * n + 1).reshape(n, n)   # 1, 2, 3...: each stamp is traceable
    kernel = (np.ones((k, k)) if kind == "all ones" else
              np.random.default_rng(0).integers(-2, 3, size=(k, k)).astype(np.float64))
    with view:
        if padding > k - 1:
            st.error(f"Padding P = {padding} is more than K − 1 = {k - 1}: a transposed "
                     "convolution would crop away more than the kernel adds. Lower P or "
                     "raise K.")
            st.latex(P.transposed_size_latex(n, k, stride, padding))
            return
        result = P.transposed_convolution(image, kernel, stride, padding)
        _chart(PF.grids([result.input, result.stretched, result.kernel[::-1, ::-1],
                         result.module_output],
                        [f"input {n}x{n}", f"zeros inserted (S−1 = {stride - 1}), "
                         f"pad K−1−P = {k - 1 - padding}", "kernel rotated 180°",
                         f"ConvTranspose2d: {result.output_size}x{result.output_size}"],
                        [False, False, True, True], number_format=".0f", height=380,
                        widths=[0.17, 0.33, 0.17, 0.33]))
        st.latex(P.transposed_size_latex(n, k, stride, padding))
        st.latex(r"\max\left|\text{ConvTranspose2d}(x) - \text{conv2d}"
                 r"(\text{zeros inserted}, \operatorname{rot}_{180} w)\right| = "
                 + L.sci_latex(result.max_error))
    st.subheader("The checkerboard")
    st.markdown("When K is not a multiple of S, some output pixels receive more kernel "
                "copies than their neighbours: even a constant input comes out striped. "
                "This is the checkerboard artefact of up-sampling networks; K divisible by S "
                "(or resize, then convolve) avoids it.")
    counts = P.overlap_counts(6, k, stride)
    middle = P.interior(counts, k)
    left, right = st.columns([3, 2])
    with left:
        _chart(PF.overlap_map(counts, title=f"Kernel copies per pixel: all-ones 6x6 input, "
                                            f"K = {k}, S = {stride}"))
    with right:
        uneven = P.is_checkerboard(k, stride)
        verdict = (f"**Uneven:** {k} is not a multiple of {stride}; the interior receives "
                   f"between {int(middle.min())} and {int(middle.max())} copies."
                   if uneven else
                   f"**Even:** every interior pixel receives "
                   f"{int(middle.min()) if middle.size else 0} copies ({k} is a multiple of "
                   f"{stride}).")
        st.markdown(verdict)
        st.latex(r"\text{interior copies per axis} \in \left\{\left\lfloor\tfrac{K}{S}"
                 r"\right\rfloor, \left\lceil\tfrac{K}{S}\right\rceil\right\}")
    st.subheader("Dilated convolution: zeros between the taps")
    st.markdown("Transposed convolution inserts zeros between the **inputs**; dilated "
                "convolution inserts them between the **kernel taps**: the kernel covers "
                "more pixels with the same number of weights.")
    left, right = st.columns([1, 3])
    with left:
        dilation = st.slider("Dilation D", 1, 4, 2, key="learn2_t_d")
    dilated = P.dilated_kernel(L.kernel_preset("Sobel x"), dilation, L.sample_gray(32))
    with right:
        _chart(PF.grids([dilated.kernel, dilated.dense],
                        ["Sobel x, K = 3", f"dilated D = {dilation}: "
                         f"{dilated.effective_size}x{dilated.effective_size}"],
                        [True, True], number_format=".0f", height=340,
                        widths=[0.3, 0.7]))
    st.latex(rf"K' = K + (K-1)(D-1) = 3 + 2\cdot{dilation - 1} = {dilated.effective_size},"
             rf"\quad \max|\text{{conv2d}}(x, w, D) - \text{{conv2d}}(x, w')| = "
             + L.sci_latex(dilated.max_error))
    _open_on_build([{"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": dilation,
                     "dilation": dilation}, {"type": "relu"},
                    {"type": "conv", "out_channels": 8, "kernel_size": 3,
                     "padding": 2 * dilation, "dilation": 2 * dilation}, {"type": "relu"},
                    {"type": "maxpool", "kernel_size": 2}],
                   "Lesson 12: dilated convs", f"Dilations {dilation} and {2 * dilation}: the "
                   "Build page's summary shows the receptive field they reach (the spec has "
                   "no transposed layer).", "learn2_t_build")


# --- 13: rotation and scale ---------------------------------------------------------------

TRAIN_COUNT, EPOCHS = 4000, 2   # monkeypatched smaller by the page tests


@st.cache_resource(show_spinner=False)
def _robust_pair(train_count: int, epochs: int) -> list[P.TrainedProbe]:
    return P.train_robust_pair(train_count, epochs)


def lesson_limits() -> None:
    st.header("What a CNN does not handle for free")
    augment = P.AugmentRange()
    st.markdown("A conv layer uses the same kernel everywhere, so a **shifted** digit gives "
                "shifted features, and pooling forgives small shifts. Nothing in the "
                "architecture does that for a **rotated** or **rescaled** digit: the kernels "
                "see new patterns. We rotate and rescale digits with OpenCV and watch a trained "
                "model; then we train the same model with **data augmentation** (every "
                f"training digit randomly rotated by up to ±{augment.degrees:g}°, scaled by "
                f"{augment.scale_low:g}–{augment.scale_high:g} and moved by up to "
                f"±{augment.shift:g} px).")
    controls, view = st.columns([1, 3])
    with controls:
        digit = st.selectbox("Probe digit", list(range(10)), index=3, key="learn2_r_digit")
        kind = st.radio("Transformation", ("rotation", "scale", "translation"),
                        key="learn2_r_kind")
        angle = st.slider("Angle θ (degrees)", -180, 180, 45, step=15, key="learn2_r_angle")
        scale = st.slider("Scale s", 0.5, 1.5, 1.0, step=0.1, key="learn2_r_scale")
    image = L.sample_digit(int(digit))
    matrix = P.warp_matrix(*image.shape, angle=float(angle), scale=float(scale))
    values = {"rotation": list(P.PROBE_ANGLES), "scale": list(P.PROBE_SCALES),
              "translation": list(P.SHIFTS)}[kind]
    unit = {"rotation": "°", "scale": "x", "translation": " px"}[kind]
    sweep_kind = {"rotation": "angle", "scale": "scale", "translation": "shift"}[kind]
    with view:
        _chart(LF.heatmaps([image, P.warp(image, angle=angle, scale=scale)],
                           ["probe digit", f"cv2.warpAffine: θ = {angle}°, s = {scale:.1f}"],
                           [False, False], height=300))
        st.latex(r"M = \begin{bmatrix} s\cos\theta & s\sin\theta & t_x \\ -s\sin\theta & "
                 r"s\cos\theta & t_y\end{bmatrix} = \begin{bmatrix}"
                 + rf"{matrix[0, 0]:.2f} & {matrix[0, 1]:.2f} & {matrix[0, 2]:.2f} \\ "
                 + rf"{matrix[1, 0]:.2f} & {matrix[1, 1]:.2f} & {matrix[1, 2]:.2f}"
                 + r"\end{bmatrix}")
    st.subheader("Trained models under rotation, scale and translation")
    st.markdown(f"Lesson 7's network (conv 5x5 + ReLU + max pool {P.ROBUST_POOL}x"
                f"{P.ROBUST_POOL} + linear), trained on {TRAIN_COUNT:,} real MNIST digits for "
                f"{EPOCHS} epochs, without and with augmentation, then tested on "
                f"{P.CURVE_DIGITS} held-out digits transformed in steps.")
    if st.button("Train both models and measure (about a minute on a laptop CPU)",
                 key="learn2_r_train"):
        st.session_state["learn2_r_trained"] = True
    if not st.session_state.get("learn2_r_trained"):
        st.info("Press the button to train the two models; they are then kept for every "
                "session of this server.")
    else:
        with st.spinner("Training two small models on the CPU..."):
            pair = _robust_pair(TRAIN_COUNT, EPOCHS)
        plain, augmented = pair
        _chart(PF.robustness([p.curves for p in pair],
                             title="Test accuracy against the transformation"))
        at_angle = {p.name: dict(zip(p.curves.angles, p.curves.angle_accuracy)) for p in pair}
        at_scale = {p.name: dict(zip(p.curves.scales, p.curves.scale_accuracy)) for p in pair}
        at_shift = {p.name: dict(zip(p.curves.shifts, p.curves.shift_accuracy)) for p in pair}
        rows = [(name, at_angle[name][0], at_angle[name][30], at_angle[name][90],
                 at_angle[name][180], at_scale[name][0.7], at_shift[name][3])
                for name in (plain.name, augmented.name)]
        st.latex(r"\begin{array}{lcccccc} & 0^\circ & 30^\circ & 90^\circ & 180^\circ & "
                 r"s = 0.7 & 3\text{ px} \\ \hline "
                 + r" \\ ".join(rf"\text{{{name}}} & " + " & ".join(
                     f"{v * 100:.0f}\\%" for v in vals) for name, *vals in rows)
                 + r"\end{array}")
        st.markdown("Augmentation raises the curves **inside and near the range it was "
                    f"trained on** (±{augment.degrees:g}°, {augment.scale_low:g}–"
                    f"{augment.scale_high:g}x, ±{augment.shift:g} px); far outside it (compare "
                    "the 90° column) it does not help, and at 180° a 6 and a 9 swap meaning, so "
                    "no model should be invariant there. Even translation is only partly free "
                    "here: this network ends in a linear layer that sees positions, so a few "
                    "pixels cost it accuracy. Invariance beyond that has to be learned from "
                    "data, or built in by a different architecture.")
        sweeps = {p.name: P.probe_sweep(p.network, image, int(digit), sweep_kind, values)
                  for p in pair}
        _chart(PF.probe_confidence(sweeps, int(digit), {"rotation": "angle (degrees)",
                                                        "scale": "scale factor",
                                                        "translation": "shift (pixels right)"}
                                   [kind], title=f"Probe digit {digit}: probability of the "
                                                 f"true class and the predicted digit"))
        _chart(PF.probe_strip(sweeps[augmented.name], int(digit), unit,
                              title="The augmented model's predictions on the probe"))
    _open_on_build([{"type": "conv", "out_channels": 8, "kernel_size": 5, "padding": 2},
                    {"type": "relu"}, {"type": "maxpool", "kernel_size": P.ROBUST_POOL}],
                   "Lesson 14: augmentation", "Lesson 7's shift network: train it with and "
                   "without the Train page's augmentation (random shifts) and compare.",
                   "learn2_r_build")


# --- 14: dice -----------------------------------------------------------------------------

def lesson_dice() -> None:
    st.header("Convolution outside images: the sum of two dice")
    st.markdown("Throw two dice. The sum is z when the first shows x and the second z − x, "
                "for every x: the probability is a sum of products over a sliding index, "
                "exactly the 1-D convolution of lesson 10. So the distribution of a sum is the "
                "**convolution of the distributions**, computed below with the same "
                "`conv1d` (kernel flipped) that filtered the signals.")
    st.latex(r"f_Z(z) = (f_X * f_Y)(z) = \sum_x f_X(x)\, f_Y(z - x)")
    controls, view = st.columns([1, 3])
    with controls:
        faces = st.slider("Faces per die", 2, 12, 6, key="learn2_d_faces")
        dice = st.slider("Number of dice", 2, 5, 2, key="learn2_d_dice")
        z = st.slider("Sum z (two dice)", 2, 2 * faces, min(7, 2 * faces), key="learn2_d_z")
    total = P.dice_sum(faces, dice)
    with view:
        _chart(PF.dice_bars(P.uniform_die(faces), total, highlight=z if dice == 2 else None,
                            title=f"{dice} dice with {faces} faces"))
    st.latex(P.dice_terms_latex(faces, z))
    mode = total.values[int(np.argmax(total.probabilities))]
    st.markdown(f"Counting all {faces ** dice:,} equally likely outcomes gives the same "
                f"distribution (max difference {total.max_error:.1e}). The most likely sum is "
                f"**{mode}**"
                + (" — and with more dice the convolution of many flat distributions turns "
                   "into a bell curve (the central limit theorem)." if dice > 2 else "."))
    _open_on_build([{"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1},
                    {"type": "relu"}, {"type": "maxpool", "kernel_size": 2},
                    {"type": "conv", "out_channels": 16, "kernel_size": 3, "padding": 1},
                    {"type": "relu"}, {"type": "maxpool", "kernel_size": 2}],
                   "Lesson 15: sums of products", "Every conv layer computes the same sum of "
                   "products as the dice: a convolution.", "learn2_d_build")


RENDERERS = (lesson_signals, lesson_backward, lesson_transposed, lesson_limits, lesson_dice)
