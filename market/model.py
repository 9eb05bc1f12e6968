"""The valuation model: non-negative least squares of price / balance on the balance shares of
the (days-past-due bucket, product type) cells, with its k-fold cross-validated error.

Each coefficient reads as "the price, as a share of balance, of a package made only of that
cell"; a package's point estimate is its shares times the coefficients. Non-negative because
no slice of a tape has a negative price. The range is the point plus or minus the
``RANGE_COVERAGE`` quantile of the absolute out-of-fold errors, so that share of past deals,
each predicted by a model that never saw it, fell inside their range (docs/MARKET.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import nnls

from market.segments import FEATURES

FOLDS = 5
RANGE_COVERAGE = 0.8
_SEED = 20250331  # a fixed fold assignment: the same history gives the same error

Matrix = NDArray[np.float64]


@dataclass(frozen=True)
class Fit:
    coef: Matrix
    rmse: float  # out-of-fold root mean squared error of price / balance
    mae: float
    halfwidth: float  # RANGE_COVERAGE quantile of the out-of-fold absolute errors

    def predict(self, x: Matrix) -> Matrix:
        return x @ self.coef


def fit(x: Matrix, y: Matrix) -> Fit:
    """The coefficients on every deal and the error of ``FOLDS``-fold cross-validation."""
    coef, _ = nnls(x, y)
    residuals = _out_of_fold(x, y)
    absolute = np.abs(residuals)
    return Fit(
        coef=np.asarray(coef, dtype=np.float64),
        rmse=float(np.sqrt(np.mean(residuals**2))),
        mae=float(np.mean(absolute)),
        halfwidth=float(np.quantile(absolute, RANGE_COVERAGE)),
    )


def _out_of_fold(x: Matrix, y: Matrix) -> Matrix:
    n = len(y)
    folds = np.random.default_rng(_SEED).permutation(n) % FOLDS
    residuals = np.zeros(n)
    for fold in range(FOLDS):
        held = folds == fold
        coef, _ = nnls(x[~held], y[~held])
        residuals[held] = y[held] - x[held] @ coef
    return residuals


def similarity(x: Matrix, row: Matrix) -> Matrix:
    """1 - total variation distance between share vectors: 1 for the same mix, 0 for disjoint."""
    return np.asarray(1.0 - 0.5 * np.abs(x - row).sum(axis=1), dtype=np.float64)


def coefficients(fitted: Fit) -> dict[str, float]:
    return {name: float(c) for name, c in zip(FEATURES, fitted.coef, strict=True)}
