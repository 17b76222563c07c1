"""The run page's "Try it": a run without a model is exported on request by a worker, then its
model classifies a dropped file and random test images (with their true class), top-5 bars each."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import create_engine, text

from tests.utils.factories import tiny_config
from tests.utils.services import wait_for

pytestmark = pytest.mark.integration


def test_try_it_classifies_a_dropped_file_and_random_test_images(page, lab, worker) -> None:
    run = lab.submit(tiny_config(epochs=2, batch_size=16), name="try me")
    wait_for(lambda: lab.http.get(f"/api/runs/{run['id']}").json()["status"] == "succeeded", 120, "the run to succeed")
    card = lab.http.get(f"/api/runs/{run['id']}/model-card").json()
    assert card["model"]["status"] == "ready", card["model"]  # the worker exported it before finishing
    engine = create_engine(lab.env["CNNLAB_DATABASE_URL"])  # as if it had finished before exports existed
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM run_models WHERE run_id = :id"), {"id": run["id"]})
    engine.dispose()
    page.goto(f"/runs/{run['id']}")
    page.wait_for_selector("#run[data-try-ready='0']", timeout=30_000)
    assert "finished before cnnlab exported models" in page.inner_text("#try-none")
    page.click("#try-export")  # a worker builds the model from the best checkpoint
    page.wait_for_selector("#run[data-try-ready='1']", timeout=90_000)
    assert lab.http.get(f"/api/runs/{run['id']}/model-card").json()["model"]["status"] == "ready"
    buffer = io.BytesIO()
    Image.fromarray(np.full((40, 50, 3), 120, np.uint8)).convert("L").save(buffer, format="PNG")  # another size, gray
    transfer = page.evaluate_handle(
        """(b64) => { const dt = new DataTransfer(); const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                      dt.items.add(new File([bytes], "dropped.png", { type: "image/png" })); return dt; }""",
        base64.b64encode(buffer.getvalue()).decode())
    page.dispatch_event("#try-drop", "drop", {"dataTransfer": transfer})
    page.wait_for_selector("#run[data-tried='1']", timeout=30_000)
    item = page.locator(".try-item")
    assert item.count() == 1 and "dropped.png" in item.inner_text() and " ms" in item.inner_text()
    assert item.locator(".bars li").count() == 5
    page.click("#try-random")
    page.wait_for_selector("#run[data-tried='6']", timeout=30_000)
    assert page.locator(".try-item").count() == 6 and page.locator(".try-item :text('true:')").count() == 6
