"""System metrics of a training run: this process's CPU use and resident memory (psutil), on CUDA
the GPU's utilisation and memory in use (NVML through pynvml, the nvidia-ml-py binding; without it,
torch's own memory figure and no utilisation), and the trainer's images per second.

One daemon thread samples every CNNLAB_SYSTEM_SAMPLE_INTERVAL_S (2 s): a few system calls, no
device synchronisation, nothing on the training step's path. Each sample goes to a sink (the
reporter, which sends them with its heartbeats) already checked against the bounds the backend
holds them to (backend.runs.protocol.SystemSampleIn), so a report is never refused for them.
On a CPU, or where a figure cannot be read, its field is None.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil
import torch
from pydantic import ValidationError

from backend.core.settings import settings
from backend.runs.protocol import SystemSampleIn

log = logging.getLogger("cnnlab.worker.system")
MIN_INTERVAL_S = 0.05  # a faster rate would cost the training step more than it tells


class GpuProbe:
    """The utilisation (percent) and memory in use (bytes) of one CUDA device; None for each figure
    it cannot read. NVML names devices by the machine's numbering, not CUDA_VISIBLE_DEVICES': the
    device is found by its UUID."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.index = device.index if device.index is not None else torch.cuda.current_device()
        self._nvml: Any = None
        self._handle: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = self._find_handle(pynvml)
        except Exception as exc:  # noqa: BLE001 - no NVML (no driver, no binding): memory from torch only
            log.info("NVML not available (%s): GPU utilisation will not be sampled", exc)
            self._nvml = self._handle = None

    def _find_handle(self, pynvml: Any) -> Any:
        uuid = getattr(torch.cuda.get_device_properties(self.index), "uuid", None)
        if uuid is not None:
            try:
                return pynvml.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}")
            except Exception:  # noqa: BLE001 - an older driver's UUID form: by index below
                pass
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        order = [v.strip() for v in visible.split(",") if v.strip()]
        machine_index = int(order[self.index]) if order and order[self.index].isdigit() else self.index
        return pynvml.nvmlDeviceGetHandleByIndex(machine_index)

    def read(self) -> tuple[float | None, int | None]:
        util: float | None = None
        mem: int | None = None
        if self._handle is not None:
            try:
                util = float(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)
                mem = int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)
            except Exception:  # noqa: BLE001 - a figure NVML cannot give now: None this time
                pass
        if mem is None:
            try:  # the memory this process's allocator holds on the device: no NVML, no device sync
                mem = int(torch.cuda.memory_reserved(self.device))
            except Exception:  # noqa: BLE001
                mem = None
        return util, mem

    def close(self) -> None:
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:  # noqa: BLE001
                pass


def gpu_probe(device: str | torch.device | None) -> GpuProbe | None:
    """A probe of the CUDA device a run trains on; None on a CPU."""
    if device is None:
        return None
    dev = torch.device(device) if isinstance(device, str) else device
    if dev.type != "cuda" or not torch.cuda.is_available():
        return None
    return GpuProbe(dev)


class SystemSampler:
    """Samples this process's system metrics every ``interval_s`` in a daemon thread, from start()
    to stop(), and hands each (a dict of SystemSampleIn's fields) to ``sink``. ``at_s`` counts from
    start(), plus ``origin_s`` (the training seconds an earlier attempt already did)."""

    def __init__(self, sink: Callable[[dict[str, Any]], None], *, device: str | torch.device | None = None,
                 images_per_s: Callable[[], float | None] | None = None, interval_s: float | None = None,
                 origin_s: float = 0.0) -> None:
        self.sink, self.images_per_s = sink, images_per_s
        self.interval_s = max(MIN_INTERVAL_S, interval_s if interval_s is not None
                              else settings.SYSTEM_SAMPLE_INTERVAL_S)
        self.origin_s = max(0.0, origin_s)
        self.device = device
        self.process = psutil.Process()
        self.cores = psutil.cpu_count() or 1
        self.gpu: GpuProbe | None = None
        self.taken = 0
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="system-metrics", daemon=True)

    def start(self) -> SystemSampler:
        self._started = time.monotonic()
        self.process.cpu_percent(None)  # the first call only starts psutil's count
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self.gpu is not None:
            self.gpu.close()

    def __enter__(self) -> SystemSampler:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def sample(self) -> dict[str, Any] | None:
        """One sample now, within the backend's bounds (a figure outside them is None); None when
        even its time is outside them (past the lab's time budget and its margin)."""
        cpu: float | None = None
        rss: int | None = None
        try:
            cpu = self.process.cpu_percent(None)
            rss = int(self.process.memory_info().rss)
        except psutil.Error:
            pass
        util, mem = self.gpu.read() if self.gpu is not None else (None, None)
        speed = None
        if self.images_per_s is not None:
            try:
                speed = self.images_per_s()
            except Exception:  # noqa: BLE001 - the trainer has not reported a batch yet
                speed = None
        raw = {"at_s": round(self.origin_s + time.monotonic() - self._started, 3), "cpu_percent": cpu,
               "rss_bytes": rss, "gpu_util": util, "gpu_mem_bytes": mem,
               "images_per_s": float(speed) if speed is not None else None}
        return bounded(raw)

    def _loop(self) -> None:
        try:
            self.gpu = gpu_probe(self.device)  # NVML's start-up off the training thread
        except Exception:  # noqa: BLE001 - no GPU figures then, CPU and memory still
            log.exception("GPU metrics unavailable")
        while not self._stop.wait(self.interval_s):
            try:
                sample = self.sample()
                if sample is not None:
                    self.taken += 1
                    self.sink(sample)
            except Exception:  # noqa: BLE001 - a failed sample never stops training
                log.exception("system sample failed")


def bounded(raw: dict[str, Any]) -> dict[str, Any] | None:
    """``raw`` as SystemSampleIn accepts it: each figure outside its bounds becomes None; None when
    the time itself is out of bounds."""
    sample = dict(raw)
    for _ in range(len(sample)):
        try:
            return SystemSampleIn.model_validate(sample).model_dump()
        except ValidationError as exc:
            bad = {str(e["loc"][0]) for e in exc.errors() if e.get("loc")}
            if "at_s" in bad or not bad:
                return None
            for name in bad:
                sample[name] = None
    return None
