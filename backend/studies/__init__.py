"""Studies: the shipped catalog, launches, computed conclusions, the report, and their routes."""
