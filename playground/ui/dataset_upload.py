"""The Train page's "Your own images" panel: upload a dataset, choose how it is decoded,
see a sample of each class, and train on it.

The archive is read and checked once per upload (kept in the session by the uploaded
file's id, since a page reruns on every click); decoding waits for the button, with a
progress bar, and a second upload of the same content reads the server's decoded copy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from playground.data import shared
from playground.data import upload_archive as A
from playground.data import uploads as U
from playground.figures import training as figures
from playground.ui import runs, session, uploaded
from playground.ui.text import for_chart, plain

READ_KEY = "dataset_upload_read"     # session state: the checked upload awaiting decoding
CHOSEN_KEY = "dataset_upload_chosen"  # session state: a new upload for the Dataset box
NOTE_KEY = "dataset_upload_note"     # session state: what the last decode said
ROUND_KEY = "dataset_upload_round"   # session state: bumped to empty the uploaders
GALLERY_PER_CLASS = 6
GALLERY_CLASSES = 10


@dataclass
class _Read:
    """An upload read and checked, not decoded yet."""

    source: str          # the uploader's file ids: a new upload reads afresh
    name: str            # NAME of upload:NAME
    layout: A.Layout
    digest: str          # of the content
    proposed: tuple[int, int]  # (size, channels)


def chosen_dataset() -> str | None:
    """A dataset just uploaded, once, for the Train page's Dataset box to select."""
    return st.session_state.pop(CHOSEN_KEY, None)


