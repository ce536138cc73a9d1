"""Keras (H5) to ONNX for the FER2013 mini-XCEPTION network, read with h5py alone.

Only the layers that network uses are supported; anything else is refused by name."""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
INPUT_NAME = "input"
OUTPUT_NAME = "scores"

Shape = tuple[int, int, int]  # channels, height, width of one sample


@dataclass
class _Graph:
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    shapes: dict[str, Shape] = field(default_factory=dict)

    def const(self, name: str, value: NDArray[Any]) -> str:
        self.initializers.append(
            numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name)
        )
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow's SAME: output ceil(size/stride), the odd padding pixel goes after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def _window(
    shape: Shape, kernel: list[int], strides: list[int], padding: str
) -> tuple[list[int], int, int]:
    """ONNX pads (top, left, bottom, right) and the output height and width."""
    _, h, w = shape
    if padding == "valid":
        return [0, 0, 0, 0], (h - kernel[0]) // strides[0] + 1, (w - kernel[1]) // strides[1] + 1
    if padding == "same":
        oh, top, bottom = _same_pads(h, kernel[0], strides[0])
        ow, left, right = _same_pads(w, kernel[1], strides[1])
        return [top, left, bottom, right], oh, ow
    raise ValueError(f"unsupported padding {padding!r}")


def _weights(group: h5py.Group) -> dict[str, NDArray[Any]]:
    """A layer's arrays by short name: 'conv2d_1_1/kernel:0' -> 'kernel'."""
    out: dict[str, NDArray[Any]] = {}
    for raw in group.attrs["weight_names"]:
        full = raw.decode() if isinstance(raw, bytes) else str(raw)
        out[full.rsplit("/", 1)[-1].split(":", 1)[0]] = np.asarray(group[full], dtype=np.float32)
    return out


def _activation(g: _Graph, name: str, x: str, activation: str) -> str:
    if activation == "linear":
        return x
    if activation == "relu":
        g.shapes[name] = g.shapes[x]
        return g.node("Relu", [x], name)
    if activation == "softmax":
        g.shapes[name] = g.shapes[x]
        return g.node("Softmax", [x], name, axis=-1)
    raise ValueError(f"unsupported activation {activation!r}")


def _conv(
    g: _Graph,
    name: str,
    x: str,
    kernel: NDArray[Any],
    bias: NDArray[Any] | None,
    cfg: dict[str, Any],
    group: int,
) -> str:
    """kernel already in ONNX layout (out, in/group, kh, kw)."""
    if any(d != 1 for d in cfg.get("dilation_rate", [1, 1])):
        raise ValueError(f"{name}: dilated convolutions are not supported")
    ksize = [int(kernel.shape[2]), int(kernel.shape[3])]
    strides = [int(s) for s in cfg.get("strides", [1, 1])]
    pads, oh, ow = _window(g.shapes[x], ksize, strides, cfg.get("padding", "valid"))
    inputs = [x, g.const(f"{name}/W", kernel)]
    if bias is not None:
        inputs.append(g.const(f"{name}/B", bias))
    g.shapes[name] = (int(kernel.shape[0]), oh, ow)
    return g.node("Conv", inputs, name, kernel_shape=ksize, strides=strides, pads=pads, group=group)


