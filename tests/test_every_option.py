"""Every parameter of every skremix classifier has an effect or a refusal.

For each parameter of each class (the keys of the ``_parameter_constraints``
merged over the MRO, the skorch parameters skremix validates, and every
constructor's own), a fit with the parameter moved from its default to
another valid value, in a setting where it matters, is compared with the fit
at the default: the outcome changes (the probabilities, the history or the
fitted module), by an amount worked out here where it can be, or the change
is refused with ValueError / TypeError before any training step. Then the
skorch-routed prefixes (``iterator_train__``, ``iterator_valid__``,
``optimizer__``, ``callbacks__``, ``criterion__``, ``module__``), the training
loop's independence from the removable callbacks (``rebalance`` and
``lr_schedule`` stay applied with ``callbacks='disable'``), the learning-rate
schedule beside skorch's ``LRScheduler``, and the class counts of
``partial_fit``, which accumulate over calls as sklearn's do.
"""

import inspect
import math
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _classifiers import all_classifiers
from skorch.callbacks import Callback, LRScheduler
from skorch.dataset import ValidSplit
from torch import nn
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    SequentialSampler,
    Subset,
    WeightedRandomSampler,
)
from torch.utils.data.dataloader import default_collate

from skremix import (
    ERMClassifier,
    MFWClassifier,
    MiSLASClassifier,
    ReMixClassifier,
    RemixClassifier,
    RSGClassifier,
)
from skremix.callbacks import LRSchedule

CLASSES = all_classifiers()
# The mixing classes whose batches are plain shuffled ones (ReMix draws
# class-balanced batches of its own; MiSLAS's second stage does, and it
# refuses rebalance=None).
PLAIN_BATCHES = [c for c in CLASSES if c not in (ReMixClassifier, MiSLASClassifier)]
# Classes whose training refuses rebalance=None with their own batches
# (ReMix) or a rebalance other than 'crt' (MiSLAS).
OWN_BATCHES = (ReMixClassifier, MiSLASClassifier)
BASE = dict(max_epochs=2, batch_size=32, random_state=0)
COUNTS = (100, 35, 15)
N = sum(COUNTS)
# The skorch parameters skremix checks itself (skremix._validation).
SKORCH_CHECKED = (
    "module",
    "criterion",
    "optimizer",
    "train_split",
    "iterator_train",
    "iterator_valid",
    "callbacks",
)


def _name(cls):
    return cls.__name__.removesuffix("Classifier")


# --------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def data():
    """150 samples, classes 0 / 1 / 2 of 100 / 35 / 15, in a shuffled order
    (data order is not class order), as rows, (n, 1, 8, 8) images and
    integer rows."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], COUNTS)
    order = rng.permutation(N)
    y = y[order]
    centers = rng.normal(scale=3.0, size=(3, 6))
    rows = centers[y] + rng.normal(size=(N, 6))
    from sklearn.datasets import load_digits

    digits = load_digits()
    picks = [np.flatnonzero(digits.target == c)[:n] for c, n in enumerate(COUNTS)]
    images = np.concatenate([digits.images[p] for p in picks])[order] / 16.0
    ints = np.clip(np.rint(rows + 8), 0, None).astype(np.int64)
    return {
        "rows": (rows, y),
        "images": (images[:, None].astype(np.float32), y),
        "ints": (ints, y),
    }


def holdout(dataset, y=None, **fit_params):
    """Every fifth sample held out for validation (30 of 150)."""
    idx = np.arange(len(dataset))
    valid = idx % 5 == 0
    return Subset(dataset, idx[~valid].tolist()), Subset(dataset, idx[valid].tolist())


VALID_IDX = np.arange(N)[np.arange(N) % 5 == 0]


# ---------------------------------------------------------------- helpers


class Probe(Callback):
    """Counts training batches and records their labels and the optimizer's
    rate at each epoch's start (after the net set it)."""

    def __init__(self, tag=None):
        self.tag = tag
        self.batches = 0
        self.valid_batches = 0
        self.labels = []
        self.lrs = []

    def on_epoch_begin(self, net, **kwargs):
        self.lrs.append(net.optimizer_.param_groups[0]["lr"])

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.batches += 1
            self.labels.append(np.asarray(batch[1].cpu()))
        else:
            self.valid_batches += 1


def _epochs(net):
    """Epochs begun (0 when the net never got as far as its history)."""
    history = net.__dict__.get("history_")
    return 0 if history is None else len(history)


def assert_refused(net, X, y, probe=None, method="fit", match=None):
    """``net.<method>(X, y)`` raises ValueError / TypeError before any
    training step; returns the exception."""
    with pytest.raises((ValueError, TypeError), match=match) as info:
        getattr(net, method)(X, y)
    assert _epochs(net) == 0, "refused only after training had begun"
    if probe is not None:
        assert probe.batches == 0, f"refused after {probe.batches} training batches"
    return info.value


def _strip(history):
    """The history without wall-clock times."""
    return [{k: v for k, v in row.items() if k != "dur"} for row in history]


def _structure(net):
    return [
        (name, tuple(t.shape), t.dtype)
        for mod in ("module_", "rsg_")
        if hasattr(net, mod)
        for name, t in getattr(net, mod).state_dict().items()
    ]


