"""Prediction is a pure function of the fitted state: ``predict_proba`` and
``predict`` never write a parameter or buffer, from one thread or from many
at once, whatever the head options (``tau_norm``, ``posthoc_tau``, a head
re-trained by ``rebalance='crt'``, LDAM's cosine head); and skorch's caching
scorer of the training batches (``EpochScoring(on_train=True)``) reads the
batches' own predictions for every classifier."""

import pickle
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from _classifiers import all_classifiers
from skorch.callbacks import Callback, EpochScoring

from skremix import ERMClassifier

N_THREADS, N_CALLS = 4, 10
SMALL = dict(module__hidden_units=(8,), max_epochs=2, random_state=0)

# (fit parameters, the parameters of the other estimator whose calls are
# interleaved with the first's), on ERM.
HEAD_OPTIONS = {
    "plain": (dict(), dict(tau_norm=1.0)),
    "tau_1": (dict(tau_norm=1.0), dict(tau_norm=0.5)),
    "tau_half": (dict(tau_norm=0.5), dict(tau_norm=None)),
    "posthoc": (dict(posthoc_tau=1.0), dict(posthoc_tau=None, tau_norm=1.0)),
    "tau_and_posthoc": (dict(tau_norm=1.0, posthoc_tau=1.0), dict(tau_norm=0.0)),
    "crt": (dict(rebalance="crt", rebalance_start=1), dict(tau_norm=1.0)),
    "ldam": (dict(loss="ldam"), dict(posthoc_tau=0.5)),
}


def _registered_modules(net):
    """``module_`` and every other fitted module of the net (RSG's ``rsg_``)."""
    return {
        name: value
        for name, value in vars(net).items()
        if name.endswith("_") and isinstance(value, torch.nn.Module)
    }


def _tensors(net):
    """Every parameter and buffer of the fitted modules, as bytes."""
    out = {}
    for prefix, module in _registered_modules(net).items():
        named = [*module.named_parameters(), *module.named_buffers()]
        for name, tensor in named:
            flat = tensor.detach().cpu().reshape(-1).contiguous()
            data = flat.view(torch.uint8).numpy().tobytes()
            out[f"{prefix}.{name}"] = (
                tensor.dtype,
                tuple(tensor.shape),
                data,
                tensor.requires_grad,
            )
    return out


def _modes(net):
    """The train / eval flag of every submodule of the fitted modules."""
    return {
        f"{prefix}.{name}": m.training
        for prefix, module in _registered_modules(net).items()
        for name, m in module.named_modules()
    }


def _call(net, X, method):
    return getattr(net, method)(X)


def _check_pure_under_threads(first, second, X):
    """``first`` and ``second`` (sharing nothing) predicted from four threads
    at once, their calls interleaved: every result equals the estimator's
    single-threaded one bit for bit, no parameter or buffer changes, and a
    pickle taken afterwards predicts the same."""
    before = {id(net): _tensors(net) for net in (first, second)}
    refs = {
        (id(net), method): _call(net, X, method)
        for net in (first, second)
        for method in ("predict_proba", "predict")
    }
    modes = {id(net): _modes(net) for net in (first, second)}
    barrier = threading.Barrier(N_THREADS)

    def worker(k):
        barrier.wait()
        results = []
        for i in range(N_CALLS):
            net = (first, second)[(k + i) % 2]
            method = "predict" if i % 5 == 4 else "predict_proba"
            results.append((id(net), method, _call(net, X, method)))
        return results

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        with ThreadPoolExecutor(N_THREADS) as pool:
            runs = list(pool.map(worker, range(N_THREADS)))
    finally:
        sys.setswitchinterval(interval)
    names = {id(first): "first", id(second): "second"}
    for results in runs:
        for key, method, out in results:
            ref = refs[key, method]
            assert out.dtype == ref.dtype, (names[key], method)
            assert np.array_equal(out, ref), (names[key], method)
    for net in (first, second):
        assert _tensors(net) == before[id(net)], names[id(net)]
        assert _modes(net) == modes[id(net)], names[id(net)]
        restored = pickle.loads(pickle.dumps(net))
        assert np.array_equal(restored.predict_proba(X), refs[id(net), "predict_proba"])
        assert _tensors(restored) == before[id(net)]


