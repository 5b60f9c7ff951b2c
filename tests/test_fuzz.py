"""Fuzzed inputs and parameters of every public classifier (hypothesis).

Each drawn case is a classifier, its parameters (skremix's and the skorch
ones it calls: at, inside and past their bounds), ``X`` and ``y`` (random
shapes, dtypes, containers, NaN / infinity placement, label types, sample
and class counts, ``classes`` given or not), then data to predict on and,
sometimes, a further ``partial_fit`` or ``fit``. Every call either

* works: ``fit`` trains (one or two epochs of tiny data) and
  ``predict_proba`` gives finite probabilities of shape ``(n, n_classes)``
  whose rows sum to one, ``predict`` labels from ``classes_``; or
* raises ``ValueError`` or ``TypeError`` whose message names the offending
  parameter or input, before a single training batch ran.

No other exception and no hang (an alarm fails an example after
``SKREMIX_FUZZ_TIMEOUT`` seconds, 60 by default). A case whose parts are all
valid must work; valid edge cases (a class with one sample, classes absent
from ``y``, odd or oversized batches, epoch thresholds beyond
``max_epochs``) are drawn on purpose. The one other outcome allowed is
``FloatingPointError`` naming ``lr`` for a huge learning rate, whose
divergence cannot be known before training.

CI runs a fixed, derandomized budget: 1000 cases, then every fault forced
into 5 cases (20 s of CPU; 20-55 s on 2 shared cores). Longer runs by hand::

    SKREMIX_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py   # 65 s of CPU
    SKREMIX_FUZZ_SEED=1 SKREMIX_FUZZ_EXAMPLES=3000 pytest tests/test_fuzz.py

``SKREMIX_FUZZ_EXAMPLES`` sets the number of cases (and 1/200 of it per
forced fault); ``SKREMIX_FUZZ_SEED`` draws other cases, at random from that
seed instead of the derandomized sequence. A failing case is printed as a
``Case``: the classifier, its parameters, the arrays and the container names
that :func:`wrap` turns into what was passed.

"""

import os
import re
import signal
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import torch
from skorch.callbacks import Callback
from skorch.dataset import ValidSplit
from torch.utils.data import DataLoader

from skremix import (
    ERMClassifier,
    MFWClassifier,
    ReMixClassifier,
    RemixClassifier,
    RSGClassifier,
)

# The `test` extra has hypothesis; an environment without it (the
# minimum-dependencies job) skips this module.
pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

N_EXAMPLES = int(os.environ.get("SKREMIX_FUZZ_EXAMPLES", "1000"))
N_PER_FAULT = max(N_EXAMPLES // 200, 3)
SEED = os.environ.get("SKREMIX_FUZZ_SEED")
TIMEOUT_S = float(os.environ.get("SKREMIX_FUZZ_TIMEOUT", "60"))

CUDA = torch.cuda.is_available()


# ------------------------------------------------------------ test helpers
class TinyNet(torch.nn.Module):
    """A user module whose sizes skremix fills in."""

    default_mix_layer = "hidden"
    extra_outputs = 0

    def __init__(self, input_shape, n_classes):
        super().__init__()
        self.hidden = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(int(np.prod(input_shape)), 8)
        )
        self.head = torch.nn.Linear(8, n_classes + self.extra_outputs)

    def forward(self, X):
        return self.head(torch.relu(self.hidden(X)))


class WideNet(TinyNet):
    """A user module with two outputs more than there are classes."""

    extra_outputs = 2


def _identity(X):
    return X


def _jitter(X):
    return X + 0.01 * torch.randn_like(X)


def wrap(container, a):
    """The array ``a`` in one of the containers users pass."""
    if container == "array":
        return a
    if container == "fortran":
        return np.asfortranarray(a)
    if container == "strided":  # a non-contiguous view of a larger array
        wide = np.repeat(a, 2, axis=-1)
        return wide[..., ::2]
    if container == "readonly":
        a = a.copy()
        a.flags.writeable = False
        return a
    if container == "list":
        return a.tolist()
    if container == "torch":
        return torch.from_numpy(np.ascontiguousarray(a))
    if container == "torch_bf16":
        return torch.from_numpy(np.ascontiguousarray(a)).to(torch.bfloat16)
    if container == "torch_grad":
        return torch.from_numpy(np.ascontiguousarray(a)).requires_grad_(True)
    if container == "pandas":
        return pd.DataFrame(a) if a.ndim == 2 else pd.Series(a)
    if container == "scipy_sparse":  # no float16 in scipy.sparse
        return scipy.sparse.csr_matrix(a.astype(np.result_type(a, np.float32)))
    if container == "torch_sparse":
        return torch.from_numpy(np.ascontiguousarray(a)).to_sparse()
    raise AssertionError(container)


