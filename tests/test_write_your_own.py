"""The user guide's "Write your own method" example, tested as printed there
(doc/user_guide/write_your_own.rst includes this file's code)."""

import numbers

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import Interval

from skremix import ERMClassifier
from skremix.base import TrainStep
from skremix.mixing import mixed_targets, mixup, sample_lambda


class MixupClassifier(ERMClassifier):
    """Plain mixup (Zhang et al., 2018) on the skremix training loop."""

    _parameter_constraints = {
        "alpha": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    def __init__(self, module=None, *, alpha=1.0, **kwargs):
        super().__init__(module, **kwargs)
        self.alpha = alpha

    def train_forward(self, X, y, **fit_params):
        lam = sample_lambda(self.alpha, self.rng_)  # host draw, seeded
        perm = torch.randperm(len(X), device=X.device)  # device draw, seeded
        logits = self.infer(mixup(X, lam, perm), **fit_params)
        targets = mixed_targets(y, perm, lam, len(self.classes_))
        return TrainStep(logits, targets)


def test_mixup_targets_of_a_hand_made_batch():
    X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    y = torch.tensor([0, 1, 2])
    clf = MixupClassifier(alpha=1.0, random_state=0)
    clf.fit(X.numpy(), y.numpy())  # builds the module and classes_
    seen = []
    clf.module_.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    clf.rng_ = np.random.default_rng(0)
    lam = np.random.default_rng(0).beta(1.0, 1.0)  # the same draw, by hand
    torch.manual_seed(0)
    perm = torch.randperm(3)
    torch.manual_seed(0)
    step = clf.train_forward(X, y)
    # Each row mixes with its partner: lam of its own label, 1 - lam of the other.
    expected = torch.zeros(3, 3)
    for i in range(3):
        expected[i, y[i]] += lam
        expected[i, y[perm[i]]] += 1 - lam
    assert torch.allclose(step.targets, expected)
    assert torch.allclose(seen[0], lam * X + (1 - lam) * X[perm])
    assert step.logits.shape == (3, 3) and dict(step.extra_losses) == {}


def test_mixup_classifier_is_a_working_estimator():
    X, y = make_classification(
        n_samples=200, n_classes=3, n_informative=4, weights=[0.8, 0.15], random_state=0
    )
    kw = dict(max_epochs=3, random_state=0)
    proba = MixupClassifier(**kw).fit(X, y).predict_proba(X)
    assert proba.shape == (200, 3) and np.allclose(proba.sum(axis=1), 1)
    # Same random_state, same probabilities; clone keeps alpha.
    again = clone(MixupClassifier(alpha=0.4, **kw))
    assert again.alpha == 0.4
    np.testing.assert_array_equal(
        MixupClassifier(**kw).fit(X, y).predict_proba(X), proba
    )
    # The base's options apply: deferred re-weighting is recorded per epoch.
    drw = MixupClassifier(rebalance="drw", rebalance_start=2, **kw).fit(X, y)
    assert drw.history[:, "rebalance"] == [False, False, True]
    # Its constraint is checked before training, with sklearn's wording.
    with pytest.raises(ValueError, match="'alpha' parameter of MixupClassifier"):
        MixupClassifier(alpha=0.0).fit(X, y)
    search = GridSearchCV(MixupClassifier(**kw), {"alpha": [0.2, 1.0]}, cv=2)
    assert search.fit(X, y).best_params_["alpha"] in (0.2, 1.0)
