"""Saved views of the runs list: a query, chosen columns and a sort, saved by name per user."""