@dataclass
class Case:
    """One fuzzed case. ``faults`` maps each invalid part of the fit call to
    a regular expression its error message may match; ``may_refuse`` the
    same for valid parts that may still be refused (a validation split of
    tiny data); ``pred_faults`` for the prediction call, ``refit_faults``
    for the further ``partial_fit`` (or, with ``refit_with='fit'``, fit)."""

    cls: type
    params: dict
    X: np.ndarray
    X_container: str
    y: object
    y_container: str
    first_classes: list | None = None  # partial_fit(X, y, classes) first
    faults: dict = field(default_factory=dict)
    may_refuse: dict = field(default_factory=dict)
    may_diverge: bool = False
    X_pred: np.ndarray | None = None
    X_pred_container: str = "array"
    pred_faults: dict = field(default_factory=dict)
    y_refit: np.ndarray | None = None
    refit_with: str = "partial_fit"
    refit_faults: dict = field(default_factory=dict)


# --------------------------------------------------------------- parameters
NAN = float("nan")

# name: (valid values, invalid values). The invalid ones must be refused
# with a message naming the parameter.
BASE_PARAMS = {
    "lr": ([1e-3, 0.1, 1.0, np.float32(0.01), 1e-12], [0, 0.0, -1.0, NAN, "0.1"]),
    "max_epochs": ([1, 2, np.int64(1)], [0, -1, 1.5, "1", None]),
    "batch_size": ([-1, 1, 2, 3, 7, 10**6, np.int64(4)], [0, -2, 2.5, None]),
    "rebalance": ([None, "rw", "rs", "drw", "drs"], ["balanced", "DRW", 1]),
    "rebalance_start": (
        [0, 0.0, 0.5, 0.999, 1, 2, 100],
        [1.0, -1, -0.1, 1.5, NAN, "0.5"],
    ),
    "rebalance_beta": ([0.0, 0.5, 0.9999, 0.999999], [1.0, -0.1, NAN]),
    "loss": (["ce", "ldam", "logit_adjusted", "focal"], ["hinge", None]),
    "ldam_max_m": ([0.5, 1e-6, 10.0], [0, -0.5]),
    "ldam_s": ([1.0, 30.0, 100.0], [0, -1.0]),
    "la_tau": ([0.0, 1.0, 2.0], [-1.0, NAN, "1"]),
    "focal_gamma": ([0.0, 0.5, 2.0], [-1.0, NAN]),
    # posthoc_tau with loss='logit_adjusted' is refused: tests/test_baselines.py.
    "posthoc_tau": ([None], [-1.0, NAN, "1"]),
    # tau_norm with loss='ldam' is refused: tests/test_tau_norm.py.
    "tau_norm": ([None], [-1.0, NAN, "1"]),
    "precision": (["fp32", "bf16"], ["fp16"]),
    "channels_last": (["auto", False, True], ["yes", "on"]),
    "lr_schedule": (
        ["constant", "step", "cosine", [(0.5, 0.1)], [(1, 0.1)], ((0, 2.0), (3, 0.5))],
        [
            "linear",
            [],
            [(0.5, 0)],
            [(2, 0.1), (1, 0.1)],
            [(1.0, 0.1)],
            [(0.5,)],
            [(-1, 0.1)],
        ],
    ),
    "lr_warmup": ([0, 1, 5], [-1, 0.5]),
    "augment": ([None, _identity, _jitter], ["flip", 1]),
    "standardize": ([False, True], ["yes", None]),
    # 'keep' needs an embedding module: tests/test_integer_inputs.py.
    "integer_inputs": (["float"], ["index", None]),
    "data_placement": (["auto", "device", "host"], ["gpu", None]),
    "random_state": ([0, None, 123, np.random.RandomState(0)], ["seed", -1]),
    "device": (
        ["cpu", "auto", torch.device("cpu")] + (["cuda"] if CUDA else []),
        ["tpu", None] + ([] if CUDA else ["cuda"]),
    ),
    # skorch's parameters; a module with one output too many per class is
    # refused after it is built, before training.
    "module": ([None, TinyNet], ["mlp", 3, WideNet]),
    "criterion": (
        [torch.nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss()],
        ["ce"],
    ),
    "optimizer": ([torch.optim.AdamW, torch.optim.SGD], ["adam", None]),
    "iterator_train": ([DataLoader], [None, "loader"]),
    "train_split": ([None], [0.2, "yes"]),
    "warm_start": ([False, True], []),
}

