"""scikit-image's bundled photos (no download) as encoded files, for the face model."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from PIL import Image
from skimage import data


def photo(name: str, image_format: str = "JPEG") -> bytes:
    loader: Callable[[], Any] = getattr(data, name)
    buffer = io.BytesIO()
    Image.fromarray(loader()).save(buffer, format=image_format)
    return buffer.getvalue()
