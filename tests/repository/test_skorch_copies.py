"""skremix mirrors a few skorch method bodies; this fails when skorch moves them.

``skremix._net`` re-states the bodies of some skorch methods (to add the
method hook, the per-epoch record read-back, the preallocated prediction
loop) and relies on the flow of others (``fit_loop`` calling
``get_split_datasets``, ``on_epoch_begin`` creating the epoch's history
row). Each is listed below with the skremix member that depends on it and
a fingerprint of its code (the function's source, docstring and comments
dropped, as ``ast.unparse`` writes it) for every skorch release the
project supports. A skorch release that changes one of these bodies, or
that is not listed, fails here: re-read the body, bring the skremix copy
in line (as ``_run_training`` now passes fit_loop's ``_routing_method``,
which skorch 1.4 added), then add the release's fingerprints.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap

import pytest
import skorch
from skorch.net import NeuralNet

# skorch method -> the skremix member that copies it or relies on its flow.
DEPENDENTS = {
    "partial_fit": "BaseImbalancedClassifier._run_training (its body, public API only)",
    "fit_loop": "BaseImbalancedClassifier._run_training and get_split_datasets",
    "run_single_epoch": "BaseImbalancedClassifier.run_single_epoch (its body)",
    "train_step_single": "BaseImbalancedClassifier.train_step_single (its body)",
    "predict_proba": "BaseImbalancedClassifier._predict_batches (its loop)",
    "forward_iter": "BaseImbalancedClassifier._predicted_parts",
    "infer": "BaseImbalancedClassifier.infer",
    "evaluation_step": "BaseImbalancedClassifier.evaluation_step",
    "on_epoch_begin": "BaseImbalancedClassifier.on_epoch_begin (the history row)",
}

_UP_TO_1_3 = {
    "partial_fit": "2015eddac074",
    "fit_loop": "307777be809b",
    "run_single_epoch": "b2b9b182411a",
    "train_step_single": "4e8252bae74f",
    "predict_proba": "2d440e974f16",
    "forward_iter": "024fea6780b4",
    "infer": "36582dd9a096",
    "evaluation_step": "d6bc3f94ca4d",
    "on_epoch_begin": "e398c7912b4c",
}

FINGERPRINTS = {
    "1.2.0": _UP_TO_1_3,
    "1.3.0": _UP_TO_1_3,
    "1.3.1": _UP_TO_1_3,
    # 1.4.0: partial_fit and fit_loop thread the metadata-routing entry point.
    "1.4.0": {**_UP_TO_1_3, "partial_fit": "8bac1bc09ad7", "fit_loop": "ae35d9a49b8c"},
}


def fingerprint(function):
    """The first 12 hex digits of the sha256 of the function's code, its
    name, docstring, decorators and comments dropped (``ast.unparse``)."""
    node = ast.parse(textwrap.dedent(inspect.getsource(function))).body[0]
    first = node.body[0] if node.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        node.body = node.body[1:]
    node.decorator_list = []
    node.name = "_"
    return hashlib.sha256(ast.unparse(node).encode()).hexdigest()[:12]


def test_the_installed_skorch_release_is_known():
    assert skorch.__version__ in FINGERPRINTS, (
        f"skorch {skorch.__version__} is not among the releases whose method "
        f"bodies skremix was checked against ({sorted(FINGERPRINTS)}): compare "
        f"the bodies of {sorted(DEPENDENTS)} with the skremix members that "
        "depend on them, then add its fingerprints to this file."
    )


@pytest.mark.parametrize("name", sorted(DEPENDENTS))
def test_skorch_body_unchanged(name):
    expected = FINGERPRINTS.get(skorch.__version__)
    if expected is None:
        pytest.fail(f"skorch {skorch.__version__} unknown: see the test above")
    got = fingerprint(getattr(NeuralNet, name))
    assert got == expected[name], (
        f"skorch {skorch.__version__} changed NeuralNet.{name}, which "
        f"{DEPENDENTS[name]} mirrors: read the new body and update skremix, "
        f"then its fingerprint here ({got})."
    )


def test_the_fingerprint_sees_a_changed_body():
    def body(self, X):
        """Doc."""
        return self.fit_loop(X)

    def other(self, X):
        # a comment and another docstring change nothing
        """Other doc."""
        return self.fit_loop(X)

    def changed(self, X):
        return self.fit_loop(X, epochs=1)

    assert fingerprint(body) == fingerprint(other)
    assert fingerprint(body) != fingerprint(changed)