ALPHA = ([0.4, 1e-3, 1e3], [0, -1.0, NAN, "x"])
CLASS_PARAMS = {
    ERMClassifier: {},
    RemixClassifier: {
        "alpha": ALPHA,
        "kappa": ([1, 1.0, 3.0, 1e6], [0.5, 0, -1.0]),
        "tau": ([0.0, 0.5, 1.0, 1], [-0.1, 1.1, 2]),
        "mix": (["input", "manifold"], ["mixup", None]),
    },
    ReMixClassifier: {
        "alpha": ALPHA,
        "balance": (["global", "within_batch"], ["local"]),
        "n_batches": ([None, 1, 3], [0, -1, 1.5]),
    },
    MFWClassifier: {
        "alpha": ALPHA,
        "beta": ([2.0, 0.01, "auto", 1e3], [0, -1.0, "x"]),
    },
    RSGClassifier: {
        "n_centers": ([1, 2, 15, 64], [0, -1, 1.5]),
        "frequent_ratio": (["auto", 0.5, 1.0, 1e-6], [0, 1.5, -0.1]),
        "transfer_strength": (["auto", 0.5, 1.0, 1e-6], [0, 1.5, -0.1]),
        "lambda_cesc": ([0, 0.1, 1e3], [-1.0]),
        "lambda_mv": ([0, 0.01, 1e3], [-1.0]),
        "generate_from": ([0, 0.5, 0.999, 1, 2, 100], [1.0, -1, 1.5]),
    },
}

# Layers of the default modules (MLP for rows, ConvNet for small images).
LAYERS = {"rows": ["blocks.0", "blocks.1", "head"], "images": ["block1", "block2"]}
ALL_CLASSES = list(CLASS_PARAMS)
# The classes that act at mix_layer (Remix only with mix='manifold').
USES_MIX_LAYER = (MFWClassifier, RSGClassifier)


def _word(name):
    return rf"\b{re.escape(name)}\b"


# --------------------------------------------------------------- strategies
DATA_FAULTS = {
    # fault: regular expression of the expected message
    "x_1d": r"Reshape your data|1D",
    "x_5d": r"dims|dimension",
    "x_no_features": r"0 feature",
    "x_zero_side": r"shape|dimension|feature",
    "x_empty": r"0 sample|Reshape your data",  # as a list, [] is 1-D
    "x_nan": r"NaN",
    "x_inf": r"infinity",
    "x_overflow": r"infinity",
    "x_strings": r"convert|string|dtype",
    "x_complex": r"[Cc]omplex",
    "x_ragged": r"inhomogeneous|sequence|shape",
    "x_sparse": r"Sparse data",
    "x_one_sample": r"one class",
    "y_one_class": r"one class",
    "y_continuous": r"label type",
    "y_mixed": r"label type",
    "y_nan": r"NaN",
    "y_bytes": r"bytes",
    "y_length": r"inconsistent numbers of samples",
    "y_multioutput": r"[Mm]ultilabel|multioutput",
    "y_none": r"requires y",
    "classes_missing": r"not seen in classes_",
    "classes_one": r"one class",
    "classes_duplicate": r"duplicate",
    "classes_other_type": r"not seen in classes_",
}
# Faults of parameter combinations, each for the classes it applies to.
SETTING_FAULTS = {
    "crop_flip_rows": ALL_CLASSES,
    "cutmix_rows": [RemixClassifier],
    "remix_resampling": [ReMixClassifier],
    # An unknown mix_layer, refused once the module is built.
    "bad_layer": [RSGClassifier, MFWClassifier, RemixClassifier],
}
ALL_FAULTS = sorted(
    {*DATA_FAULTS, *SETTING_FAULTS}
    | {
        f"param:{name}"
        for own in [BASE_PARAMS, *CLASS_PARAMS.values()]
        for name, (_, invalid) in own.items()
        if invalid
    }
)
STRING_LABELS = np.array(["cat", "dog", "", "Émile", "a b", "z"])


