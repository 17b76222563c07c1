"""The Storage section of the Workers page in Debian's Chromium: the signed-in user's checkpoints and
models (their total, the run that holds them, its size), the lab's disk, every user's total (an
admin), and "collect garbage now" telling what it removed."""

from __future__ import annotations

import httpx
import pytest

from backend.storage.service import human_bytes
from tests.utils.auth import WORKER_TOKEN
from tests.utils.factories import metric, tiny_config

pytestmark = pytest.mark.integration

BEST, MODEL = b"b" * 2_000_000, b"m" * 700  # bigger than any trained tiny net's: among the largest runs


def finished_with_artefacts(lab, name: str) -> int:
    """A run of the lab's admin (the signed-in browser's user), its best checkpoint and model written
    through the worker's upload routes, then finished."""
    run_id = lab.submit(tiny_config(), name=name)["id"]
    worker = httpx.Client(base_url=lab.url, timeout=30, headers={"Authorization": f"Bearer {WORKER_TOKEN}"})
    with worker:
        claim = worker.post(f"/api/worker/runs/{run_id}/claim", json={"host": "h", "device": "cpu"})
        assert claim.status_code == 200, claim.text
        worker.headers["X-Run-Lease"] = claim.json()["lease"]
        base = f"/api/worker/runs/{run_id}"
        assert worker.post(f"{base}/epochs", json={"attempt": 1, "metrics": [metric(1)]}).status_code == 204
        assert worker.put(f"{base}/checkpoints/best?attempt=1&epoch=1", content=BEST).status_code == 204
        assert worker.put(f"{base}/model?epoch=1", content=MODEL).status_code == 204
        assert worker.post(f"{base}/finish", json={"attempt": 1, "status": "succeeded"}).status_code == 204
    return run_id


def test_the_storage_section_shows_the_users_usage_and_their_largest_runs(page, lab) -> None:
    run_id = finished_with_artefacts(lab, "storage shown")
    mine = lab.http.get("/api/storage").json()["me"]

    page.goto("/workers")
    page.wait_for_selector("#storage[data-ready='1']")

    assert page.inner_text("#storage-title") == "Storage"
    said = page.inner_text("#storage-mine")
    runs = f"{mine['runs']:,} run" + ("" if mine["runs"] == 1 else "s")
    assert said.startswith(f"You keep {human_bytes(mine['total_bytes'])} in {runs} (checkpoints"), said
    assert "of checkpoints and models; the disk has" in page.inner_text("#storage-lab")
    row = page.locator(f"#storage-runs tr[data-run-id='{run_id}']")
    assert row.locator("td").all_inner_texts() == ["storage shown", "succeeded", "2.0 MB", "700 B", "2.0 MB"]
    assert row.locator("a").get_attribute("href") == f"/runs/{run_id}"
    # the lab's admin sees every user's total, theirs among them
    assert page.is_visible("#storage-users-box")
    me = page.locator(f"#storage-users tr[data-username='{mine['username']}']")
    assert me.locator("td").nth(2).inner_text() == human_bytes(mine["total_bytes"])

    page.click("#storage-gc")
    page.wait_for_function("document.getElementById('storage-gc-result').textContent.includes('freed')")
    assert "files removed" in page.inner_text("#storage-gc-result")
