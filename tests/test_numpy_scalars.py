"""Numpy scalars as parameters (what ``np.linspace`` grids and
``scipy.stats`` draws give a search): every numeric parameter of every
classifier fits exactly as the Python number of the same value."""

import numbers

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skremix import (
    ERMClassifier,
    MFWClassifier,
    ReMixClassifier,
    RemixClassifier,
    RSGClassifier,
)
from skremix.losses import focal_loss, ldam_margins, logit_adjustment
from skremix.mixing import (
    cutmix_box,
    mfw_strength,
    mixup,
    remix_label_factor,
    sample_lambda,
)
from skremix.nn import frequent_class_mask, n_generated

FAST = dict(max_epochs=2, batch_size=16, lr_warmup=1, random_state=0)

# The base's loss and re-balancing options, each set so that its numbers
# are used: LDAM's margins and scale; the focal loss with the deferred
# re-sampling, tau-normalisation and the post-hoc adjustment; the
# logit-adjusted loss with classifier re-training.
LDAM = dict(
    loss="ldam",
    ldam_max_m=0.25,
    ldam_s=16.0,
    rebalance="drw",
    rebalance_start=1,
    rebalance_beta=0.99,
    posthoc_tau=0.5,
)
FOCAL = dict(
    loss="focal",
    focal_gamma=1.5,
    rebalance="drs",
    rebalance_start=0.5,
    tau_norm=0.5,
    posthoc_tau=1.0,
)
ADJUSTED = dict(loss="logit_adjusted", la_tau=0.75, rebalance="crt", rebalance_start=1)

# (class, parameters, images): each class with the three loss settings and
# its own numbers in use, images where an option needs them.
CASES = [
    (ERMClassifier, LDAM, False),
    (ERMClassifier, FOCAL, False),
    (ERMClassifier, ADJUSTED, True),
    (RemixClassifier, dict(LDAM, mix="input", alpha=0.5, kappa=2.0, tau=0.75), False),
    (RemixClassifier, dict(FOCAL, mix="manifold", tau=0.25), False),
    (RemixClassifier, dict(ADJUSTED, mix="cutmix", kappa=1.5), True),
    (ReMixClassifier, dict(LDAM, alpha=0.5, n_batches=3), False),
    (ReMixClassifier, dict(FOCAL, rebalance="rw", balance="within_batch"), False),
    (ReMixClassifier, dict(ADJUSTED, rebalance="drw", alpha=0.25), True),
    (MFWClassifier, dict(LDAM, alpha=0.5, beta=1.0), False),
    (MFWClassifier, dict(FOCAL, beta=0.5), False),
    (MFWClassifier, dict(ADJUSTED, alpha=2.0), True),
    (
        RSGClassifier,
        dict(
            LDAM,
            n_centers=2,
            frequent_ratio=0.5,
            transfer_strength=1.0,
            lambda_cesc=0.5,
            lambda_mv=0.25,
            generate_from=1,
        ),
        False,
    ),
    (RSGClassifier, dict(FOCAL, generate_from=0.5, transfer_strength=0.5), False),
    (RSGClassifier, dict(ADJUSTED, n_centers=3, generate_from=1), True),
]


def _constraints(cls):
    """The class's parameter constraints merged over its MRO, as fit checks
    them (skremix._validation.check_params)."""
    merged = {}
    for klass in reversed(cls.__mro__):
        merged.update(getattr(klass, "_parameter_constraints", {}))
    return merged


def _numbers(est):
    """Every constrained parameter of ``est`` set to an int or a float."""
    params = est.get_params(deep=False)
    return {
        name: params[name]
        for name in _constraints(type(est))
        if isinstance(params.get(name), (int, float))
        and not isinstance(params[name], bool)
    }


def _as_numpy(value, floats):
    """``value`` as a numpy scalar: int64 for ints, ``floats`` for floats
    (float32 only where it holds the value exactly, else float64)."""
    if isinstance(value, int):
        return np.int64(value)
    if floats is np.float32 and float(np.float32(value)) == value:
        return np.float32(value)
    return np.float64(value)