@st.composite
def cases(draw, fault=None):
    """A case with up to two faults, or with exactly ``fault``."""
    owners = [
        cls
        for cls, own in CLASS_PARAMS.items()
        if fault and fault.startswith("param:") and fault[6:] in own
    ]
    cls = draw(st.sampled_from(SETTING_FAULTS.get(fault) or owners or ALL_CLASSES))
    if fault is None:
        n_faults = draw(st.sampled_from([0, 0, 0, 1, 1, 2]))
        own = {**BASE_PARAMS, **CLASS_PARAMS[cls]}
        fault_pool = list(DATA_FAULTS)
        fault_pool += [f"param:{p}" for p, (_, invalid) in own.items() if invalid]
        fault_pool += list(SETTING_FAULTS)
        chosen = draw(
            st.lists(
                st.sampled_from(fault_pool),
                min_size=n_faults,
                max_size=n_faults,
                unique=True,
            )
        )
    else:
        chosen = [fault]
    faults = {}
    rng_seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(rng_seed)

    # ---------------------------------------------------------------- data
    layouts = ["rows", "rows", "images3", "images4"]
    if fault in ("crop_flip_rows", "cutmix_rows", "x_ragged"):
        layouts = ["rows"]
    layout = draw(st.sampled_from(layouts))
    k = draw(st.integers(2, 4))
    counts = draw(st.lists(st.integers(1, 8), min_size=k, max_size=k))
    codes = rng.permutation(np.repeat(np.arange(k), counts))
    if "x_empty" in chosen:
        codes = codes[:0]
    elif "x_one_sample" in chosen:
        codes = codes[:1]
    elif "y_one_class" in chosen:
        codes = np.zeros_like(codes)
    n = len(codes)
    if layout == "rows":
        shape = (n, draw(st.integers(1, 5)))
    else:
        h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
        shape = (n, h, w)
        if layout == "images4":
            shape = (n, draw(st.integers(1, 3)), h, w)
    if "x_no_features" in chosen:
        shape = (n, 0)
        layout = "rows"
    elif "x_zero_side" in chosen:
        shape = (n, 2, 0)
        layout = "images3"
    elif "x_1d" in chosen:
        shape = (n,)
        layout = "rows"
    elif "x_5d" in chosen:
        shape = (n, 1, 2, 2, 2)
        layout = "images4"
    images = layout.startswith("images") and len(shape) in (3, 4)

    dtypes = ["float16", "float32", "float64", "int8", "int32", "int64", "bool"]
    if fault != "x_sparse":  # sparse containers hold numbers only
        dtypes += ["uint8", "object"]
    dtype = draw(st.sampled_from(dtypes))
    scale = draw(st.sampled_from(["normal", "normal", "constant", "large", "tiny"]))
    values = {
        "normal": rng.normal(size=shape),
        "constant": np.zeros(shape),
        "large": np.clip(1e4 * rng.normal(size=shape), -6e4, 6e4),  # float16
        "tiny": 1e-30 * rng.normal(size=shape),
    }[scale]
    if dtype == "uint8":
        values = rng.integers(0, 256, size=shape)
    elif dtype.startswith("int"):
        values = np.clip(np.round(values), -100, 100)
    elif dtype == "bool":
        values = values > 0
    X = values.astype(dtype)
    size = X.size
    for bad_value in ("x_nan", "x_inf", "x_overflow"):
        if bad_value in chosen and size:
            if dtype not in ("float16", "float32", "float64", "object"):
                X = X.astype("float64")
            at = draw(st.integers(0, size - 1))
            bad = {"x_nan": NAN, "x_inf": draw(st.sampled_from([np.inf, -np.inf]))}
            bad["x_overflow"] = 1e39
            if bad_value == "x_overflow" and X.dtype != object:
                X = X.astype("float64")
            X.flat[at] = bad[bad_value]
            faults[bad_value] = DATA_FAULTS[bad_value]
    if "x_strings" in chosen and size:
        X = X.astype(object)
        X.flat[draw(st.integers(0, size - 1))] = "a"
        faults["x_strings"] = DATA_FAULTS["x_strings"]
    elif "x_complex" in chosen and size:
        X = X.astype(np.complex128) + 1j
        faults["x_complex"] = DATA_FAULTS["x_complex"]
    containers = ["array", "fortran", "strided", "readonly", "list", "torch"]
    containers += ["torch_grad", "torch_bf16", "pandas"]
    X_container = draw(st.sampled_from(containers))
    if X_container.startswith("torch") and (X.dtype == object or X.dtype.kind == "c"):
        X_container = "array"
    if X_container == "pandas" and X.ndim != 2:
        X_container = "array"
    if X_container in ("torch_bf16", "torch_grad") and X.dtype.kind != "f":
        X_container = "torch"
    if "x_sparse" in chosen and X.dtype.kind in "biuf":
        X_container = "scipy_sparse" if X.ndim == 2 else "torch_sparse"
        faults["x_sparse"] = DATA_FAULTS["x_sparse"]
    if "x_ragged" in chosen and n >= 2 and X.ndim == 2 and X.shape[1] >= 1:
        X_container = "ragged"
        faults["x_ragged"] = DATA_FAULTS["x_ragged"]
    for name in ("x_1d", "x_5d", "x_no_features", "x_zero_side", "x_empty"):
        if name in chosen:
            faults[name] = DATA_FAULTS[name]
    if "x_one_sample" in chosen:
        faults["x_one_sample"] = DATA_FAULTS["x_one_sample"]

    # -------------------------------------------------------------- labels
    kind = draw(
        st.sampled_from(["int", "int8", "uint8", "str", "object", "float", "bool"])
    )
    if kind == "bool" and k > 2:
        kind = "int"
    offset = draw(st.sampled_from([0, 1, -3]))
    labels_of = {
        "int": lambda c: c.astype(np.int64) * 7 + offset,
        "int8": lambda c: (c + offset).astype(np.int8),
        "uint8": lambda c: (c * 100).astype(np.uint8),
        "str": lambda c: STRING_LABELS[c],
        "object": lambda c: STRING_LABELS[c].astype(object),
        "float": lambda c: c.astype(np.float64) + offset,
        "bool": lambda c: c.astype(bool),
    }[kind]
    y = labels_of(codes)
    all_labels = labels_of(np.arange(k))
    if "y_one_class" in chosen:
        faults["y_one_class"] = DATA_FAULTS["y_one_class"]
    if "y_continuous" in chosen and n:
        y = codes + 0.25
        faults["y_continuous"] = DATA_FAULTS["y_continuous"]
    if "y_mixed" in chosen and n >= 2:
        y = np.array([c if c % 2 else f"s{c}" for c in codes], dtype=object)
        y[0], y[1] = 0, "s"  # both types present
        faults["y_mixed"] = DATA_FAULTS["y_mixed"]
    if "y_nan" in chosen and n:
        y = codes.astype(np.float64)
        y[draw(st.integers(0, n - 1))] = NAN
        faults["y_nan"] = DATA_FAULTS["y_nan"]
    if "y_bytes" in chosen and n:
        y = np.char.encode(STRING_LABELS[codes], "utf-8")
        faults["y_bytes"] = DATA_FAULTS["y_bytes"]
    if "y_length" in chosen:
        y = y[:-1] if n else y[:0]
        faults["y_length"] = DATA_FAULTS["y_length"]
        if n == 0:  # X and y both empty: only the emptiness is wrong
            del faults["y_length"]
    if "y_multioutput" in chosen and n:
        y = np.stack([codes, codes[::-1]], axis=1)
        faults["y_multioutput"] = DATA_FAULTS["y_multioutput"]
    y_container = draw(st.sampled_from(["array", "list", "torch", "pandas", "column"]))
    if "y_mixed" in faults and y_container == "list":
        y_container = "array"  # a list of 0 and "s" becomes strings
    if y_container == "torch" and (np.asarray(y).dtype.kind not in "biuf"):
        y_container = "array"
    if y_container in ("pandas", "column") and np.ndim(y) != 1:
        y_container = "array"
    if "y_none" in chosen:
        y = None
        faults["y_none"] = DATA_FAULTS["y_none"]

    # ---------------------------------------------------------- parameters
    params = {"max_epochs": draw(st.sampled_from([1, 2]))}
    if draw(st.booleans()):
        params["random_state"] = 0
    for name, (valid, invalid) in {**BASE_PARAMS, **CLASS_PARAMS[cls]}.items():
        if f"param:{name}" in chosen:
            params[name] = draw(st.sampled_from(invalid))
            faults[f"param:{name}"] = _word(name)
        elif draw(st.integers(0, 3)) == 3:
            params[name] = draw(st.sampled_from(valid))
    tiny_images = images and shape[-2] <= 2 and shape[-1] <= 2
    may_refuse = {}
    rebalance = params.get("rebalance", cls().rebalance)
    if params.get("rebalance_beta", 0.9999) != 0.9999 and rebalance not in (
        "rw",
        "rs",
        "drw",
        "drs",
    ):
        # The effective-number weights of a rebalance that reads none.
        may_refuse["unused_beta"] = r"rebalance_beta"
    if tiny_images:
        # ConvNet's BatchNorm cannot train on a one-sample batch of 1x1 / 2x2
        # images: such a fit is refused before its first step, naming
        # batch_size.
        may_refuse["batch_of_one"] = r"batch_size"
    if "param:train_split" not in chosen and draw(st.integers(0, 4)) == 4:
        # A validation split of tiny data may leave too few samples or
        # members of a class: sklearn's splitters say so.
        params["train_split"] = draw(
            st.sampled_from(
                [
                    ValidSplit(2, stratified=False),
                    ValidSplit(0.25, stratified=False),
                    ValidSplit(0.5, stratified=True),
                    ValidSplit(3, stratified=True),
                ]
            )
        )
        may_refuse["train_split"] = r"train set|members|class|split"
    may_diverge = False
    if params.get("lr") == 1.0 or params.get("ldam_s", 0) >= 100:
        # lr 1.0 with AdamW, or scaled logits, may diverge on large inputs.
        may_diverge = scale == "large"
    if draw(st.integers(0, 9)) == 9 and "param:lr" not in chosen:
        params["lr"] = 1e6  # huge: divergence is only known in training
        may_diverge = True
    if images and draw(st.integers(0, 3)) == 3 and "param:augment" not in chosen:
        params["augment"] = "crop_flip"
    if "crop_flip_rows" in chosen and not images:
        params["augment"] = "crop_flip"
        faults["crop_flip_rows"] = _word("augment")
    if cls is RemixClassifier and images and "param:mix" not in chosen:
        if draw(st.integers(0, 2)) == 2:
            params["mix"] = "cutmix"
    if "cutmix_rows" in chosen and cls is RemixClassifier and not images:
        params["mix"] = "cutmix"
        faults["cutmix_rows"] = r"cutmix"
    if cls is ReMixClassifier and params.get("rebalance") in ("rs", "drs"):
        faults["remix_resampling"] = _word("rebalance")
    elif "remix_resampling" in chosen and cls is ReMixClassifier:
        params["rebalance"] = draw(st.sampled_from(["rs", "drs"]))
        faults["remix_resampling"] = _word("rebalance")
    uses_layer = issubclass(cls, USES_MIX_LAYER) or params.get("mix") == "manifold"
    if uses_layer and draw(st.integers(0, 2)) == 2 and "param:mix" not in chosen:
        layers = LAYERS["images" if images else "rows"]
        if params.get("module") in (TinyNet, WideNet):
            layers = ["hidden"]
        if cls is RemixClassifier and draw(st.booleans()):
            params["mix_layer"] = draw(
                st.lists(st.sampled_from(layers), min_size=1, max_size=3)
            )
        else:
            params["mix_layer"] = draw(st.sampled_from(layers))
    if "bad_layer" in chosen:
        if cls is RemixClassifier and "param:mix" not in chosen:
            params["mix"] = "manifold"  # where Remix uses the layer
            uses_layer = True
        # Unknown where the layer is used; refused as unused by the others.
        params["mix_layer"] = "no_such_layer"
        faults["bad_layer"] = _word("mix_layer")

    # Labels given through `classes`: a superset (a class without samples),
    # in another order; or one that lacks a label of y.
    first_classes = None
    if n and y is not None and np.ndim(y) == 1 and not faults:
        choice = draw(st.sampled_from([None, None, None, "extra", "shuffled"]))
        if "classes_missing" in chosen:
            choice = "missing"
        if "classes_one" in chosen:
            choice = "one"
        if "classes_duplicate" in chosen:
            choice = "duplicate"
        if "classes_other_type" in chosen:
            choice = "other_type"
        present = np.unique(np.asarray(y))
        if choice == "extra" and kind in ("int", "str", "object", "float"):
            spare = labels_of(np.arange(k, k + 2))
            params["classes"] = list(np.concatenate([all_labels, spare]))
        elif choice == "shuffled":
            params["classes"] = list(rng.permutation(all_labels))
        elif choice == "missing" and len(present) >= 2:
            params["classes"] = list(present[:-1])
            faults["classes_missing"] = DATA_FAULTS["classes_missing"]
            if len(present) == 2:  # what is left is one class
                faults["classes_missing"] += "|one class"
        elif choice == "one":
            params["classes"] = [present[0]]
            faults["classes_one"] = DATA_FAULTS["classes_one"]
        elif choice == "duplicate":
            params["classes"] = list(all_labels) + [all_labels[0]]
            faults["classes_duplicate"] = DATA_FAULTS["classes_duplicate"]
        elif choice == "other_type":  # strings for numbers and vice versa
            numeric = np.asarray(y).dtype.kind in "biuf"
            params["classes"] = list(STRING_LABELS[:k]) if numeric else list(range(k))
            faults["classes_other_type"] = DATA_FAULTS["classes_other_type"]
        if choice in ("extra", "shuffled") and "classes" in params:
            if draw(st.booleans()):  # as the first partial_fit's argument
                first_classes = params.pop("classes")

    case = Case(
        cls,
        params,
        X,
        X_container,
        y,
        y_container,
        first_classes=first_classes,
        faults=faults,
        may_refuse=may_refuse,
        may_diverge=may_diverge,
    )

    # ---------------------------------------------------------- prediction
    if not faults and n:
        variant = draw(
            st.sampled_from(
                ["same", "same", "first", "recast", "list", "torch"]
                + ["nan", "features", "empty", "1d"]
            )
        )
        X_pred, container = X, X_container
        if variant == "first":
            X_pred = X[:1]
        elif variant == "recast":
            X_pred = X.astype(np.float32 if X.dtype != np.float32 else np.float64)
        elif variant in ("list", "torch"):
            container = variant
        elif variant == "nan":
            X_pred = X.astype(np.float64)
            X_pred.flat[draw(st.integers(0, X.size - 1))] = NAN
            case.pred_faults["nan"] = r"NaN"
        elif variant == "features":
            extra = np.zeros((*X.shape[:-1], 1), dtype=X.dtype)
            X_pred = np.concatenate([X, extra], axis=-1)
            case.pred_faults["features"] = r"features|shape"
        elif variant == "empty":
            X_pred = X[:0]
            # A list of no rows is [], one-dimensional to sklearn.
            case.pred_faults["empty"] = r"0 sample|Reshape your data"
        elif variant == "1d":
            X_pred = X.reshape(-1)
            case.pred_faults["1d"] = r"Reshape your data|shape|dims|features"
        if X_container in ("pandas", "torch_bf16") and container == X_container:
            container = "array"
        if container == "torch" and X_pred.dtype == object:
            container = "array"
        case.X_pred, case.X_pred_container = X_pred, container
        # A further partial_fit: labels of classes_ (one class is fine
        # then), or a label never seen; or fit again (warm_start or not).
        refit = draw(st.sampled_from([None, None, "subset", "unseen", "fit"]))
        if refit == "unseen" and kind == "bool":
            refit = "subset"
        given = "classes" in params or first_classes is not None
        if refit and y_container != "column" and not given:
            y_refit = np.asarray(y).copy()
            if refit == "fit":
                case.refit_with = "fit"
            elif refit == "subset":
                y_refit[:] = y_refit[0]
            elif kind != "bool":  # a label of the same type, not in y
                y_refit[0] = labels_of(np.array([5]))[0]
                case.refit_faults["unseen"] = r"not seen in classes_"
            case.y_refit = y_refit
    return case


