"""The command lines: worker.train prints the seed's lines and writes a result; worker.summary."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.utils.datasets import make_arrays, write_image_folder, write_tarball


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_train_cli_prints_seed_lines_and_writes_result(tmp_path) -> None:
    folder = write_image_folder(tmp_path / "ds", make_arrays(classes=10, train_per_class=4, test_per_class=2))
    tarball = write_tarball(tmp_path / "ds.tar.gz", folder)
    out = tmp_path / "result.json"
    proc = run("worker.train", "--preset", "wide_deep", "--augment", "--epochs", "2", "--batch-size", "8",
               "--data", str(tarball), "--data.holdout", "10", "--device", "cpu", "--out", str(out),
               "--checkpoint-dir", str(tmp_path / "ckpt"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    epoch_line = re.compile(r"^\[epoch (\d+)\] train accuracy: \d+% test accuracy: \d+% val accuracy: \d+% "
                            r"loss: \d+\.\d{3} duration: \d+\.\d{2}$")
    assert [int(epoch_line.match(line).group(1)) for line in lines[:2]] == [1, 2]
    assert re.match(r"^Training finished in \d{2}h \d{2}min \d{2}sec$", lines[2])
    assert re.search(r"^Test accuracy \d+\.\d\d% at epoch [12], chosen on 10 held-out training images;",
                     proc.stdout, re.M)
    result = json.loads(out.read_text())
    assert result["selected_on"] == "val" and result["holdout"] == 10
    assert all(m["val_acc"] is not None for m in result["history"])
    assert result["params"] == 253_638 and result["macs"] == 12_509_136
    assert [m["epoch"] for m in result["history"]] == [1, 2]
    assert result["config"]["augment"]["crop"] and result["config"]["augment"]["flip"]
    assert (tmp_path / "ckpt" / "last.pt").is_file()


def test_train_cli_config_file_and_field_errors(tmp_path) -> None:
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({"architecture": {"stages": [[8, -1]]}, "epochs": 1}))
    proc = run("worker.train", "--config", str(cfg))
    assert proc.returncode == 2
    assert "error: architecture.stages[0][1]: width must be at least 1, got -1" in proc.stderr


def test_train_cli_names_a_missing_dataset(tmp_path) -> None:
    proc = run("worker.train", "--preset", "wide", "--data", str(tmp_path / "none.tar.gz"))
    assert proc.returncode == 2
    assert "none.tar.gz: does not exist" in proc.stderr


def test_summary_cli_table_and_json(tmp_path) -> None:
    proc = run("worker.summary", "wide_deep")
    assert proc.returncode == 0
    assert "Total params          253,638" in proc.stdout
    assert re.search(r"^9_fc1\s+\[768, 220\]\s+\[1, 220\]\s+169,180\s+168,960$", proc.stdout, re.M)
    proc = run("worker.summary", "deep", "--json")
    assert json.loads(proc.stdout)["total_macs"] == 2_689_740
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"architecture": {"family": "compact", "stages": [[16], [32]]}}))
    assert json.loads(run("worker.summary", str(cfg), "--json").stdout)["total_params"] > 0
    bad = run("worker.summary", "nope")
    assert bad.returncode == 2 and "unknown preset 'nope'" in bad.stderr


def test_train_cli_flags_reach_the_config() -> None:
    from backend.training.config import TrainConfig
    from worker.train import _parser, config_from_args

    args = _parser().parse_args(["--preset", "compact", "--augment", "--cutout", "8", "--tta", "--tta-shift", "2",
                                 "--time-budget", "900", "--patience", "5", "--whiten-init",
                                 "--final-views-only", "--alternate-flip", "--ema-epochs", "2.5"])
    config = TrainConfig.model_validate(config_from_args(args))
    assert config.whiten_init and not config.tta_each_epoch
    assert (config.augment.alternate_flip, config.ema_epochs) == (True, 2.5)
    assert TrainConfig.model_validate(config_from_args(_parser().parse_args(["--tta"]))).tta_each_epoch  # the default
    assert (config.augment.crop, config.augment.flip, config.augment.cutout) == (True, True, 8)
    assert (config.tta, config.tta_shift, config.time_budget_s, config.early_stopping_patience) == (True, 2, 900, 5)
    assert config.architecture.name == "compact"
