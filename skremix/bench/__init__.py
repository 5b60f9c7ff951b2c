"""The ``skremix-bench`` command: class-imbalance methods side by side.

Every method trains the same network (the skremix default module for the
input shape) with the same optimizer, learning rate, epochs and batch size;
the results table, ``results.csv``, ``summary.json`` and ``results.png`` are
written to ``--out``. Run it as ``skremix-bench`` or ``python -m skremix``.
"""

from skremix.bench._main import main
from skremix.bench._methods import (
    ReshapeTransformer,
    list_methods,
    make_estimator,
    method_info,
)

__all__ = [
    "main",
    "list_methods",
    "method_info",
    "make_estimator",
    "ReshapeTransformer",
]
