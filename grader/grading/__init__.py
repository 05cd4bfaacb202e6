"""Grading runs: one slot grades one submission at a time; a batch spreads a class over slots."""
