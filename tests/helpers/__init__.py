"""Reusable helpers for the izer test suite (binaries, validators, sample data)."""
