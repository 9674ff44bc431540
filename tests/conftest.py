"""Shared fixtures live here; helpers in ``tests/helpers.py``."""
