"""Runs: admission, the run service, sweeps, groups of repeats, comparisons with their
uncertainty, the reaper, and their routes."""
