"""The entry points: ``python -m backend.cli.serve | launch | users | migrate``."""
