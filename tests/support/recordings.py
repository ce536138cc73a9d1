"""Reading what a recording made: its files downloaded through the API, and their decoded
pictures and sound measured."""

from __future__ import annotations

import asyncio
from pathlib import Path

import av
import httpx
import numpy as np


async def download(client: httpx.AsyncClient, path: str, target: Path) -> Path:
    redirect = await client.get(path)
    assert redirect.status_code == 307, redirect.text
    async with httpx.AsyncClient() as plain:
        body = await plain.get(redirect.headers["location"])
    assert body.status_code == 200
    await asyncio.to_thread(target.write_bytes, body.content)
    return target


def frame_means(path: Path, seconds: list[float]) -> list[float]:
    """Mean pixel value of the first frame at or after each second."""
    means: list[float] = []
    wanted = list(seconds)
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if wanted and frame.time is not None and frame.time >= wanted[0]:
                means.append(float(frame.to_ndarray(format="gray").mean()))
                wanted.pop(0)
    return means


def audio_rms(path: Path) -> float:
    with av.open(str(path)) as container:
        samples = [
            frame.to_ndarray().astype(np.float32).ravel() for frame in container.decode(audio=0)
        ]
    joined = np.concatenate(samples)
    return float(np.sqrt(np.mean(joined**2)))
