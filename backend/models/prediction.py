"""Classifying uploaded images with a run's exported model — onnxruntime inside the backend, no torch.

Images are prepared exactly as the data loader prepares a dataset's (worker.data._decode): RGB,
resized to the network's input size with bilinear resampling, uint8 NHWC; the normalisation is in
the model's graph. Sessions are kept per run in a bounded LRU cache (CNNLAB_PREDICT_CACHE_MODELS),
each capped at CNNLAB_PREDICT_THREADS threads, so a busy lab cannot run the backend out of memory.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image, UnidentifiedImageError

from backend.core.errors import ModelUnreadable, NotAnImage
from backend.core.settings import settings


@dataclass
class Loaded:
    session: Any  # onnxruntime.InferenceSession
    classes: list[str]
    size: int
    mtime: float
    metadata: dict[str, str]


_cache: OrderedDict[int, Loaded] = OrderedDict()
_lock = threading.Lock()


def forget(run_id: int) -> None:
    """Drop a run's session (its model was replaced or deleted)."""
    with _lock:
        _cache.pop(run_id, None)


def cached() -> list[int]:
    """The runs whose sessions are in memory, least recently used first."""
    with _lock:
        return list(_cache)


def session_for(run_id: int, path: Path) -> Loaded:
    """The run's session, loaded once and kept while it is among the recently used."""
    mtime = path.stat().st_mtime
    with _lock:
        hit = _cache.get(run_id)
        if hit is not None and hit.mtime == mtime:
            _cache.move_to_end(run_id)
            return hit
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.PREDICT_THREADS
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own classes (InvalidProtobuf, Fail, …) for a bad file
        raise ModelUnreadable(run_id, type(exc).__name__) from exc
    meta = session.get_modelmeta().custom_metadata_map
    size = int(session.get_inputs()[0].shape[1])
    loaded = Loaded(session, json.loads(meta.get("cnnlab.class_names", "[]")), size, mtime, dict(meta))
    with _lock:
        _cache[run_id] = loaded
        _cache.move_to_end(run_id)
        while len(_cache) > max(1, settings.PREDICT_CACHE_MODELS):
            _cache.popitem(last=False)
    return loaded


def prepare(data: bytes, size: int, index: int, filename: str) -> np.ndarray:
    """One upload → (size, size, 3) uint8 RGB, as the data loader decodes a dataset's image."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > settings.PREDICT_MAX_PIXELS:
                raise NotAnImage(index, filename, f"{opened.width}x{opened.height} is over the limit of "
                                                  f"{settings.PREDICT_MAX_PIXELS:,} pixels (CNNLAB_PREDICT_MAX_PIXELS)")
            img = opened.convert("RGB")
            if img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    except NotAnImage:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise NotAnImage(index, filename, type(exc).__name__) from None


def classify(loaded: Loaded, images: list[np.ndarray], k: int) -> list[dict[str, Any]]:
    """Top-k classes with probabilities, per image, and how long the batch took."""
    t0 = time.perf_counter()
    logits = loaded.session.run(["logits"], {"images": np.stack(images)})[0].astype(np.float64)
    ms = (time.perf_counter() - t0) * 1000
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    k = min(k, probs.shape[1])
    names = loaded.classes or [str(i) for i in range(probs.shape[1])]
    out = []
    for row in probs:
        top = np.argsort(-row)[:k]
        out.append({"top": [{"class": names[i], "index": int(i), "probability": float(row[i])} for i in top],
                    "ms": round(ms / len(images), 3)})
    return out


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def pool() -> ThreadPoolExecutor:
    """The classify requests' own threads (CNNLAB_PREDICT_WORKERS): a burst of huge images waits
    here, not in the pool that serves every other route, and never on the event loop."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(1, settings.PREDICT_WORKERS), thread_name_prefix="cnnlab-predict")
        return _pool


def prepare_and_classify(run_id: int, path: Path, uploads: list[tuple[bytes, str]],
                         k: int) -> tuple[Loaded, list[dict[str, Any]]]:
    loaded = session_for(run_id, path)
    images = [prepare(data, loaded.size, i, name) for i, (data, name) in enumerate(uploads)]
    return loaded, classify(loaded, images, k)


async def run_off_loop(run_id: int, path: Path, uploads: list[tuple[bytes, str]],
                       k: int) -> tuple[Loaded, list[dict[str, Any]]]:
    """Decode, resize and classify in the pool; the event loop only waits for the answer."""
    return await asyncio.get_running_loop().run_in_executor(pool(), prepare_and_classify, run_id, path, uploads, k)