def panel() -> None:
    limits = A.UploadLimits.from_env()
    waiting = bool(st.session_state.get(READ_KEY)) or NOTE_KEY in st.session_state
    with st.expander("Your own images: upload a dataset to train on", expanded=waiting,
                     icon=":material/photo_library:"):
        _explain(limits)
        left, right = st.columns(2)
        # A new key after each decode empties the uploaders: the upload is in use now.
        round_ = st.session_state.get(ROUND_KEY, 0)
        archive = left.file_uploader(
            "A .zip of class folders", type=["zip"], key=f"dataset-zip-{round_}",
            max_upload_size=max(1, limits.max_upload_bytes // 2**20),
            help="e.g. shapes.zip holding circle/, square/, triangle/ with images in each")
        folder = right.file_uploader(
            "Or pick a folder", type=["png", "jpg", "jpeg"], key=f"dataset-folder-{round_}",
            accept_multiple_files="directory",
            max_upload_size=max(1, limits.max_upload_bytes // 2**20),
            help="The folder that holds the class folders (or train/ and test/)")
        note = st.session_state.pop(NOTE_KEY, None)
        if note:
            (st.success if note[0] == "success" else st.info)(note[1])
        read = _read(archive, folder, limits)
        if read is not None:
            _decode_form(read)
        for upload in uploaded.all_uploads().values():
            _gallery(upload)


def _explain(limits: A.UploadLimits) -> None:
    st.markdown(
        "Train on your own pictures. Put the images of each class in a folder named for "
        "the class: `cat/`, `dog/`, ... (then 20% of each class is kept aside for testing), "
        "or split them yourself into `train/cat/`, `train/dog/`, ... and `test/cat/`, `test/dog/`, ....")
    st.caption(
        f"PNG or JPEG. At least {A.MIN_CLASSES} classes and {A.MIN_PER_CLASS} images per "
        f"class; up to {limits.max_upload_bytes // 2**20} MB and {limits.max_files:,} files, "
        f"each image at most {_side(limits.max_pixels)} pixels. Images are decoded once, "
        "resized to one square size, and kept on this server for this session.")


def _side(pixels: int) -> str:
    """A pixel count as a square, e.g. 4096 x 4096, when it is one."""
    side = round(pixels ** 0.5)
    return f"{side} x {side}" if side * side == pixels else f"{pixels:,}"


def _read(archive, folder, limits: A.UploadLimits) -> _Read | None:
    """The upload checked (once per upload), or None with the reason shown."""
    if archive is None and not folder:
        st.session_state.pop(READ_KEY, None)
        return None
    source = (f"zip:{archive.file_id}" if archive is not None
              else "folder:" + ",".join(f.file_id for f in folder))
    held: _Read | None = st.session_state.get(READ_KEY)
    if held is not None and held.source == source:
        return held
    st.session_state.pop(READ_KEY, None)
    label = archive.name if archive is not None else folder[0].name
    try:
        with st.spinner("Checking the upload..."), U.BUSY:
            if archive is not None:
                files = A.read_zip(archive.getvalue(), limits)
            else:
                files = A.read_folder([(f.name, f.getvalue()) for f in folder], limits)
            layout = A.arrange(files, limits)
    except A.UploadError as error:
        st.error(f"**{plain(label)}** was not used: {plain(error)}")
        return None
    read = _Read(source, A.dataset_name(label), layout, A.content_digest(files),
                 A.propose(layout))
    st.session_state[READ_KEY] = read
    return read


def _decode_form(read: _Read) -> None:
    layout = read.layout
    train, test = len(layout.train), len(layout.test)
    st.markdown(f"**upload:{plain(read.name)}**: {len(layout.classes)} classes, "
                f"{layout.size:,} images ({train:,} for training, {test:,} for testing).")
    st.caption(plain(layout.split_note))
    size, channels = read.proposed
    sides = sorted({min(h.width, h.height) for h in layout.headers.values()})
    typical = f"the images are {sides[0]}" + (f" to {sides[-1]}" if len(sides) > 1 else "") \
        + " pixels on their shorter side" if sides else "no image size could be read"
    columns = st.columns([1.2, 1.2, 1.6])
    size = columns[0].radio("Input size (pixels)", A.SIZES, index=A.SIZES.index(size),
                            horizontal=True, key=f"upload-size-{read.digest[:8]}",
                            help=f"Proposed {read.proposed[0]}: {typical}")
    colour = columns[1].radio("Colours", ("greyscale", "colour"), index=channels // 3,
                              horizontal=True, key=f"upload-colour-{read.digest[:8]}",
                              help="Proposed from the images: colour if any is in colour")
    channels = 3 if colour == "colour" else 1
    decoded = layout.decoded_bytes(size, channels)
    amount = (f"{decoded / 2**20:.1f} MB" if decoded >= 2**20 / 10
              else f"{max(1, round(decoded / 2**10))} KB")
    columns[2].caption(f"Proposed: {read.proposed[0]}x{read.proposed[0]}, "
                       f"{'colour' if read.proposed[1] == 3 else 'greyscale'} ({typical}). "
                       f"Decoded, the images take about {amount} on the server.")
    if st.button(f"Decode and use upload:{read.name}", type="primary", key="upload-decode",
                 icon=":material/upload:"):
        _decode(read, size, channels)


def _decode(read: _Read, size: int, channels: int) -> None:
    key = U.data_key(read.name, U.decode_digest(read.digest, size, channels))
    store = shared.uploads()
    decoded = store.get(key)
    if decoded is None:
        bar = st.progress(0.0, text="Decoding images...")
        try:
            store.check_room(read.layout.decoded_bytes(size, channels))
            with U.BUSY:
                decoded = A.decode(read.layout, size, channels,
                                   lambda text, fraction: bar.progress(min(1.0, fraction), text))
        except ValueError as error:  # UploadError, or too large for the bounds
            bar.empty()
            st.error(f"**upload:{plain(read.name)}** was not used: {plain(error)}")
            return
        bar.empty()
        how = f"Decoded {read.layout.size - len(decoded.skipped):,} images"
    else:
        how = "Already decoded on this server: ready at once"
    try:
        evicted = shared.add_upload(runs.session_owner(), key, decoded)
    except ValueError as error:
        st.error(f"**upload:{plain(read.name)}** was not used: {plain(error)}")
        return
    counts = tuple((name, train, test) for name, (train, test) in _counts(decoded).items())
    upload = uploaded.SessionUpload(
        f"upload:{read.name}", key, tuple(decoded.classes),
        tuple(int(v) for v in decoded.train_x.shape[1:]), counts, read.layout.split_note,
        tuple(decoded.skipped))
    uploaded.remember(upload)
    text = f"{how}. **{plain(upload.name)}** is now a choice in the Dataset box above."
    if decoded.skipped:
        text += (f" Skipped {len(decoded.skipped)} image(s) that could not be decoded: "
                 f"{plain(', '.join(decoded.skipped[:3]))}.")
    if evicted:
        text += (f" To stay within {store.per_session_bytes // 2**20} MB per session and "
                 f"{store.per_server_bytes // 2**20} MB per server, the least recently used "
                 f"uploads left memory ({plain(', '.join(U.spec_name(k) for k in evicted))}); "
                 "they are read back from the server's disk when used.")
    st.session_state[NOTE_KEY] = ("success", text)
    st.session_state[CHOSEN_KEY] = upload.name
    st.session_state.pop(READ_KEY, None)
    st.session_state[ROUND_KEY] = st.session_state.get(ROUND_KEY, 0) + 1
    st.rerun()


def _counts(decoded: A.DecodedUpload) -> dict[str, tuple[int, int]]:
    train = np.bincount(decoded.train_y.numpy(), minlength=len(decoded.classes))
    test = np.bincount(decoded.test_y.numpy(), minlength=len(decoded.classes))
    return {name: (int(train[i]), int(test[i])) for i, name in enumerate(decoded.classes)}


def _gallery(upload: uploaded.SessionUpload) -> None:
    """A few training images of each class, with its counts."""
    decoded = shared.uploads().get(upload.key)
    if decoded is None:
        st.info(f"**{plain(upload.name)}** is no longer on this server: upload it again.")
        return
    channels, size, _ = upload.input_shape
    rows, captions = [], []
    labels = decoded.train_y.numpy()
    for index, (name, train, test) in enumerate(upload.counts[:GALLERY_CLASSES]):
        picks = np.flatnonzero(labels == index)[:GALLERY_PER_CLASS]
        for n, pick in enumerate(picks):
            rows.append(decoded.train_x[int(pick)].numpy())
            captions.append(for_chart(f"{name} ({train}+{test})") if n == 0 else "")
        for _ in range(GALLERY_PER_CLASS - len(picks)):
            rows.append(np.zeros((channels, size, size), dtype=np.uint8))
            captions.append("")
    images = np.stack(rows).astype(np.float32) / 255
    colours = "colour" if channels == 3 else "greyscale"
    st.markdown(f"**{plain(upload.name)}**: {len(upload.classes)} classes, {size}x{size} "
                f"{colours}; each row is one class, labelled with its training + test "
                "image counts.")
    st.plotly_chart(figures.image_grid(images, captions, columns=GALLERY_PER_CLASS,
                                       cell_px=90, style=session.figure_style()),
                    width="content", key=f"upload-gallery-{upload.key}")
