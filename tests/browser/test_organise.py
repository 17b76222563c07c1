"""Organise in the browser: tag a run on its page and find the tag in the runs API, star it, write a
note whose HTML stays text while its Markdown formats; open a compare of two runs that differ in lr
and read the config diff; copy a run's CLI command and launch the same config with it."""

from __future__ import annotations

import io
import json

import pytest

from cnnlab_client.cli import build_parser, read_json, run_body
from tests.backend.runs.test_configs import shell_run
from tests.utils.factories import tiny_config

pytestmark = pytest.mark.integration


def open_run(page, run_id: int) -> None:
    page.goto(f"/runs/{run_id}")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#organise[data-loaded='1']")


def test_tag_star_and_annotate_a_run_on_its_page(page, lab) -> None:
    run_id = lab.submit(tiny_config(), name="to organise")["id"]
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_run(page, run_id)
    page.click("#organise-edit")
    page.fill("#organise-name", "organised run")
    page.fill("#organise-tags-input", "bad tag!")
    page.click("#organise-save")
    error = page.wait_for_selector("#organise-form [role='alert']:has-text('must be 1 to 40 characters')")
    assert "Tags" in error.inner_text()  # the field, by its label
    page.fill("#organise-tags-input", "Baseline, lr-sweep baseline")
    page.fill("#organise-note-input", "<img src=x onerror=alert(1)> and **bold** with [a link](javascript:alert(2))")
    page.click("#organise-save")
    page.wait_for_selector("#organise[data-tags='baseline,lr-sweep']")
    assert page.is_hidden("#organise-form")
    assert page.inner_text("#run-name") == "organised run"
    assert page.inner_text("#organise-note strong") == "bold"
    assert page.locator("#organise-note img").count() == 0 and page.locator("#organise-note a").count() == 0
    assert "<img src=x onerror=alert(1)>" in page.inner_text("#organise-note")  # the HTML, as text
    assert page.locator("img[src='x']").count() == 0 and dialogs == []
    assert page.inner_text("#organise-tags").split() == ["baseline", "lr-sweep"]

    listed = {r["id"]: r for r in lab.http.get("/api/runs", params={"limit": 500}).json()["data"]}
    assert listed[run_id]["tags"] == ["baseline", "lr-sweep"] and listed[run_id]["name"] == "organised run"
    assert lab.run(run_id)["note"].startswith("<img src=x")

    page.click("#star")
    page.wait_for_selector("#star[aria-pressed='true']")
    assert "Starred · 1" in page.inner_text("#star")
    run = lab.run(run_id)
    assert (run["stars"], run["starred"]) == (1, True)
    page.reload()
    page.wait_for_selector("#organise[data-loaded='1']")
    assert page.get_attribute("#star", "aria-pressed") == "true"  # the star is kept
    assert page.locator("#organise-note strong").count() == 1
    page.click("#star")
    page.wait_for_selector("#star[aria-pressed='false']")
    assert lab.run(run_id)["stars"] == 0 and dialogs == []

    # the page's own allowlist, behind the backend's renderer: HTML it was never meant to get stays inert
    shown = page.evaluate("""() => {
        const box = document.createElement('div');
        box.append(...cnn.noteNodes('<img src=x onerror=alert(3)><script>alert(4)</script>'
            + '<p onclick="alert(5)" style="color:red">t <a href="javascript:alert(6)">j</a> '
            + '<a href="https://ok.example" rel="x">ok</a></p>'
            + '<table><tbody><tr><td class="align-right">r</td><td style="text-align:left">s</td>'
            + '<td class="x">x</td></tr></tbody></table>'));
        return box.innerHTML; }""")
    assert shown == ('alert(4)<p>t <a>j</a> <a href="https://ok.example" rel="x">ok</a></p>'  # elements out, text kept
                     '<table><tbody><tr><td class="align-right">r</td><td>s</td><td>x</td></tr></tbody></table>')
    assert dialogs == []


