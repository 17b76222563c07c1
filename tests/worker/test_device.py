"""Which failures leave a worker process's GPU unusable (the process then starts afresh)."""

from __future__ import annotations

import pytest
import torch

from worker.device import broken_by, device_label


@pytest.mark.parametrize(("exc", "broken"), [
    (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), False),  # the run fails alone
    (RuntimeError("CUDA error: an illegal memory access was encountered"), True),
    (RuntimeError("CUDA error: device-side assert triggered"), True),
    (RuntimeError("CUDA driver error: unknown error"), True),
    (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), False),
    (ValueError("CUDA error in a message that is not CUDA's"), False),
])
def test_a_lost_device_ends_the_process_but_out_of_memory_does_not(exc: BaseException, broken: bool) -> None:
    assert broken_by(exc) is broken


def test_the_cpu_is_named_plainly() -> None:
    assert device_label("cpu") == "cpu"