def _layer(
    g: _Graph, cls: str, cfg: dict[str, Any], inputs: list[str], weights: dict[str, NDArray[Any]]
) -> str:
    name = str(cfg["name"])
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise ValueError(f"{name}: only channels_last models are supported")
    x = inputs[0]
    activation = str(cfg.get("activation", "linear"))
    # a fused activation gets the layer's name, the convolution an inner one
    conv_out = name if activation == "linear" else f"{name}/conv"
    if cls == "Conv2D":
        # Keras HWIO -> ONNX OIHW
        kernel = weights["kernel"].transpose(3, 2, 0, 1)
        out = _conv(g, conv_out, x, kernel, weights.get("bias"), cfg, 1)
        return _activation(g, name, out, activation)
    if cls == "SeparableConv2D":
        dw = weights["depthwise_kernel"]  # (kh, kw, in, multiplier)
        kh, kw, cin, mult = dw.shape
        # TF orders depthwise outputs channel-major: output c*mult + m comes from input c
        dw_onnx = dw.transpose(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw)
        depth = _conv(g, f"{name}/depthwise", x, dw_onnx, None, cfg, int(cin))
        pw = weights["pointwise_kernel"].transpose(3, 2, 0, 1)
        point_cfg = {"strides": [1, 1], "padding": "valid"}
        out = _conv(g, conv_out, depth, pw, weights.get("bias"), point_cfg, 1)
        return _activation(g, name, out, activation)
    if cls == "BatchNormalization":
        if cfg.get("axis", -1) not in (-1, 3):
            raise ValueError(f"{name}: batch normalization must be over channels")
        channels = g.shapes[x][0]
        gamma = weights.get("gamma", np.ones(channels, np.float32))
        beta = weights.get("beta", np.zeros(channels, np.float32))
        params = [g.const(f"{name}/{k}", v) for k, v in (("scale", gamma), ("bias", beta))]
        params += [
            g.const(f"{name}/mean", weights["moving_mean"]),
            g.const(f"{name}/var", weights["moving_variance"]),
        ]
        g.shapes[name] = g.shapes[x]
        return g.node(
            "BatchNormalization", [x, *params], name, epsilon=float(cfg.get("epsilon", 1e-3))
        )
    if cls == "Activation":
        return _activation(g, name, x, activation)
    if cls == "MaxPooling2D":
        ksize = [int(k) for k in cfg["pool_size"]]
        strides = [int(s) for s in (cfg.get("strides") or ksize)]
        pads, oh, ow = _window(g.shapes[x], ksize, strides, cfg.get("padding", "valid"))
        g.shapes[name] = (g.shapes[x][0], oh, ow)
        # ONNX MaxPool never picks a padded cell, as TensorFlow's SAME pool does not
        return g.node("MaxPool", [x], name, kernel_shape=ksize, strides=strides, pads=pads)
    if cls == "Add":
        if len({g.shapes[i] for i in inputs}) != 1:
            raise ValueError(f"{name}: added tensors differ in shape")
        out = inputs[0]
        for i, other in enumerate(inputs[1:]):
            step = name if i == len(inputs) - 2 else f"{name}/{i}"
            g.shapes[step] = g.shapes[out]
            out = g.node("Add", [out, other], step)
        return out
    if cls == "GlobalAveragePooling2D":
        pooled = g.node("GlobalAveragePool", [x], f"{name}/pool")
        g.shapes[name] = (g.shapes[x][0], 1, 1)
        return g.node("Flatten", [pooled], name, axis=1)
    raise ValueError(f"unsupported Keras layer {cls} ({name})")


def build(h5_path: Path) -> onnx.ModelProto:
    """The ONNX model for a Keras functional model saved as H5 (weights and model_config)."""
    with h5py.File(h5_path, "r") as f:
        raw = f.attrs["model_config"]
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        if config.get("class_name") not in ("Model", "Functional"):
            raise ValueError(f"expected a functional Keras model, got {config.get('class_name')}")
        body = config["config"]
        stored = f.get("model_weights", f)  # full model file, or weights only
        if len(body["input_layers"]) != 1 or len(body["output_layers"]) != 1:
            raise ValueError("expected one input and one output")
        output_layer = body["output_layers"][0][0]

        g = _Graph()
        tensors: dict[str, str] = {}  # Keras layer name -> ONNX tensor holding its output
        input_shape: list[int] | None = None
        for layer in body["layers"]:
            cls, cfg = layer["class_name"], layer["config"]
            name = str(cfg["name"])
            if cls == "InputLayer":
                _, h, w, c = cfg["batch_input_shape"]
                input_shape = [int(c), int(h), int(w)]
                g.shapes[INPUT_NAME] = (int(c), int(h), int(w))
                tensors[name] = INPUT_NAME
                continue
            nodes = layer["inbound_nodes"]
            if len(nodes) != 1:
                raise ValueError(f"{name}: shared layers are not supported")
            inputs = [tensors[inbound[0]] for inbound in nodes[0]]
            weights = _weights(stored[name]) if name in stored else {}
            tensors[name] = _layer(g, cls, cfg, inputs, weights)

    if input_shape is None:
        raise ValueError("the model has no input layer")
    result = tensors[output_layer]
    classes = g.shapes[result][0]
    g.nodes.append(helper.make_node("Identity", [result], [OUTPUT_NAME], name=OUTPUT_NAME))
    graph = helper.make_graph(
        g.nodes,
        body.get("name", "keras_model"),
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", *input_shape])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", classes])],
        g.initializers,
    )
    opsets = [helper.make_opsetid("", OPSET)]
    # the lowest IR version for this opset, so older runtimes load it too
    model = helper.make_model(
        graph,
        opset_imports=opsets,
        ir_version=helper.find_min_ir_version_for(opsets),
        producer_name="meeting_gpu",
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def convert(h5_path: Path, onnx_path: Path) -> None:
    """Write the ONNX model for h5_path to onnx_path; readers never see a half-written file."""
    model = build(h5_path)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=onnx_path.parent, prefix=f".{onnx_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(model.SerializeToString())
        os.replace(tmp, onnx_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
