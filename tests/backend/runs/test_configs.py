"""A run's config as people read it (backend.runs.configs): flattened to dotted paths, the options
that differ between runs, grouped as the options are, and the client command that launches it again
(run through a real shell and the client's own parser, it gives back the same config)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from backend.core.option_field import GROUPS
from backend.runs.configs import OTHER, cli_command, config_diff, config_view, flatten
from backend.training.config import TrainConfig
from cnnlab_client.cli import build_parser, read_json, run_body
from tests.utils.factories import tiny_config


def full(**overrides) -> dict:
    return TrainConfig.model_validate(tiny_config(**overrides)).model_dump(mode="json")


def test_flatten_names_every_leaf_by_its_dotted_path() -> None:
    assert flatten({"lr": 0.1, "augment": {"flip": True, "cutout": 0}, "architecture": {"stages": [[8], [16]]},
                    "data": {}, "x": {"y": {"z": None}}}) == {
        "lr": 0.1, "augment.flip": True, "augment.cutout": 0, "architecture.stages": [[8], [16]], "data": {},
        "x.y.z": None}


def test_the_diff_keeps_only_what_differs_and_counts_the_rest() -> None:
    a, b, c = full(lr=0.05), full(lr=0.1), full(lr=0.05, augment={"flip": True})
    diff = config_diff([7, 8, 9], [a, b, c])
    rows = {o.path: o for o in diff.options if o.differs}
    assert list(rows) == ["lr", "augment.flip"]
    assert rows["lr"].values == [0.05, 0.1, 0.05] and rows["augment.flip"].values == [False, False, True]
    assert diff.run_ids == [7, 8, 9] and diff.differing == 2
    assert diff.same == len(flatten(a)) - 2 == len(diff.options) - 2
    assert [o.path for o in diff.options] == list(flatten(a))  # every option, in config order


def test_a_list_differs_as_a_whole_and_json_types_count() -> None:
    a = {"architecture": {"stages": [[8], [16]]}, "n": 1, "flag": 1}
    b = {"architecture": {"stages": [[8], [16, 16]]}, "n": 1.0, "flag": True}
    diff = config_diff([1, 2], [a, b])
    assert [o.path for o in diff.options if o.differs] == ["architecture.stages", "n", "flag"]


def test_an_option_one_run_lacks_differs_and_says_which_run_lacks_it() -> None:
    diff = config_diff([1, 2, 3], [{"a": 1}, {"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 2}}])
    (b,) = [o for o in diff.options if o.differs]
    assert (b.path, b.values, b.missing) == ("b.c", [None, 2, 2], [0])
    assert diff.same == 1


def test_identical_configs_and_a_single_run_differ_nowhere() -> None:
    assert config_diff([1, 2], [full(), full()]).differing == 0
    one = config_diff([1], [full()])
    assert one.differing == 0 and one.same == len(flatten(full()))
    assert config_diff([], []).options == []


def test_the_view_groups_every_option_in_the_forms_order() -> None:
    view = config_view(full())
    assert [g.group for g in view] == [OTHER, *[g for g in GROUPS if any(v.group == g for v in view)]]
    paths = {v.path: g.group for g in view for v in g.options}
    assert paths == {p: paths[p] for p in flatten(full())}  # every option, once
    assert paths["lr"] == "optimisation" and paths["augment.flip"] == "augmentation"
    assert paths["architecture.stages"] == "architecture" and paths["architecture.name"] == OTHER


def shell_run(command: str, tmp_path: Path) -> tuple[list[str], str]:
    """The command through a real POSIX shell, with `python` standing for the interpreter: the
    arguments and standard input the client would get."""
    sh = shutil.which("sh")
    assert sh is not None
    stub = f'python() {{ printf "%s\\0" "$@" > "{tmp_path}/argv"; cat > "{tmp_path}/stdin"; }}; {command}'
    subprocess.run([sh, "-c", stub], check=True, timeout=60)
    argv = (tmp_path / "argv").read_text().split("\0")[:-1]
    return argv, (tmp_path / "stdin").read_text()


@pytest.mark.parametrize("name", ["plain", "it's \"quoted\" $HOME `x` \\n ; rm -rf /", "ünï", "--watch", "-x",
                                  "two\nlines"])
def test_the_cli_command_parses_back_to_the_same_config(tmp_path: Path, name: str, monkeypatch) -> None:
    config = full(data={"train_limit": 120}, lr=0.0123)
    config["architecture"]["name"] = "back\\slash 'quote' \\u00e9 %s"  # what printf or echo could mangle
    argv, stdin = shell_run(cli_command(config, name), tmp_path)
    assert argv[:2] == ["-m", "cnnlab_client"]
    args = build_parser().parse_args(argv[2:])
    assert (args.command, args.kind, args.file, args.name) == ("submit", "run", "-", name)
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(stdin))
    body = run_body(read_json(args.file), args.name, args.owner, args.repeats)
    assert body == {"config": config, "name": name}
    assert TrainConfig.model_validate(body["config"]).model_dump(mode="json") == config


def test_a_run_launched_by_its_cli_body_has_the_same_config(client, tmp_path: Path, monkeypatch) -> None:
    r = client.post("/api/runs", json={"name": "source", "config": tiny_config(lr=0.07, augment={"cutout": 4})})
    source = client.get(f"/api/runs/{r.json()['id']}").json()
    argv, stdin = shell_run(source["cli_command"], tmp_path)
    args = build_parser().parse_args(argv[2:])
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(stdin))
    again = client.post("/api/runs", json=run_body(read_json(args.file), args.name))
    assert again.status_code == 201, again.text
    made = client.get(f"/api/runs/{again.json()['id']}").json()
    assert made["config"] == source["config"] and made["name"] == "source"
    assert {v["path"]: v["value"] for g in made["config_view"] for v in g["options"]} == flatten(source["config"])


def test_the_compare_api_carries_the_config_diff(client) -> None:
    ids = [client.post("/api/runs", json={"name": f"lr {lr}", "config": tiny_config(lr=lr)}).json()["id"]
           for lr in (0.05, 0.2)]
    diff = client.get("/api/compare", params={"ids": ",".join(map(str, ids))}).json()["config_diff"]
    assert diff["run_ids"] == ids and diff["differing"] == 1
    assert [(o["path"], o["values"]) for o in diff["options"] if o["differs"]] == [("lr", [0.05, 0.2])]
    assert diff["same"] == len(diff["options"]) - 1
    assert json.loads(json.dumps(diff)) == diff
    assert client.get("/api/compare").json()["config_diff"] is None  # nothing chosen
