"""Run shipped studies end to end through a running cnnlab, then export their reports.

    ./cnnlab start --no-browser &          # or any lab; its worker trains on the real CIFAR-10
    .venv/bin/python -m benchmarks.run_studies --scale 0.05 seed-report beyond-the-seed

Launches each study (epochs x scale), waits for every run, then writes under benchmarks/studies/:
<slug>.csv (the side-by-side table), <slug>.html (the self-contained report, as the Export button
gives it), <slug>.png (that file rendered in Debian's Chromium: the figures) and <slug>.json (the
report without the image gallery). It goes only through the REST API, as any script would.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import httpx

OUT = Path(__file__).parent / "studies"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]


def study_by_slug(http: httpx.Client, slug: str) -> dict:
    for study in http.get("/api/studies").raise_for_status().json()["data"]:
        if study["slug"] == slug:
            return study
    raise SystemExit(f"no study {slug!r} on this lab")


def wait_finished(http: httpx.Client, study_id: int, launch_id: int, poll_s: float, timeout_s: float) -> dict:
    shown, deadline = None, time.monotonic() + timeout_s
    while True:
        if time.monotonic() > deadline:
            raise SystemExit(f"study {study_id} launch {launch_id}: not finished after {timeout_s:.0f} s")
        report = http.get(f"/api/studies/{study_id}/report", params={"launch": launch_id, "images": "false"}).json()
        line = " · ".join(f"{r['entry']}: {r['status']} {r['epochs_done'] or 0} ep" for r in report["table"])
        if line != shown:
            print(time.strftime("%H:%M:%S"), line, flush=True)
            shown = line
        if report["finished"]:
            return report
        time.sleep(poll_s)


def render_png(html: Path, png: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(html.resolve().as_uri())
        page.wait_for_selector("body[data-ready='1']")
        page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
        page.wait_for_timeout(2000)  # class reports draw when first opened
        page.screenshot(path=str(png), full_page=True)
        browser.close()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("slugs", nargs="+")
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--scale", type=float, default=1.0, help="epochs scale of the launch")
    p.add_argument("--export-only", action="store_true", help="export each study's latest launch, launch nothing")
    p.add_argument("--poll", type=float, default=10.0)
    p.add_argument("--timeout", type=float, default=6 * 3600, help="seconds to wait for a launch to finish")
    args = p.parse_args()
    OUT.mkdir(exist_ok=True)
    http = httpx.Client(base_url=args.url, timeout=120)
    launches = {}
    for slug in args.slugs:  # queue every study first: the workers take the runs in order
        study = study_by_slug(http, slug)
        if args.export_only:
            launches[slug] = (study, study["launches"][-1]["id"])
        else:
            r = http.post(f"/api/studies/{study['id']}/launches", json={"epochs_scale": args.scale})
            r.raise_for_status()
            launches[slug] = (study, r.json()["id"])
    for slug, (study, launch_id) in launches.items():
        started = time.monotonic()
        report = wait_finished(http, study["id"], launch_id, args.poll, args.timeout)
        print(f"{slug}: finished, {time.monotonic() - started:.0f} s after it was waited for", flush=True)
        params = {"launch": launch_id}
        (OUT / f"{slug}.csv").write_text(http.get(f"/api/studies/{study['id']}/report.csv", params=params).text)
        html = OUT / f"{slug}.html"
        html.write_text(http.get(f"/api/studies/{study['id']}/report.html", params=params).text)
        (OUT / f"{slug}.json").write_text(json.dumps(report, indent=1))
        render_png(html, OUT / f"{slug}.png")
        for claim in report["claims"]:
            print(f"  [{claim['verdict']}] {claim['text']} — {claim['detail']}")
        for finding in report["findings"]:
            print(f"  {finding}")


if __name__ == "__main__":
    main()
