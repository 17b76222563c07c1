"""Network descriptions, presets and size summaries — pure Python, no torch.

Both the backend (to validate a config and show its size before anything is queued) and the
worker (to build the network) import this package, so it must never import torch.
"""

from backend.architecture.description import (
    Architecture,
    ArchitectureError,
    CompactArchitecture,
    PlainArchitecture,
    parse_architecture,
)
from backend.architecture.presets import PRESETS, preset
from backend.architecture.summary import LayerRow, Summary, summarize

__all__ = [
    "PRESETS",
    "Architecture",
    "ArchitectureError",
    "CompactArchitecture",
    "LayerRow",
    "PlainArchitecture",
    "Summary",
    "parse_architecture",
    "preset",
    "summarize",
]