def assert_outcome_differs(base, changed, X):
    same_proba = np.array_equal(base.predict_proba(X), changed.predict_proba(X))
    same_history = _strip(base.history) == _strip(changed.history)
    same_structure = _structure(base) == _structure(changed)
    assert not (same_proba and same_history and same_structure), (
        "the fit's outcome (probabilities, history, module) is unchanged"
    )


def _logits(net, X):
    module = net.module_.eval()
    with torch.no_grad():
        return module(torch.as_tensor(np.asarray(X), dtype=torch.float32)).double()


def _batch_sizes(history, prefix="train"):
    return [list(e) for e in history[:, "batches", :, f"{prefix}_batch_size"]]


def _chunks(n, size):
    return [min(size, n - a) for a in range(0, n, size)]


# ---------------------------------------------------------------- modules


class Small(nn.Module):
    """A user module: one hidden layer named ``hidden``, a ``head``."""

    default_mix_layer = "hidden"

    def __init__(self, n_features, n_classes, width=12):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(n_features, width), nn.ReLU())
        self.head = nn.Linear(width, n_classes)

    def forward(self, x):
        return self.head(self.hidden(x.flatten(1).float()))


class DtypeProbe(Small):
    """``Small`` recording the dtype of every input it gets."""

    def __init__(self, n_features, n_classes):
        super().__init__(n_features, n_classes)
        self.seen = set()

    def forward(self, x):
        self.seen.add(x.dtype)
        return super().forward(x)