@pytest.mark.parametrize("option", list(HEAD_OPTIONS))
def test_head_options_predict_without_writing(option, tabular_imbalanced):
    X, y = tabular_imbalanced
    params, other_params = HEAD_OPTIONS[option]
    net = ERMClassifier(**SMALL, **params).fit(X, y)
    # A second estimator sharing nothing with the first, set differently.
    other = pickle.loads(pickle.dumps(net)).set_params(**other_params)
    _check_pure_under_threads(net, other, X)


@pytest.mark.parametrize("cls", all_classifiers(), ids=lambda c: c.__name__)
def test_every_classifier_predicts_without_writing(cls, tabular_imbalanced):
    X, y = tabular_imbalanced
    # MiSLAS's two stages need two epochs.
    net = cls(max_epochs=2 if cls.__name__ == "MiSLASClassifier" else 1, random_state=0)
    net.fit(X, y)
    other = pickle.loads(pickle.dumps(net)).set_params(tau_norm=0.5)
    _check_pure_under_threads(net, other, X)


def test_a_failing_forward_pass_writes_nothing(tabular_imbalanced):
    X, y = tabular_imbalanced
    net = ERMClassifier(**SMALL, tau_norm=1.0).fit(X, y)
    before = _tensors(net)

    def fail(module, args):
        raise RuntimeError("forward failed")

    handle = net.module_.register_forward_pre_hook(fail)
    try:
        with pytest.raises(RuntimeError, match="forward failed"):
            net.predict(X)
    finally:
        handle.remove()
    assert _tensors(net) == before
    assert net.predict_proba(X).shape == (len(X), 3)


# ------------------------------------------- scoring the training batches


class BatchPredictions(Callback):
    """Each training batch's cached ``y_pred`` and labels, as skorch's caching
    scorer sees them."""

    def initialize(self):
        self.epochs = []
        return self

    def on_epoch_begin(self, net, **kwargs):
        self.epochs.append([])

    def on_batch_end(self, net, batch, training, y_pred=None, **kwargs):
        if training:
            self.epochs[-1].append((y_pred.detach().clone(), batch[1].clone()))


@pytest.mark.parametrize("cls", all_classifiers(), ids=lambda c: c.__name__)
def test_epoch_scoring_on_train(cls, tabular_imbalanced):
    X, y = tabular_imbalanced
    # Labels 0, 1, 2: the scorer compares predict's labels with the batches'
    # encoded ones, which are the same only for such labels.
    y = np.unique(y, return_inverse=True)[1]
    record = BatchPredictions()
    net = cls(
        max_epochs=2,
        batch_size=32,
        random_state=0,
        callbacks=[
            EpochScoring("accuracy", on_train=True, name="train_acc"),
            ("record", record),
        ],
    ).fit(X, y)
    scores = net.history[:, "train_acc"]
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores)
    for batches in record.epochs:
        # One prediction row per row of the batch: generated rows dropped.
        assert all(len(pred) == len(labels) for pred, labels in batches)
    if cls is ERMClassifier:
        for score, batches in zip(scores, record.epochs, strict=True):
            pred = torch.cat([p for p, _ in batches]).argmax(1).numpy()
            labels = torch.cat([t for _, t in batches]).numpy()
            assert score == pytest.approx(np.mean(pred == labels), abs=1e-12)


@pytest.mark.parametrize("sizes", [(5, 7), (4, 3), (10,)])
def test_predicted_rows_of_another_total_are_kept(sizes, tabular_imbalanced):
    # skorch's caching scorers patch forward_iter to yield the training
    # batches' outputs, whose total need not be len(X).
    X, y = tabular_imbalanced
    net = ERMClassifier(**SMALL).fit(X, y)
    logits = torch.randn(sum(sizes), 3, generator=torch.Generator().manual_seed(0))
    net.forward_iter = lambda *args, **kwargs: iter(logits.split(sizes))
    proba = net.predict_proba(X[:10])
    expected = torch.softmax(logits.double(), dim=1).numpy()
    assert proba.shape == (sum(sizes), 3) and np.array_equal(proba, expected)
