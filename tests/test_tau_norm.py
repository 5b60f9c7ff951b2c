"""The tau-normalised classifier of Kang et al. (ICLR 2020, Sec. 4),
``tau_norm``, with hand-worked values: at prediction each class's weight row
``w_i`` of the head becomes ``w_i / ||w_i||**tau`` and the bias is left out,
as in the paper's code (``tau_norm.py`` of facebookresearch/
classifier-balancing computes ``feat @ pnorm(W, tau).T``)."""

import math

import numpy as np
import pytest
import torch
from _classifiers import Headless
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError
from skorch.dataset import ValidSplit

from skremix import ERMClassifier, MFWClassifier, RemixClassifier


class HeadOnly(torch.nn.Module):
    """A module that is its head: the head's input is ``x`` itself, so the
    logits are ``W x + b``, worked out by hand."""

    def __init__(self, n_features, n_classes):
        super().__init__()
        self.head = torch.nn.Linear(n_features, n_classes)

    def forward(self, x):
        return self.head(x)


ROWS = np.array(
    [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0], [0.0, 2.0]],
    dtype=np.float32,
)
LABELS = np.array([0, 0, 0, 1, 1, 2])  # counts 3, 2, 1: priors 1/2, 1/3, 1/6
# Weight rows of norms 5, 1 and 2; a bias that tau-normalisation leaves out.
W = [[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]]
B = [0.5, -0.5, 0.25]
QUERIES = np.array([[1.0, 1.0], [1.0, 0.0]], dtype=np.float32)
# W x + b for the two queries: (7, 1, 2) + b and (3, 1, 0) + b.
RAW = [[7.5, 0.5, 2.25], [3.5, 0.5, 0.25]]
# tau = 1: (7/5, 1/1, 2/2) and (3/5, 1/1, 0/2), no bias.
TAU_1 = [[1.4, 1.0, 1.0], [0.6, 1.0, 0.0]]
# tau = 0.5: (7/sqrt 5, 1, 2/sqrt 2) and (3/sqrt 5, 1, 0).
TAU_HALF = [[7 / math.sqrt(5), 1.0, math.sqrt(2)], [3 / math.sqrt(5), 1.0, 0.0]]
# tau = 0: the rows as trained, no bias.
TAU_0 = [[7.0, 1.0, 2.0], [3.0, 1.0, 0.0]]


def _softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _set_head(clf, weight, bias):
    with torch.no_grad():
        clf.module_.head.weight.copy_(torch.tensor(weight))
        clf.module_.head.bias.copy_(torch.tensor(bias))


@pytest.fixture
def fitted():
    """A fitted net whose head is ``W``, ``B``."""
    clf = ERMClassifier(HeadOnly, max_epochs=2, random_state=0).fit(ROWS, LABELS)
    _set_head(clf, W, B)
    return clf


def test_tau_normalised_probabilities_by_hand(fitted):
    clf = fitted
    assert np.allclose(clf.predict_proba(QUERIES), _softmax(RAW), rtol=1e-6)
    assert list(clf.predict(QUERIES)) == [0, 0]
    # Set after fit: no refit, the predictions change.
    epochs = len(clf.history)
    clf.set_params(tau_norm=1.0)
    assert np.allclose(clf.predict_proba(QUERIES), _softmax(TAU_1), rtol=1e-6)
    # (0.6, 1, 0): the second query goes to class 1, whose row is short.
    assert list(clf.predict(QUERIES)) == [0, 1]
    clf.set_params(tau_norm=0.5)
    assert np.allclose(clf.predict_proba(QUERIES), _softmax(TAU_HALF), rtol=1e-6)
    clf.set_params(tau_norm=0.0)
    assert np.allclose(clf.predict_proba(QUERIES), _softmax(TAU_0), rtol=1e-6)
    assert len(clf.history) == epochs
    clf.set_params(tau_norm=None)
    assert np.allclose(clf.predict_proba(QUERIES), _softmax(RAW), rtol=1e-6)


def test_tau_zero_is_none_for_a_head_without_bias(fitted):
    clf = fitted
    _set_head(clf, W, [0.0, 0.0, 0.0])
    plain = clf.predict_proba(QUERIES)
    clf.set_params(tau_norm=0.0)
    assert np.array_equal(clf.predict_proba(QUERIES), plain)
    assert np.allclose(plain, _softmax(TAU_0), rtol=1e-6)


def test_a_row_of_norm_zero_stays_zero(fitted):
    clf = fitted
    _set_head(clf, [[3.0, 4.0], [0.0, 0.0], [0.0, 2.0]], B)
    clf.set_params(tau_norm=1.0)
    proba = clf.predict_proba(QUERIES)
    assert np.all(np.isfinite(proba))
    assert np.allclose(proba, _softmax([[1.4, 0.0, 1.0], [0.6, 0.0, 0.0]]), rtol=1e-6)


def test_composes_with_posthoc_adjustment_by_hand(fitted):
    # The tau-normalised logits minus posthoc_tau * log(pi), pi = (1/2, 1/3, 1/6).
    clf = fitted
    clf.set_params(tau_norm=1.0, posthoc_tau=1.0)
    log_pi = np.log([1 / 2, 1 / 3, 1 / 6])
    expected = _softmax(np.array(TAU_1) - log_pi)
    assert np.allclose(clf.predict_proba(QUERIES), expected, rtol=1e-6)
    clf.set_params(posthoc_tau=0.5)
    expected = _softmax(np.array(TAU_1) - 0.5 * log_pi)
    assert np.allclose(clf.predict_proba(QUERIES), expected, rtol=1e-6)


