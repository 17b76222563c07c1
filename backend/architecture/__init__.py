"""Network descriptions, presets and size summaries — pure Python, no torch.

Both the backend (to validate a config and show its size before anything is queued) and the
worker (to build the network) import this package, so it must never import torch.
"""

from backend.architecture.description import (
    AnyArchitecture,
    Architecture,
    CompactArchitecture,
    PlainArchitecture,
    ResNetArchitecture,
)
from backend.architecture.parsing import parse_architecture
from backend.architecture.presets import PRESETS, preset
from backend.architecture.summary import LayerRow, Summary, summarize
from backend.core.errors import ArchitectureError  # declared with the lab's other errors; raised here

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
