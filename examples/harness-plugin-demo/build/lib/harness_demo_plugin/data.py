"""``data=sine``: a smooth nonlinear regression, y = sin(w . x) + noise."""

import numpy as np

from harness.data import Pool, source


@source("sine", "regression", {"n_samples": "[10, inf)", "n_features": "[1, inf)",
                               "noise": "[0, inf)"})
def sine(rng, *, n_samples: int = 1000, n_features: int = 5, noise: float = 0.1) -> Pool:
    """Features N(0, 1); target sin of a random projection of them, plus Gaussian noise."""
    X = rng.standard_normal((n_samples, n_features))
    w = rng.standard_normal(n_features) / np.sqrt(n_features)
    y = np.sin(X @ w * 2.0) + noise * rng.standard_normal(n_samples)
    return Pool(X, y)