def test_head_tensors_are_bit_identical_after_prediction(fitted):
    clf = fitted
    head = clf.module_.head
    weight, bias = head.weight.detach().clone(), head.bias.detach().clone()
    pointers = head.weight.data_ptr(), head.bias.data_ptr()
    clf.set_params(tau_norm=0.7)
    clf.predict_proba(QUERIES)
    assert torch.equal(head.weight, weight) and torch.equal(head.bias, bias)
    assert (head.weight.data_ptr(), head.bias.data_ptr()) == pointers
    assert head.weight.requires_grad and head.bias.requires_grad

    # A hook on the head runs on the tau-normalised head of the prediction,
    # while the fitted head stays as trained; nothing changes after a failing
    # forward pass either.
    def fail(module, args):
        # Inside the prediction: rows of norm ||w||**0.3, no bias.
        norms = torch.linalg.vector_norm(module.weight, dim=1)
        assert torch.allclose(norms, torch.tensor([5.0, 1.0, 2.0]) ** 0.3)
        assert module.bias is None and module is not head
        assert torch.equal(head.weight, weight) and torch.equal(head.bias, bias)
        raise RuntimeError("forward failed")

    handle = head.register_forward_pre_hook(fail)
    try:
        with pytest.raises(RuntimeError, match="forward failed"):
            clf.predict(QUERIES)
    finally:
        handle.remove()
    assert torch.equal(head.weight, weight) and torch.equal(head.bias, bias)
    assert (head.weight.data_ptr(), head.bias.data_ptr()) == pointers


def test_training_and_validation_never_use_it(tabular_imbalanced):
    X, y = tabular_imbalanced
    params = dict(
        module__hidden_units=(8,),
        max_epochs=2,
        train_split=ValidSplit(4, stratified=True),
        random_state=0,
    )
    plain = ERMClassifier(**params).fit(X, y)
    tau = ERMClassifier(tau_norm=1.0, **params).fit(X, y)
    for key in ("train_loss", "valid_loss", "valid_bacc"):
        assert plain.history[:, key] == tau.history[:, key], key
    trained = tau.module_.state_dict()
    for name, value in plain.module_.state_dict().items():
        assert torch.equal(value, trained[name]), name
    # Only the predictions differ, as a tau-normalised head of the same
    # weights predicts (worked out here from the features).
    with torch.no_grad():
        feats = plain.module_.blocks(torch.as_tensor(X, dtype=torch.float32))
    w = plain.module_.head.weight.detach().double().numpy()
    z = feats.double().numpy() @ (w / np.linalg.norm(w, axis=1, keepdims=True)).T
    assert np.allclose(tau.predict_proba(X), _softmax(z), rtol=1e-5, atol=1e-7)


def test_parameter_round_trip():
    clf = ERMClassifier(tau_norm=0.5)
    assert clf.get_params()["tau_norm"] == 0.5
    assert clone(clf).tau_norm == 0.5
    assert ERMClassifier().tau_norm is None


@pytest.mark.parametrize("cls", [RemixClassifier, MFWClassifier])
def test_other_classifiers_by_the_features(cls, tabular_imbalanced):
    X, y = tabular_imbalanced
    clf = cls(module__hidden_units=(8, 8), max_epochs=1, random_state=0).fit(X, y)
    with torch.no_grad():
        feats = clf.module_.blocks(torch.as_tensor(X, dtype=torch.float32))
    w = clf.module_.head.weight.detach().double().numpy()
    norms = np.linalg.norm(w, axis=1, keepdims=True)
    g = feats.double().numpy()
    clf.set_params(tau_norm=1.0)
    assert np.allclose(clf.predict_proba(X), _softmax(g @ (w / norms).T), rtol=1e-5)
    clf.set_params(tau_norm=0.5)
    z = g @ (w / np.sqrt(norms)).T
    assert np.allclose(clf.predict_proba(X), _softmax(z), rtol=1e-5)


# ------------------------------------------------------------- refusals


def test_ldam_is_refused_before_training_and_at_prediction():
    clf = ERMClassifier(loss="ldam", tau_norm=1.0, max_epochs=2)
    with pytest.raises(ValueError, match="loss='ldam'.*would change nothing"):
        clf.fit(ROWS, LABELS)
    assert clf.history is None or len(clf.history) == 0
    clf = ERMClassifier(loss="ldam", max_epochs=1).fit(ROWS, LABELS)
    clf.set_params(tau_norm=1.0)
    with pytest.raises(ValueError, match="loss='ldam'"):
        clf.predict(ROWS)


def test_a_normed_head_is_refused():
    clf = ERMClassifier(
        module__normed_head=True, module__hidden_units=(4,), tau_norm=1.0, max_epochs=1
    )
    with pytest.raises(ValueError, match="NormedLinear cosine"):
        clf.fit(ROWS, LABELS)
    assert len(clf.history) == 0


def test_a_module_without_head_is_refused():
    clf = ERMClassifier(Headless, tau_norm=1.0, max_epochs=2)
    with pytest.raises(ValueError, match="no 'head' submodule"):
        clf.fit(ROWS, LABELS)
    assert len(clf.history) == 0
    clf = ERMClassifier(Headless, max_epochs=1).fit(ROWS, LABELS)
    clf.set_params(tau_norm=1.0)
    with pytest.raises(ValueError, match="no 'head' submodule"):
        clf.predict_proba(ROWS)


@pytest.mark.parametrize("bad", [-0.5, float("nan"), "1"])
def test_invalid_values_are_refused(bad, fitted):
    with pytest.raises(InvalidParameterError, match="tau_norm"):
        ERMClassifier(tau_norm=bad, max_epochs=1).fit(ROWS, LABELS)
    # Also when set after fit, at prediction.
    fitted.set_params(tau_norm=bad)
    with pytest.raises(InvalidParameterError, match="tau_norm"):
        fitted.predict(QUERIES)
