"""What a worker takes from the network is checked again on the worker: a run's data path must
stay inside the lab's data folder once every symlink is followed, and a stored failure reason
names no absolute path of the worker's machine."""

from __future__ import annotations

import re
from pathlib import Path

from worker.data import DatasetError

_ABSOLUTE = re.compile(r"(?<![\w.~-])(?:/[^\s'\"/:,;()\[\]]+)+/?")


def inside_data_dir(source: str, data_dir: str | Path) -> Path:
    """``source`` under ``data_dir``, every symlink resolved; refused when it leads outside. This
    checks the named path only: ``load_dataset`` checks each path inside it as it reads (the
    tarball, train/ and test/, class folders, images), so a link inside the source cannot lead out
    either. The refusal names the source and the setting, never the folder's absolute path."""
    if "\x00" in source:
        raise DatasetError(f"data.source {source!r} holds a NUL character")
    root = Path(data_dir).resolve()
    path = (root / source).resolve()
    if not path.is_relative_to(root):
        raise DatasetError(f"data.source {source!r} leads outside the lab's data folder (CNNLAB_DATA_DIR; "
                           "symlinks are followed)")
    return path


def without_paths(text: str) -> str:
    """Absolute paths shortened to their last part: '/home/ada/lab/data/x.tar.gz' → '…/x.tar.gz'."""
    return _ABSOLUTE.sub(lambda m: "…/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], text)
