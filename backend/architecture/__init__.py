"""Network descriptions, presets and size summaries — pure Python, no torch.

Both the backend (to validate a config and show its size before anything is queued) and the
worker (to build the network) import this package, so it must never import torch.
"""

from backend.architecture.description import (
    AnyArchitecture,
    Architecture,
    ArchitectureError,
    CompactArchitecture,
    PlainArchitecture,
    ResNetArchitecture,
)
from backend.architecture.parsing import parse_architecture
from backend.architecture.presets import PRESETS, preset
from backend.architecture.summary import LayerRow, Summary, summarize

__all__ = [
    "PRESETS",
    "AnyArchitecture",
    "Architecture",
    "ArchitectureError",
    "CompactArchitecture",
    "LayerRow",
    "PlainArchitecture",
    "ResNetArchitecture",
    "Summary",
    "parse_architecture",
    "preset",
    "summarize",
]
