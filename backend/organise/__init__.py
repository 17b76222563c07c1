"""Organising the lab's work: names, tags and notes on runs, sweeps, studies and searches, and
members' stars on runs (issue 30, "Organise")."""