# ------------------------------------------------------------- the property
class Probe(Callback):
    """Counts training batches, so that a refusal can be shown to come
    before any training."""

    def __init__(self):
        self.batches = 0

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if training:
            self.batches += 1


class Hang(AssertionError):
    pass


@contextmanager
def time_limit(seconds):
    """Fail an example that runs longer than ``seconds`` (SIGALRM; none on
    platforms without it or off the main thread)."""
    if not hasattr(signal, "setitimer") or (
        threading.current_thread() is not threading.main_thread()
    ):
        yield
        return

    def _hang(signum, frame):
        raise Hang(f"the example ran longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, _hang)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _wrap_case(container, a):
    if container == "ragged":  # a list of rows, one row a value short
        rows = a.tolist()
        rows[-1] = rows[-1][:-1]
        return rows
    if container == "column":
        return np.asarray(a).reshape(-1, 1)
    return wrap(container, a)


def _check_refusal(exc, faults, probe, batches_before, call):
    """A ValueError / TypeError: expected, named, and before any training."""
    message = str(exc)
    assert faults, f"{call} refused a valid case: {type(exc).__name__}: {message}"

    assert any(re.search(p, message) for p in faults.values()), (
        f"{call}'s message names none of {sorted(faults)} "
        f"(expected one of {list(faults.values())}): {message}"
    )
    assert probe.batches == batches_before, (
        f"{call} raised {type(exc).__name__} after {probe.batches} training "
        f"batches: {message}"
    )


def _check_proba(est, X_pred):
    proba = est.predict_proba(X_pred)
    n = len(X_pred)
    assert proba.shape == (n, len(est.classes_))
    assert np.all(np.isfinite(proba))
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-6)
    pred = est.predict(X_pred)
    assert pred.shape == (n,)
    assert np.all(np.isin(pred, np.asarray(est.classes_)))


