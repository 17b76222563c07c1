"""The worker's system sampler (bounded values, no GPU figures on a CPU, its own thread) and how the
reporter sends its samples with the heartbeat."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
import torch

from backend.core.settings import settings
from backend.runs.protocol import MAX_MEMORY_BYTES, MAX_SAMPLES_PER_HEARTBEAT, SAMPLE_MARGIN_S, SystemSampleIn
from worker.reporter import Reporter
from worker.system_metrics import MIN_INTERVAL_S, SystemSampler, bounded, gpu_probe

FIELDS = {"at_s", "cpu_percent", "rss_bytes", "gpu_util", "gpu_mem_bytes", "images_per_s"}


def take(count: int, **kwargs: Any) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    enough = threading.Event()

    def sink(sample: dict[str, Any]) -> None:
        got.append(sample)
        if len(got) >= count:
            enough.set()

    with SystemSampler(sink, interval_s=MIN_INTERVAL_S, **kwargs):
        guard = time.monotonic() + 60  # a guard against a sampler that never samples, not a timing
        while not enough.is_set() and time.monotonic() < guard:
            sum(range(20_000))  # a core kept busy meanwhile, as training would (no sleeping between checks)
    assert len(got) >= count, got
    return got


def test_a_cpu_run_samples_bounded_values_and_no_gpu_figures() -> None:
    samples = take(4, device="cpu", images_per_s=lambda: 321.5)
    cores = torch.get_num_threads()
    for s in samples:
        assert set(s) == FIELDS
        SystemSampleIn.model_validate(s)  # what the backend accepts
        assert s["gpu_util"] is None and s["gpu_mem_bytes"] is None
        assert s["cpu_percent"] is not None and 0.0 <= s["cpu_percent"] <= 100.0 * max(cores, 64)
        assert s["rss_bytes"] is not None and 10 * 2**20 < s["rss_bytes"] < MAX_MEMORY_BYTES  # torch is loaded
        assert s["images_per_s"] == 321.5
    times = [s["at_s"] for s in samples]
    assert times == sorted(times) and times[0] > 0.0
    assert max(s["cpu_percent"] for s in samples) > 0.0  # the loop above kept a core busy


def test_a_resumed_attempt_counts_on_from_its_checkpoints_training_time() -> None:
    samples = take(1, device=None, origin_s=600.0)
    assert samples[0]["at_s"] > 600.0


def test_no_images_per_s_before_the_first_batch() -> None:
    def nothing_yet() -> float | None:
        raise KeyError("images_per_s")

    assert take(1, images_per_s=nothing_yet)[0]["images_per_s"] is None
    assert take(1)[0]["images_per_s"] is None


def test_no_gpu_probe_on_a_cpu() -> None:
    assert gpu_probe(None) is None
    assert gpu_probe("cpu") is None
    assert gpu_probe(torch.device("cpu")) is None
    if not torch.cuda.is_available():  # this machine: a CUDA device asked for gives no figures, no error
        assert gpu_probe("cuda") is None


def test_a_figure_out_of_bounds_is_left_out_and_a_time_out_of_bounds_drops_the_sample() -> None:
    raw = {"at_s": 5.0, "cpu_percent": 150.0, "rss_bytes": MAX_MEMORY_BYTES * 2, "gpu_util": 101.0,
           "gpu_mem_bytes": -1, "images_per_s": 10.0}
    assert bounded(raw) == {"at_s": 5.0, "cpu_percent": 150.0, "rss_bytes": None, "gpu_util": None,
                            "gpu_mem_bytes": None, "images_per_s": 10.0}
    assert bounded({**raw, "at_s": settings.TIME_BUDGET_S + SAMPLE_MARGIN_S + 1}) is None
    assert bounded({**raw, "at_s": -1.0}) is None


def test_the_interval_has_a_floor_and_defaults_to_the_setting() -> None:
    assert SystemSampler(lambda s: None, interval_s=0.0).interval_s == MIN_INTERVAL_S
    assert SystemSampler(lambda s: None).interval_s == settings.SYSTEM_SAMPLE_INTERVAL_S


def test_the_sampler_thread_is_a_daemon_and_stops() -> None:
    sampler = SystemSampler(lambda s: None, interval_s=MIN_INTERVAL_S).start()
    assert sampler._thread.daemon and sampler._thread.is_alive()
    sampler.stop()
    assert not sampler._thread.is_alive()


# --- the reporter sends them with its heartbeats ---------------------------------------------
class Backend:
    def __init__(self, refuse_samples: bool = False) -> None:
        self.beats: list[list[dict[str, Any]] | None] = []
        self.finished = False
        self.refuse_samples = refuse_samples

    def heartbeat(self, run_id, attempt, lease, progress=None, system=None):
        if system and self.refuse_samples:
            request = httpx.Request("POST", "http://backend/api/worker/runs/1/heartbeat")
            raise httpx.HTTPStatusError("422", request=request, response=httpx.Response(422, request=request))
        self.beats.append(system)
        return {"status": "running", "cancel_requested": False, "current": True}

    def finish(self, run_id, attempt, lease, status, reason, elapsed_s):
        self.finished = True


def sample(at_s: float) -> dict[str, Any]:
    return {"at_s": at_s, "cpu_percent": 50.0, "rss_bytes": 1, "gpu_util": None, "gpu_mem_bytes": None,
            "images_per_s": None}


@pytest.fixture
def slow_beats(monkeypatch):
    monkeypatch.setattr(settings, "HEARTBEAT_INTERVAL_S", 3600.0)  # no beat of its own: the test beats


def test_samples_go_with_the_heartbeat_at_most_a_bound_per_beat_and_the_rest_before_the_end(slow_beats) -> None:
    backend = Backend()
    reporter = Reporter(backend, 1, 1, "lease").start()
    for i in range(MAX_SAMPLES_PER_HEARTBEAT + 10):
        reporter.system_sample(sample(float(i)))
    reporter._beat()
    assert [len(b or []) for b in backend.beats] == [MAX_SAMPLES_PER_HEARTBEAT]
    reporter.finish("succeeded", "done", 1.0)  # the 10 left are sent before the final status
    assert [len(b or []) for b in backend.beats] == [MAX_SAMPLES_PER_HEARTBEAT, 10]
    sent = [s["at_s"] for b in backend.beats for s in b or []]
    assert sent == [float(i) for i in range(MAX_SAMPLES_PER_HEARTBEAT + 10)] and backend.finished


def test_refused_samples_never_cost_the_run_its_heartbeat(slow_beats) -> None:
    backend = Backend(refuse_samples=True)
    reporter = Reporter(backend, 1, 1, "lease").start()
    reporter.system_sample(sample(1.0))
    answer = reporter._beat()
    assert answer["current"] is True and backend.beats == [None]  # beat again, without them
    assert not reporter.samples
    reporter.close()


def test_samples_wait_for_the_next_beat_while_the_backend_is_away(slow_beats) -> None:
    class Away(Backend):
        def heartbeat(self, *args, **kwargs):
            raise TimeoutError("backend unreachable")

    reporter = Reporter(Away(), 1, 1, "lease").start()
    reporter.system_sample(sample(1.0))
    reporter.system_sample(sample(2.0))
    with pytest.raises(TimeoutError):
        reporter._beat()
    assert [s["at_s"] for s in reporter.samples] == [1.0, 2.0]
    reporter.close()


def test_the_images_per_s_the_sampler_reads_is_the_trainers_latest(slow_beats) -> None:
    reporter = Reporter(Backend(), 1, 1, "lease")
    assert reporter.images_per_s() is None
    reporter.batch(1, 5, 10, 400, 2.0)
    assert reporter.images_per_s() == 200.0


def test_sampling_does_not_wait_on_the_training_thread() -> None:
    """The sampler takes its samples while the main thread is busy in a long torch op."""
    got: list[dict[str, Any]] = []
    with SystemSampler(got.append, interval_s=MIN_INTERVAL_S):
        started = time.monotonic()
        x = torch.randn(256, 256)
        while len(got) < 3 and time.monotonic() - started < 30:
            x = torch.tanh(x @ x.T / 256)
    assert len(got) >= 3