@pytest.fixture(scope="module")
def data():
    """Rows (60 x 4) and uint8 digit images (46 x 8 x 8), classes 36/16/8."""
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [36, 16, 8])
    rows = (rng.normal(size=(60, 4)) + y[:, None]).astype(np.float32)
    digits = load_digits()
    idx = np.concatenate(
        [np.flatnonzero(digits.target == c)[:n] for c, n in [(0, 24), (1, 14), (2, 8)]]
    )
    images = (digits.images[idx] * 255 / 16).astype(np.uint8)
    return (rows, y), (images, digits.target[idx])


@pytest.mark.parametrize(
    "cls, params, images",
    CASES,
    ids=[f"{c.__name__}-{p['loss']}" for c, p, _ in CASES],
)
def test_numpy_scalars_fit_as_python_numbers(cls, params, images, data):
    X, y = data[1] if images else data[0]
    plain = cls(**FAST, **params)
    numbers_ = _numbers(plain)
    # The method's own numbers and the base's are all there.
    own = set(cls._parameter_constraints) & set(numbers_)
    assert own or cls is ERMClassifier
    assert {"lr", "max_epochs", "batch_size", "random_state"} <= set(numbers_)
    expected = clone(plain).fit(X, y).predict_proba(X)
    for floats in (np.float64, np.float32):
        swapped = {name: _as_numpy(v, floats) for name, v in numbers_.items()}
        net = clone(plain).set_params(**swapped)
        got = net.get_params(deep=False)
        assert all(type(got[name]) is type(v) for name, v in swapped.items())
        np.testing.assert_array_equal(net.fit(X, y).predict_proba(X), expected)
    if cls is RSGClassifier:
        assert sum(sum(n) for n in net.history[:, "batches", :, "rsg_generated"]) > 0


def test_a_linspace_grid_searches_remix(data):
    """The user report: RemixClassifier(tau=np.float64(0.5)) from a grid."""
    X, y = data[0]
    search = GridSearchCV(
        RemixClassifier(max_epochs=1, batch_size=16, random_state=0),
        {"tau": np.linspace(0.0, 1.0, 3), "kappa": np.linspace(1.0, 3.0, 2)},
        cv=2,
    ).fit(X, y)
    assert isinstance(search.best_params_["tau"], np.float64)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


@pytest.mark.parametrize("kind", [np.float64, np.float32, np.int64])
def test_the_pure_functions_take_any_real(kind):
    """Each function of mixing/, losses/ and nn/ given numpy scalars gives
    what it gives for the Python numbers (values exact in every kind)."""
    n_i = torch.tensor([1000.0, 10.0, 100.0, 50.0])
    n_j = torch.tensor([10.0, 1000.0, 80.0, 50.0])

    def same(f, *args):
        np_args = [
            kind(a)
            if isinstance(a, numbers.Real) and (kind is not np.int64 or a == int(a))
            else a
            for a in args
        ]
        expected, got = f(*args), f(*np_args)
        if isinstance(expected, torch.Tensor):
            assert got.dtype == expected.dtype
            torch.testing.assert_close(got, expected, rtol=0, atol=0)
        else:
            assert got == expected and type(got) is type(expected)

    # Remix's rule with the majority pair, the minority pair, neither, equal.
    for lam in (0.25, 0.75, torch.tensor(0.25)):
        same(lambda k, t, lam=lam: remix_label_factor(lam, n_i, n_j, k, t), 3, 1)
    same(lambda k, t: remix_label_factor(0.25, n_i, n_j, k, t), 2.0, 0.5)
    same(lambda beta: mfw_strength(torch.tensor([100, 10, 1]), beta), 2)
    same(lambda m: ldam_margins([16, 1], m), 1)
    same(lambda t: logit_adjustment([3, 1], t), 2)
    same(lambda g: focal_loss(torch.zeros(1, 2), torch.tensor([1]), g), 2)
    same(lambda r: frequent_class_mask([5, 50, 5, 50], r), 1)
    same(lambda s: n_generated(10, 3, s), 1)
    x = torch.tensor([[0.0], [10.0]])
    same(lambda lam: mixup(x, lam, torch.tensor([1, 0])), 1)
    same(lambda h, w, c: cutmix_box(h, w, 0.75, c, c), 8, 8, 4)
    same(lambda a: sample_lambda(a, np.random.default_rng(0)), 2)
