"""Screenshots of the dashboard's key pages at 1280 and 390 px wide, to look at a change side by side
(issue 29: before/ is commit f513e4f, after/ the responsive pages).

    .venv/bin/python benchmarks/screenshots/take.py benchmarks/screenshots/after
    PYTHONPATH=/work/before .venv/bin/python benchmarks/screenshots/take.py OUT /work/before   # another checkout

The checkout (default: this one) is started as the browser tests start a lab (its backend on a fresh
PostgreSQL database and the local Redis) and seeded as tests/browser/test_every_page.py seeds it (a
queued, a running, a finished and a cancelled run, a sweep, a search, a study; no training); the
walk is that test's, without its assertions: what it finds is printed. Each shot is the first
screen of its page, JPEG quality 55 (about 50-150 kB).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]
KEY_PAGES = ["runs", "runs-finished", "runs-running", "runs-new", "compare-two", "searches-search", "studies"]


def main(out: Path, checkout: Path) -> None:
    var = Path(tempfile.mkdtemp(prefix="cnnlab-shots-"))
    os.environ.update({"CNNLAB_VAR_DIR": str(var), "CNNLAB_AUTH": "required",
                       "CNNLAB_WORKER_TOKEN": "cnw_screenshots-worker-credential-0123456789",
                       "CNNLAB_ALLOWED_HOSTS": "testserver,127.0.0.1,localhost"})
    sys.path.insert(0, str(checkout))
    from benchmarks.common import fresh_postgres_database
    from tests.utils.browser import ARGS, CHROMIUM
    from tests.utils.datasets import make_arrays, write_image_folder
    from tests.utils.services import Lab

    # the walk of this checkout's test, whatever the started checkout holds
    spec = importlib.util.spec_from_file_location("walk", HERE / "tests" / "browser" / "test_every_page.py")
    assert spec and spec.loader
    walk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(walk)
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    dataset = write_image_folder(var / "tiny", make_arrays(classes=10, train_per_class=40, test_per_class=10))
    with fresh_postgres_database("cnnlab_shots") as url:
        lab = Lab(var / "lab", url, "redis://127.0.0.1:6379/0", dataset)
        lab.migrate()
        lab.start_backend()
        try:
            with walk.seeded(lab) as ids, sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                chosen = [(label, path) for label, path in walk.pages(ids) if label in KEY_PAGES]
                for width in walk.VIEWPORTS:
                    context = walk.signed_in(browser, lab, width)
                    for label, path in chosen:
                        for problem in walk.visit(context, label, path, width, out):
                            print(problem)
                    context.close()
                browser.close()
        finally:
            lab.close()
    print(f"{len(list(out.glob('*.jpg')))} shots in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve() if len(sys.argv) > 2 else HERE)
