"""Independent random streams derived from the one user-facing ``seed``."""

from __future__ import annotations

import numpy as np

STREAMS = ("data", "corruption", "init", "shuffle")


def derive_seeds(seed: int) -> dict[str, int]:
    """One 32-bit seed per stream (data generation and split, corruption, model
    initialisation, mini-batch order), statistically independent of each other."""
    return {name: int(np.random.SeedSequence(seed, spawn_key=(i,)).generate_state(1)[0])
            for i, name in enumerate(STREAMS)}