class SmoothCE(nn.CrossEntropyLoss):
    """Cross-entropy with label smoothing 0.2."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label_smoothing", 0.2)
        super().__init__(**kwargs)


def counting_loader():
    """A DataLoader class of its own, counting the batches it yields."""

    class Counting(DataLoader):
        yielded = 0

        def __iter__(self):
            for batch in super().__iter__():
                Counting.yielded += 1
                yield batch

    return Counting


# -------------------------------------------------- one case per parameter


@dataclass
class Case:
    """A parameter's change, the setting it matters in (shared by both fits),
    the data, what is expected ('effect', 'refusal' or 'either') and the
    check of the effect, ``check(base, changed, X, y, out)`` (default: the
    outcome differs)."""

    change: dict
    setting: dict = field(default_factory=dict)
    data: str = "rows"
    expect: str = "effect"
    check: object = None
    twice: bool = False  # fit twice (warm_start)
    probe: bool = True  # add a counting callback to both fits


def _check_max_epochs(base, changed, X, y, out):
    assert len(base.history) == 2 and len(changed.history) == 3


def _check_batch_size(base, changed, X, y, out):
    cls = type(changed)
    expected = [16] * math.ceil(N / 16) if cls is ReMixClassifier else _chunks(N, 16)
    assert _batch_sizes(changed.history) == [expected] * 2


def _check_lr_cosine(base, changed, X, y, out):
    expected = [1e-3 * (1 + math.cos(math.pi * e / 3)) / 2 for e in range(3)]
    np.testing.assert_allclose(changed.history[:, "lr"], expected, rtol=1e-12)


def _check_warmup(base, changed, X, y, out):
    np.testing.assert_allclose(changed.history[:, "lr"], [5e-4, 1e-3, 1e-3])


def _check_standardize(base, changed, X, y, out):
    np.testing.assert_allclose(changed.input_mean_, X.mean(axis=0), rtol=1e-5)
    assert_outcome_differs(base, changed, X)


def _check_int_dtype(base, changed, X, y, out):
    assert changed.module_.seen == {torch.int64}
    assert base.module_.seen == {torch.float32}


def _bn(net):
    return next(m for m in net.module_.modules() if isinstance(m, nn.BatchNorm2d))


def _check_precise_bn(base, changed, X, y, out):
    assert not torch.equal(_bn(base).running_mean, _bn(changed).running_mean)
    assert_outcome_differs(base, changed, X)


def _check_placement(base, changed, X, y, out):
    assert base.data_placement_ == "device" and changed.data_placement_ == "host"


def _rebalance_check(expected_base, expected_changed):
    def check(base, changed, X, y, out):
        assert base.history[:, "rebalance"] == expected_base
        assert changed.history[:, "rebalance"] == expected_changed
        assert_outcome_differs(base, changed, X)

    return check


def _check_beta(base, changed, X, y, out):
    counts = np.bincount(y)
    w = (1 - 0.9) / (1 - 0.9**counts)
    np.testing.assert_allclose(changed.class_weights_, w * 3 / w.sum(), rtol=1e-6)
    assert_outcome_differs(base, changed, X)


def _head_dtypes(net, X):
    seen = []
    handle = net.module_.head.register_forward_hook(
        lambda _m, _i, out: seen.append(out.dtype)
    )
    try:
        net.predict_proba(X)
    finally:
        handle.remove()
    return set(seen)


def _check_bf16(base, changed, X, y, out):
    assert _head_dtypes(changed, X) == {torch.bfloat16}
    assert _head_dtypes(base, X) == {torch.float32}
    assert_outcome_differs(base, changed, X)


def _last_conv(net):
    return [m for m in net.module_.modules() if isinstance(m, nn.Conv2d)][-1]


def _check_channels_last(base, changed, X, y, out):
    # The default, 'auto', is channels-last for a built-in ConvNet on the CPU.
    fmt = torch.channels_last
    assert base.channels_last_ and not changed.channels_last_
    assert _last_conv(base).weight.is_contiguous(memory_format=fmt)
    assert not _last_conv(changed).weight.is_contiguous(memory_format=fmt)


def _check_posthoc(base, changed, X, y, out):
    prior = changed.class_counts_ / changed.class_counts_.sum()
    logits = _logits(changed, X) - torch.log(torch.as_tensor(prior))
    expected = torch.softmax(logits, dim=1).numpy()
    np.testing.assert_allclose(changed.predict_proba(X), expected, atol=1e-6)
    np.testing.assert_allclose(
        base.predict_proba(X), torch.softmax(_logits(base, X), 1), atol=1e-6
    )


def _check_tau_norm(base, changed, X, y, out):
    module = changed.module_.eval()
    with torch.no_grad():
        feats = module.blocks(torch.as_tensor(X, dtype=torch.float32)).double()
        w = module.head.weight.double()
        logits = feats @ (w / w.norm(dim=1, keepdim=True)).T
    expected = torch.softmax(logits, dim=1).numpy()
    np.testing.assert_allclose(changed.predict_proba(X), expected, atol=1e-6)
    assert not np.allclose(base.predict_proba(X), expected, atol=1e-3)


def _check_module(base, changed, X, y, out):
    assert isinstance(changed.module_, Small) and not isinstance(base.module_, Small)


def _check_criterion(base, changed, X, y, out):
    # The criterion is the validation loss: training is untouched.
    assert base.history[:, "train_loss"] == changed.history[:, "train_loss"]
    logits = _logits(changed, X[VALID_IDX]).float()
    expected = F.cross_entropy(
        logits, torch.as_tensor(y[VALID_IDX]), label_smoothing=0.2
    )
    assert changed.history[-1, "valid_loss"] == pytest.approx(float(expected), 1e-5)
    assert base.history[-1, "valid_loss"] != pytest.approx(float(expected), 1e-3)


def _check_optimizer(base, changed, X, y, out):
    assert isinstance(changed.optimizer_, torch.optim.SGD)
    assert_outcome_differs(base, changed, X)


def _check_split(base, changed, X, y, out):
    assert changed.class_counts_.sum() == N - len(VALID_IDX)
    assert base.class_counts_.tolist() == list(COUNTS)
    assert "valid_loss" in changed.history[-1] and "valid_loss" not in base.history[-1]


def _check_loader(which):
    def check(base, changed, X, y, out):
        loader = changed.get_params()[f"iterator_{which}"]
        count = sum(changed.history[:, f"{which}_batch_count"])
        assert loader.yielded == count > 0

    return check


def _check_disabled(base, changed, X, y, out):
    assert "dur" in base.history[-1] and "dur" not in changed.history[-1]


def _check_device(base, changed, X, y, out):
    assert next(changed.module_.parameters()).device.type == "cpu"
    assert next(base.module_.parameters()).device.type == "cuda"


def _check_verbose(base, changed, X, y, out):
    assert out["base"] == "" and "train_loss" in out["changed"]


def _check_classes(base, changed, X, y, out):
    assert changed.classes_.tolist() == [0, 1, 2, 3]
    assert changed.predict_proba(X).shape == (N, 4)


def _check_warm_start(base, changed, X, y, out):
    assert len(base.history) == 2 and len(changed.history) == 4


def _check_n_batches(base, changed, X, y, out):
    assert changed.history[:, "train_batch_count"] == [2, 2]


def _check_mfw_beta(base, changed, X, y, out):
    assert base.beta_ == 2.0 and changed.beta_ == 0.01
    assert_outcome_differs(base, changed, X)


def _check_n_centers(base, changed, X, y, out):
    assert base.rsg_.centers.shape[1] == 15 and changed.rsg_.centers.shape[1] == 2


def _generated(net):
    return [list(e) for e in net.history[:, "batches", :, "rsg_generated"]]


def _check_frequent_ratio(base, changed, X, y, out):
    assert sum(map(sum, _generated(base))) > 0
    assert sum(map(sum, _generated(changed))) == 0  # every class frequent


def _expected_generated(labels, beta):
    """New samples of a batch: ``max(floor(beta * s_freq / s_rare), 1) *
    s_rare``, class 0 (the one frequent class) against classes 1 and 2."""
    s_freq = int((labels == 0).sum())
    s_rare = len(labels) - s_freq
    if not s_freq or not s_rare:
        return 0
    return max(math.floor(beta * s_freq / s_rare), 1) * s_rare


def _check_transfer(base, changed, X, y, out):
    for net, beta in ((base, 1.0), (changed, 0.01)):
        probe = next(cb for _, cb in net.callbacks_ if isinstance(cb, Probe))
        got = [n for epoch in _generated(net) for n in epoch]
        assert got == [_expected_generated(b, beta) for b in probe.labels]


def _check_first_batch_ratio(key):
    def check(base, changed, X, y, out):
        a = base.history[0, "batches", 0, key]
        b = changed.history[0, "batches", 0, key]
        assert a > 0 and b == pytest.approx(10 * a, rel=1e-4)

    return check


def _check_generate_from(base, changed, X, y, out):
    assert [sum(e) > 0 for e in _generated(base)] == [False, False, True]
    assert [sum(e) > 0 for e in _generated(changed)] == [True, True, True]


def _cases(cls):
    """Every parameter of ``cls``: its Case."""
    deferred = cls in (RemixClassifier, MFWClassifier, RSGClassifier)
    hooks = cls in (MFWClassifier, RSGClassifier)
    cases = {
        "max_epochs": Case({"max_epochs": 3}, check=_check_max_epochs),
        "batch_size": Case({"batch_size": 16}, check=_check_batch_size),
        "lr": Case({"lr": 1e-2}),
        "lr_schedule": Case(
            {"lr_schedule": "cosine"}, {"max_epochs": 3}, check=_check_lr_cosine
        ),
        "lr_warmup": Case(
            {"lr_warmup": 2},
            {"max_epochs": 3, "lr_schedule": "constant"},
            check=_check_warmup,
        ),
        "augment": Case({"augment": "crop_flip"}, data="images"),
        "standardize": Case({"standardize": True}, check=_check_standardize),
        "integer_inputs": Case(
            {"integer_inputs": "keep"},
            {"module": DtypeProbe}
            | ({"mix": "manifold"} if cls is RemixClassifier else {}),
            data="ints",
            expect="refusal" if cls in OWN_BATCHES else "effect",
            check=_check_int_dtype,
        ),
        "precise_bn": Case(
            {"precise_bn": False}, data="images", check=_check_precise_bn
        ),
        "data_placement": Case({"data_placement": "host"}, check=_check_placement),
        "rebalance": (
            Case(
                {"rebalance": None}, check=_rebalance_check([False, True], [False] * 2)
            )
            if deferred
            else Case(
                {"rebalance": "rw"}, check=_rebalance_check([False] * 2, [True] * 2)
            )
        ),
        "rebalance_start": Case(
            {"rebalance_start": 1},
            {"rebalance": "drw", "max_epochs": 3},
            check=_rebalance_check([False, False, True], [False, True, True]),
        ),
        "rebalance_beta": Case(
            {"rebalance_beta": 0.9}, {"rebalance": "rw"}, check=_check_beta
        ),
        "random_state": Case({"random_state": 1}),
        "loss": Case({"loss": "focal"}),
        "precision": Case({"precision": "bf16"}, check=_check_bf16),
        "channels_last": Case(
            {"channels_last": False}, data="images", check=_check_channels_last
        ),
        "ldam_max_m": Case({"ldam_max_m": 0.1}, {"loss": "ldam"}),
        "ldam_s": Case({"ldam_s": 10.0}, {"loss": "ldam"}),
        "la_tau": Case({"la_tau": 0.0}, {"loss": "logit_adjusted"}),
        "focal_gamma": Case({"focal_gamma": 0.0}, {"loss": "focal"}),
        "posthoc_tau": Case({"posthoc_tau": 1.0}, check=_check_posthoc),
        "tau_norm": Case({"tau_norm": 1.0}, check=_check_tau_norm),
        "module": Case({"module": Small}, check=_check_module),
        "criterion": Case(
            {"criterion": SmoothCE}, {"train_split": holdout}, check=_check_criterion
        ),
        "optimizer": Case({"optimizer": torch.optim.SGD}, check=_check_optimizer),
        "train_split": Case({"train_split": holdout}, check=_check_split),
        "iterator_train": Case(
            {"iterator_train": counting_loader()},
            expect="refusal" if cls in OWN_BATCHES else "effect",
            check=_check_loader("train"),
        ),
        "iterator_valid": Case(
            {"iterator_valid": counting_loader()},
            {"train_split": holdout},
            check=_check_loader("valid"),
        ),
        "callbacks": Case({"callbacks": "disable"}, check=_check_disabled, probe=False),
        "device": (
            Case({"device": "cpu"}, check=_check_device)
            if torch.cuda.is_available()
            else Case({"device": "cuda"}, expect="refusal")
        ),
        "verbose": Case({"verbose": 1}, check=_check_verbose),
        "classes": Case({"classes": [0, 1, 2, 3]}, check=_check_classes),
        "warm_start": Case({"warm_start": True}, twice=True, check=_check_warm_start),
        # Both act only on 2+ ranks (tests/test_data_parallel.py checks their
        # effect there); in one process without a process group, asking for
        # them is refused.
        "data_parallel": Case({"data_parallel": True}, expect="refusal"),
        "sync_batch_norm": Case({"sync_batch_norm": True}, expect="refusal"),
    }
    # mix_layer: where a method acts on a hidden layer, another layer; ERM
    # and ReMix act on none, so it can only be refused.
    if cls is RemixClassifier:
        cases["mix_layer"] = Case({"mix_layer": "blocks.0"}, {"mix": "manifold"})
    elif hooks:
        cases["mix_layer"] = Case({"mix_layer": "blocks.0"})
    else:
        cases["mix_layer"] = Case({"mix_layer": "blocks.0"}, expect="either")
    if cls is RemixClassifier:
        cases |= {
            "alpha": Case({"alpha": 2.0}),
            "kappa": Case({"kappa": 10.0}),
            "tau": Case({"tau": 0.0}),
            "mix": Case({"mix": "manifold"}),
        }
    if cls is ReMixClassifier:
        cases |= {
            "alpha": Case({"alpha": 1.0}),
            "balance": Case({"balance": "within_batch"}),
            "n_batches": Case({"n_batches": 2}, check=_check_n_batches),
        }
    if cls is MFWClassifier:
        cases |= {
            "alpha": Case({"alpha": 0.2}),
            "beta": Case({"beta": 0.01}, check=_check_mfw_beta),
        }
    if cls is MiSLASClassifier:
        # Two stages: mixup, then cRT ('crt', from the last of BASE's two
        # epochs) with label-aware smoothing. Every loss but 'ce', every
        # rebalance but 'crt' and the class weights' beta (its stage two
        # draws classes uniformly) are refused.
        cases |= {
            "alpha": Case({"alpha": 0.2}),
            "las_head": Case({"las_head": 0.05}),
            "las_tail": Case({"las_tail": 0.2}),
            "las_shape": Case({"las_shape": "linear"}),
            "las_power": Case(
                {"las_power": 3.0}, {"las_shape": "exp", "las_power": 1.0}
            ),
            "rebalance": Case({"rebalance": "drw"}, expect="refusal"),
            "rebalance_start": Case(
                {"rebalance_start": 1},
                {"max_epochs": 3},
                check=_rebalance_check([False, False, True], [False, True, True]),
            ),
            "rebalance_beta": Case({"rebalance_beta": 0.9}, expect="refusal"),
            "loss": Case({"loss": "focal"}, expect="refusal"),
            # (the loss in the change: a base fit with it would be refused)
            "ldam_max_m": Case({"ldam_max_m": 0.1, "loss": "ldam"}, expect="refusal"),
            "ldam_s": Case({"ldam_s": 10.0, "loss": "ldam"}, expect="refusal"),
            "la_tau": Case({"la_tau": 0.0, "loss": "logit_adjusted"}, expect="refusal"),
            "focal_gamma": Case(
                {"focal_gamma": 0.0, "loss": "focal"}, expect="refusal"
            ),
        }
    if cls is RSGClassifier:
        gen = {"generate_from": 0}
        cases |= {
            "n_centers": Case({"n_centers": 2}, gen, check=_check_n_centers),
            "frequent_ratio": Case(
                {"frequent_ratio": 1.0}, gen, check=_check_frequent_ratio
            ),
            "transfer_strength": Case(
                {"transfer_strength": 0.01},
                gen | {"frequent_ratio": 0.2, "rebalance": None},
                check=_check_transfer,
            ),
            "lambda_cesc": Case(
                {"lambda_cesc": 1.0}, gen, check=_check_first_batch_ratio("rsg_cesc")
            ),
            "lambda_mv": Case(
                {"lambda_mv": 0.1}, gen, check=_check_first_batch_ratio("rsg_mv")
            ),
            "generate_from": Case(
                {"generate_from": 0}, {"max_epochs": 3}, check=_check_generate_from
            ),
        }
    return cases


def parameters(cls):
    """Every parameter of ``cls`` skremix answers for."""
    names = set(SKORCH_CHECKED)
    for klass in cls.__mro__:
        names |= set(getattr(klass, "_parameter_constraints", {}))
    for klass in (cls, cls.__mro__[1]):
        sig = inspect.signature(klass.__init__).parameters.values()
        names |= {p.name for p in sig if p.kind is p.KEYWORD_ONLY or p.name == "module"}
    return sorted(names)


OPTION_CASES = [
    pytest.param(cls, name, case, id=f"{_name(cls)}-{name}")
    for cls in CLASSES
    for name, case in sorted(_cases(cls).items())
]


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_every_parameter_has_a_case(cls):
    missing = sorted(set(parameters(cls)) - set(_cases(cls)))
    assert not missing, f"parameters without an effect-or-refusal test: {missing}"


@pytest.mark.parametrize("cls, param, case", OPTION_CASES)
def test_option_has_an_effect_or_a_refusal(cls, param, case, data, capsys):
    X, y = data[case.data]
    setting = {**BASE, **case.setting}
    probes = [Probe(), Probe()] if case.probe else [None, None]

    def make(extra, probe):
        kw = {**setting, **extra}
        if probe is not None:
            kw.setdefault("callbacks", [probe])
        return cls(**kw)

    base = make({}, probes[0])
    base.fit(X, y)
    if case.twice:
        base.fit(X, y)
    out = {"base": capsys.readouterr().out}
    changed = make(case.change, probes[1])
    if case.expect == "refusal":
        assert_refused(changed, X, y, probes[1])
        return
    try:
        changed.fit(X, y)
        if case.twice:
            changed.fit(X, y)
    except (ValueError, TypeError):
        if case.expect == "either" and _epochs(changed) == 0:
            assert probes[1] is None or probes[1].batches == 0
            return
        raise
    out["changed"] = capsys.readouterr().out
    (case.check or (lambda b, c, X, y, o: assert_outcome_differs(b, c, X)))(
        base, changed, X, y, out
    )


# --------------------------------------------------------- iterator_train__


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_iterator_train_batch_size(cls, data):
    X, y = data["rows"]
    clf = cls(**BASE, iterator_train__batch_size=16).fit(X, y)
    expected = [16] * math.ceil(N / 16) if cls is ReMixClassifier else _chunks(N, 16)
    assert _batch_sizes(clf.history) == [expected] * 2


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_iterator_train_shuffle_false_keeps_data_order(cls, data):
    X, y = data["rows"]
    probe = Probe()
    clf = cls(**BASE, rebalance=None, iterator_train__shuffle=False, callbacks=[probe])
    if cls in OWN_BATCHES:  # class-balanced draws; MiSLAS refuses None
        assert_refused(clf, X, y, probe)
        return
    clf.fit(X, y)
    per_epoch = len(probe.labels) // 2
    for epoch in range(2):
        batches = probe.labels[epoch * per_epoch : (epoch + 1) * per_epoch]
        np.testing.assert_array_equal(np.concatenate(batches), y)


@pytest.mark.parametrize("cls", PLAIN_BATCHES, ids=_name)
def test_iterator_train_drop_last(cls, data):
    X, y = data["rows"]
    clf = cls(**BASE, rebalance=None, iterator_train__drop_last=True).fit(X, y)
    assert _batch_sizes(clf.history) == [[32] * (N // 32)] * 2


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_iterator_train_sampler_shapes_the_batches(cls, data):
    X, y = data["rows"]
    per_class = np.array([1.0, 2.0, 8.0])  # favours the rare class
    w = per_class[y]
    sampler = WeightedRandomSampler(
        torch.as_tensor(w), N, generator=torch.Generator().manual_seed(0)
    )
    probe = Probe()
    clf = cls(
        **{**BASE, "max_epochs": 3},
        rebalance=None,
        iterator_train__sampler=sampler,
        callbacks=[probe],
    )
    if cls in OWN_BATCHES:  # class-balanced batches of its own; MiSLAS: None
        assert_refused(clf, X, y, probe)
        return
    clf.fit(X, y)
    drawn = np.concatenate(probe.labels)
    assert len(drawn) == 3 * N
    expected = np.bincount(y) * per_class / w.sum()  # 0.34, 0.24, 0.41
    shares = np.bincount(drawn, minlength=3) / len(drawn)
    np.testing.assert_allclose(shares, expected, atol=0.07)


@pytest.mark.parametrize("rebalance", ["rs", "drs", "crt"])
def test_iterator_train_sampler_refused_with_resampling(rebalance, data):
    X, y = data["rows"]
    probe = Probe()
    sampler = WeightedRandomSampler(torch.ones(N), N)
    clf = ERMClassifier(
        **BASE, rebalance=rebalance, iterator_train__sampler=sampler, callbacks=[probe]
    )
    assert_refused(clf, X, y, probe)


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_iterator_train_batch_sampler_refused(cls, data):
    X, y = data["rows"]
    probe = Probe()
    batches = BatchSampler(SequentialSampler(range(N)), 32, drop_last=False)
    clf = cls(**BASE, iterator_train__batch_sampler=batches, callbacks=[probe])
    assert_refused(clf, X, y, probe)


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_iterator_train_collate_fn_is_called(cls, data):
    X, y = data["rows"]
    calls = []

    def collate(samples):
        calls.append(len(samples))
        return default_collate(samples)

    clf = cls(
        **BASE,
        iterator_train__num_workers=0,
        iterator_train__pin_memory=False,
        iterator_train__collate_fn=collate,
    ).fit(X, y)
    assert calls == [n for e in _batch_sizes(clf.history) for n in e]


# --------------------------------------------------------- iterator_valid__


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_iterator_valid_batch_size(cls, data):
    X, y = data["rows"]
    clf = cls(**BASE, train_split=holdout, iterator_valid__batch_size=8).fit(X, y)
    assert _batch_sizes(clf.history, "valid") == [_chunks(len(VALID_IDX), 8)] * 2


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_iterator_valid_collate_fn_is_called(cls, data):
    X, y = data["rows"]
    calls = []

    def collate(samples):
        calls.append(len(samples))
        return default_collate(samples)

    clf = cls(**BASE, train_split=holdout, iterator_valid__collate_fn=collate)
    clf.fit(X, y)
    assert calls == [n for e in _batch_sizes(clf.history, "valid") for n in e]


def test_iterator_valid_drop_last(data):
    X, y = data["rows"]
    clf = ERMClassifier(
        **BASE,
        train_split=holdout,
        iterator_valid__batch_size=8,
        iterator_valid__drop_last=True,
    ).fit(X, y)
    assert _batch_sizes(clf.history, "valid") == [[8] * (len(VALID_IDX) // 8)] * 2


def test_valid_split_class_counts_are_the_training_part(data):
    X, y = data["rows"]
    clf = ERMClassifier(**BASE, train_split=ValidSplit(5)).fit(X, y)
    assert clf.class_counts_.sum() == sum(
        clf.history[-1, "batches", :, "train_batch_size"]
    )


# -------------------------------------------------------------- optimizer__


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_optimizer_weight_decay_changes_the_fit(cls, data):
    X, y = data["rows"]
    plain = cls(**BASE).fit(X, y)
    decayed = cls(**BASE, optimizer__weight_decay=0.5).fit(X, y)
    assert decayed.optimizer_.param_groups[0]["weight_decay"] == 0.5
    assert not np.array_equal(plain.predict_proba(X), decayed.predict_proba(X))


@pytest.mark.parametrize("cls", [ERMClassifier, RemixClassifier], ids=_name)
def test_optimizer_momentum_changes_the_fit(cls, data):
    X, y = data["rows"]
    kw = {**BASE, "optimizer": torch.optim.SGD, "lr": 0.05}
    plain = cls(**kw).fit(X, y)
    heavy = cls(**kw, optimizer__momentum=0.9).fit(X, y)
    assert heavy.optimizer_.param_groups[0]["momentum"] == 0.9
    assert not np.array_equal(plain.predict_proba(X), heavy.predict_proba(X))


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_optimizer_unknown_name_refused(cls, data):
    X, y = data["rows"]
    probe = Probe()
    clf = cls(**BASE, optimizer__no_such_option=1, callbacks=[probe])
    err = assert_refused(clf, X, y, probe)
    assert "no_such_option" in str(err)


# -------------------------------------------------------------- callbacks__


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_callbacks_print_log_sink_receives_the_log(cls, data):
    X, y = data["rows"]
    lines = []
    cls(**BASE, callbacks__print_log__sink=lines.append).fit(X, y)
    # The table's header and rule, then one row per epoch.
    assert "train_loss" in lines[0] and len(lines) == 4
    assert [line.split()[0] for line in lines[2:]] == ["1", "2"]


def test_callbacks_named_user_callback_parameter(data):
    X, y = data["rows"]
    probe = Probe()
    clf = ERMClassifier(
        **BASE, callbacks=[("probe", probe)], callbacks__probe__tag="seen"
    ).fit(X, y)
    assert dict(clf.callbacks_)["probe"].tag == "seen" and probe.batches > 0


# -------------------------------------------------------------- criterion__


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_criterion_params_change_the_validation_loss_only(cls, data):
    X, y = data["rows"]
    kw = {**BASE, "train_split": holdout}
    plain = cls(**kw).fit(X, y)
    smooth = cls(**kw, criterion__label_smoothing=0.1).fit(X, y)
    assert smooth.history[:, "train_loss"] == plain.history[:, "train_loss"]
    assert smooth.history[:, "valid_loss"] != plain.history[:, "valid_loss"]
    logits = _logits(smooth, X[VALID_IDX]).float()
    target = torch.as_tensor(y[VALID_IDX])
    expected = F.cross_entropy(logits, target, label_smoothing=0.1)
    assert smooth.history[-1, "valid_loss"] == pytest.approx(float(expected), 1e-5)


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_criterion_weight_refused(cls, data):
    X, y = data["rows"]
    probe = Probe()
    clf = cls(
        **BASE, criterion__weight=torch.tensor([1.0, 2.0, 5.0]), callbacks=[probe]
    )
    err = assert_refused(clf, X, y, probe)
    assert "rebalance='rw'" in str(err) or "sample_weight" in str(err)


# ----------------------------------------------------------------- module__


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_module_params_change_the_module(cls, data):
    X, y = data["rows"]
    clf = cls(**BASE, module__hidden_units=(8,)).fit(X, y)
    widths = [
        m.out_features for m in clf.module_.blocks.modules() if isinstance(m, nn.Linear)
    ]
    assert widths == [8] and clf.module_.head.in_features == 8


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_module_params_with_an_instance_refused(cls, data):
    X, y = data["rows"]
    probe = Probe()
    clf = cls(**BASE, module=Small(6, 3), module__width=4, callbacks=[probe])
    assert_refused(clf, X, y, probe, match="module")


# ---------------------- the method is the loop's, not a removable callback


CALLBACK_MODES = ["default", "custom", "disable"]


def _callbacks(mode):
    return {"default": {}, "custom": {"callbacks": [Probe()]}}.get(
        mode, {"callbacks": "disable"}
    )


REBALANCE_CASES = [
    pytest.param(cls, r, id=f"{_name(cls)}-{r}")
    for cls in CLASSES
    for r in ("rw", "rs", "drw", "drs", "crt")
    if not (cls is ReMixClassifier and r in ("rs", "drs"))
    and not (cls is MiSLASClassifier and r != "crt")
]


@pytest.mark.parametrize("cls, rebalance", REBALANCE_CASES)
def test_rebalance_is_applied_without_the_callbacks(cls, rebalance, data):
    X, y = data["rows"]
    kw = {**BASE, "max_epochs": 3, "rebalance": rebalance}
    fits = {m: cls(**kw, **_callbacks(m)).fit(X, y) for m in CALLBACK_MODES}
    expected = [True] * 3 if rebalance in ("rw", "rs") else [False, False, True]
    reference = fits["default"].predict_proba(X)
    for mode, clf in fits.items():
        assert clf.history[:, "rebalance"] == expected, mode
        np.testing.assert_array_equal(clf.predict_proba(X), reference, err_msg=mode)


@pytest.mark.parametrize("rebalance", ["drw", "drs", "crt"])
@pytest.mark.parametrize("start", [0.5, 0.26, 3], ids=lambda s: f"start{s}")
def test_deferred_start_epoch_without_the_callbacks(rebalance, start, data):
    X, y = data["rows"]
    clf = ERMClassifier(
        **{**BASE, "max_epochs": 4},
        rebalance=rebalance,
        rebalance_start=start,
        callbacks="disable",
    ).fit(X, y)
    first = start if isinstance(start, int) else int(start * 4)
    assert clf.history[:, "rebalance"] == [e >= first for e in range(4)]


SCHEDULES = {
    "step": ("step", 0),
    "cosine": ("cosine", 0),
    "milestones": (((1, 0.5), (0.75, 0.1)), 0),
    "cosine-warmup": ("cosine", 2),
    "constant-warmup": ("constant", 3),
}


@pytest.mark.parametrize("mode", CALLBACK_MODES)
@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
@pytest.mark.parametrize("cls", [ERMClassifier, MFWClassifier], ids=_name)
def test_lr_schedule_sets_the_rates_without_the_callbacks(cls, schedule, mode, data):
    X, y = data["rows"]
    kind, warmup = SCHEDULES[schedule]
    total, start = 5, 0.4  # the 'step' decay at epoch int(0.4 * 5) = 2
    clf = cls(
        **{**BASE, "max_epochs": total, "lr": 0.01},
        lr_schedule=kind,
        lr_warmup=warmup,
        rebalance_start=start,
        **_callbacks(mode),
    ).fit(X, y)
    expected = [
        0.01 * LRSchedule.factor(kind, e, total, decay_epoch=2, warmup=warmup)
        for e in range(total)
    ]
    np.testing.assert_allclose(clf.history[:, "lr"], expected, rtol=1e-12)
    if mode == "custom":
        np.testing.assert_allclose(clf.callbacks[0].lrs, expected, rtol=1e-12)


# ------------------------------------ lr_schedule beside skorch's LRScheduler


def _step_lr():
    return LRScheduler(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5)


@pytest.mark.parametrize(
    "kw",
    [
        {"lr_schedule": "step"},
        {"lr_schedule": "cosine"},
        {"lr_schedule": ((1, 0.5),)},
        {"lr_schedule": "constant", "lr_warmup": 1},
    ],
    ids=["step", "cosine", "milestones", "warmup"],
)
def test_lr_schedule_with_an_lr_scheduler_refused(kw, data):
    X, y = data["rows"]
    probe = Probe()
    clf = ERMClassifier(**BASE, **kw, callbacks=[_step_lr(), probe])
    err = str(assert_refused(clf, X, y, probe))
    assert "lr_schedule" in err and "LRScheduler" in err


def test_remix_default_step_schedule_with_an_lr_scheduler_refused(data):
    X, y = data["rows"]
    probe = Probe()
    clf = ReMixClassifier(**BASE, callbacks=[_step_lr(), probe])
    err = str(assert_refused(clf, X, y, probe))
    assert "lr_schedule" in err and "LRScheduler" in err


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_lr_scheduler_alone_drives_a_constant_schedule(cls, data):
    X, y = data["rows"]
    probe = Probe()
    clf = cls(
        **{**BASE, "max_epochs": 3, "lr": 0.01},
        lr_schedule="constant",
        callbacks=[_step_lr(), probe],
    ).fit(X, y)
    expected = [0.01, 0.005, 0.0025]
    np.testing.assert_allclose(clf.history[:, "event_lr"], expected, rtol=1e-12)
    np.testing.assert_allclose(probe.lrs, expected, rtol=1e-12)


# ------------------------------------ partial_fit: class counts accumulate


def _chunks_ab(y):
    a = np.arange(N) < 90  # every class
    b = ~a & (y != 2)  # no class 2
    return a, b


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_partial_fit_accumulates_class_counts(cls, data):
    X, y = data["rows"]
    a, b = _chunks_ab(y)
    clf = cls(**BASE)
    clf.partial_fit(X[a], y[a], classes=[0, 1, 2])
    assert clf.class_counts_.tolist() == np.bincount(y[a], minlength=3).tolist()
    clf.partial_fit(X[b], y[b])
    both = np.bincount(y[a], minlength=3) + np.bincount(y[b], minlength=3)
    assert clf.class_counts_.tolist() == both.tolist()
    clf.fit(X[b], y[b])  # a fit starts anew (and learns the classes anew)
    assert clf.class_counts_.tolist() == np.bincount(y[b]).tolist()


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_posthoc_priors_come_from_every_partial_fit_chunk(cls, data):
    X, y = data["rows"]
    a, b = _chunks_ab(y)
    clf = cls(**BASE, posthoc_tau=1.0)
    clf.partial_fit(X[a], y[a])
    clf.partial_fit(X[b], y[b])
    counts = np.bincount(y[a], minlength=3) + np.bincount(y[b], minlength=3)
    shift = torch.log(torch.as_tensor(counts / counts.sum()))
    expected = torch.softmax(_logits(clf, X) - shift, dim=1).numpy()
    np.testing.assert_allclose(clf.predict_proba(X), expected, atol=1e-6)