def _attempt(case, probe, call, fn, faults, may_refuse=None):
    """Run one call of the case: True when it worked; False when it was
    refused as it should be (or may be), or diverged where that is allowed."""
    before = probe.batches
    try:
        fn()
    except (ValueError, TypeError) as exc:
        _check_refusal(exc, {**faults, **(may_refuse or {})}, probe, before, call)
        event(f"{call}: refused")
        return False
    except FloatingPointError as exc:
        assert case.may_diverge and re.search(r"\blr\b", str(exc)), (
            f"{call} diverged: {exc}"
        )
        event(f"{call}: diverged (huge lr)")
        return False
    assert not faults, f"{call} accepted the faults {sorted(faults)}"
    event(f"{call}: worked")
    return True


def run_case(case):
    probe = Probe()
    est = case.cls(callbacks=[("fuzz_probe", probe)], **case.params)
    X = _wrap_case(case.X_container, case.X)
    y = None if case.y is None else _wrap_case(case.y_container, case.y)
    if case.first_classes is None:
        first = lambda: est.fit(X, y)  # noqa: E731
    else:
        first = lambda: est.partial_fit(X, y, classes=case.first_classes)  # noqa: E731
    if not _attempt(case, probe, "fit", first, case.faults, case.may_refuse):
        return
    assert probe.batches > 0
    X_pred = _wrap_case(case.X_pred_container, case.X_pred)
    if not _attempt(
        case, probe, "predict", lambda: _check_proba(est, X_pred), case.pred_faults
    ):
        return
    if case.y_refit is None:
        return
    refit = getattr(est, case.refit_with)
    if _attempt(
        case, probe, case.refit_with, lambda: refit(X, case.y_refit), case.refit_faults
    ):
        _attempt(case, probe, "predict after refit", lambda: _check_proba(est, X), {})


FUZZ_SETTINGS = settings(
    max_examples=N_EXAMPLES,
    derandomize=SEED is None,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)


@FUZZ_SETTINGS
@given(case=cases())
def test_fuzzed_fit_and_predict_work_or_fail_clearly_before_training(case):
    with time_limit(TIMEOUT_S), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_case(case)


if SEED is not None:
    test_fuzzed_fit_and_predict_work_or_fail_clearly_before_training = seed(int(SEED))(
        test_fuzzed_fit_and_predict_work_or_fail_clearly_before_training
    )


@pytest.mark.parametrize("fault", ALL_FAULTS)
def test_each_fault_is_refused_clearly_before_training(fault):
    """Every fault the strategy knows, forced into a few cases: a fault
    that random drawing happened to miss is still tested."""

    @settings(FUZZ_SETTINGS, max_examples=N_PER_FAULT)
    @given(case=cases(fault=fault))
    def check(case):
        assert fault in case.faults, "the strategy did not apply the fault"
        with time_limit(TIMEOUT_S), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run_case(case)

    check()