def test_compare_shows_only_the_options_that_differ(page, lab) -> None:
    a = lab.submit(tiny_config(lr=0.05), name="lr low")["id"]
    b = lab.submit(tiny_config(lr=0.2), name="lr high")["id"]
    page.goto(f"/compare?ids={a},{b}")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#config-diff:not([hidden])")
    rows = page.locator("#config-diff-table tbody tr")
    assert rows.count() == 1
    assert page.get_attribute("#config-diff-table tbody tr", "data-path") == "lr"
    assert [c.inner_text() for c in page.locator("#config-diff-table tbody tr td").all()] == ["0.05", "0.2"]
    heads = [h.inner_text() for h in page.locator("#config-diff-table thead th").all()]
    assert heads[0] == "Option" and f"lr low (#{a})" in heads[1] and f"lr high (#{b})" in heads[2]
    same = lab.http.get("/api/compare", params={"ids": f"{a},{b}"}).json()["config_diff"]["same"]
    assert f"{same} options are the same in all runs" in page.inner_text("#config-diff-facts")
    page.check("#config-diff-all")
    assert page.locator("#config-diff-table tbody tr").count() == same + 1
    assert page.locator("#config-diff-table tbody tr.same[data-path='batch_size']").count() == 1


def test_copy_as_cli_command_launches_the_same_config(page, lab, tmp_path, monkeypatch) -> None:
    config = tiny_config(lr=0.0321, augment={"cutout": 4, "flip": True}, data={"train_limit": 120})
    config["architecture"] = {**config["architecture"], "name": "it's a \"net\" \\ $HOME"}
    run_id = lab.submit(config, name="--copied 'run'")["id"]
    source = lab.run(run_id)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab.url)
    open_run(page, run_id)
    assert page.locator("#config-view tr[data-path='augment.cutout'] td").inner_text() == "4"
    page.click("#copy-json")
    page.wait_for_selector("#copy-json[data-copied='1']")
    assert json.loads(page.evaluate("navigator.clipboard.readText()")) == source["config"]
    page.click("#copy-cli")
    page.wait_for_selector("#copy-cli[data-copied='1']")
    command = page.evaluate("navigator.clipboard.readText()")
    assert command.startswith("printf ") and "python -m cnnlab_client submit run -" in command

    argv, stdin = shell_run(command, tmp_path)
    args = build_parser().parse_args(argv[2:])
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    body = run_body(read_json(args.file), args.name)
    again = lab.http.post("/api/runs", json=body)
    assert again.status_code == 201, again.text
    made = lab.run(again.json()["id"])
    assert made["config"] == source["config"] and made["name"] == "--copied 'run'"


def test_sweeps_studies_and_searches_are_tagged_and_annotated_on_their_pages(page, lab) -> None:
    sweep = lab.http.post("/api/sweeps", json={"name": "sw", "base_config": tiny_config(), "grid": {"seed": [1]}})
    study = lab.http.post("/api/studies", json={"name": "st", "entries": [
        {"key": "a", "label": "A", "config": tiny_config()}]})
    search = lab.http.post("/api/searches", json={"name": "se", "base_config": tiny_config(), "n_trials": 2,
                                                  "max_concurrent": 1, "space": {"lr": {"float": [0.01, 0.1]}}})
    assert sweep.status_code == study.status_code == search.status_code == 201
    lab.http.post(f"/api/searches/{search.json()['id']}/stop")
    for path, api, note, heading in ((f"/sweeps/{sweep.json()['id']}", f"/api/sweeps/{sweep.json()['id']}", "note",
                                      "#compare-title"),
                                     (f"/studies/{study.json()['id']}", f"/api/studies/{study.json()['id']}", "note",
                                      "#study-name"),
                                     (f"/searches/{search.json()['id']}", f"/api/searches/{search.json()['id']}",
                                      "user_note", "#search-title")):
        page.goto(path)
        page.wait_for_selector("#organise[data-loaded='1']")
        assert page.is_hidden("#star")  # stars are for runs
        page.click("#organise-edit")
        page.fill("#organise-name", f"renamed {path}")
        page.fill("#organise-tags-input", "Lab v2")
        page.fill("#organise-note-input", "# Plan\n\n*first* the <b>grid</b>")
        page.click("#organise-save")
        page.wait_for_selector("#organise[data-tags='lab,v2']")
        assert page.inner_text("#organise-note h3") == "Plan" and page.inner_text("#organise-note em") == "first"
        assert page.locator("#organise-note b").count() == 0 and "<b>grid</b>" in page.inner_text("#organise-note")
        assert page.inner_text(heading).endswith(f"renamed {path}")
        got = lab.http.get(api).json()
        assert (got["name"], got["tags"]) == (f"renamed {path}", ["lab", "v2"])
        assert got[note] == "# Plan\n\n*first* the <b>grid</b>"
