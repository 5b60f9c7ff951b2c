"""The features' interactions as a matrix, not one by one.

Factors: the class (5) x ``rebalance`` (6) x ``loss`` (4) x the input (rows,
(n, 1, 8, 8) images, token ids for an EmbeddingBag module, a torch Dataset)
x the callbacks (default, a list of one's own, 'disable') x the mode (one
``fit``, or ``partial_fit`` twice): about 2,900 fits in full, too many for
2 cores. Tested are (a) the full product class x rebalance x loss on rows,
and (b) a pairwise covering array over all six factors, built here by a
small deterministic greedy algorithm (every pair of values of any two
factors is in at least one case; a test checks it).

Each case either trains as documented (``fit`` / ``partial_fit`` return the
estimator; probabilities finite, of shape (n, C), rows summing to 1;
``history[:, 'rebalance']`` on from the documented epoch of each call;
``class_counts_`` summed over ``partial_fit`` calls; for 'crt' the
parameters outside the head untouched during the re-training phase; for
'rs' and ReMix, batches richer in the rare class than the data) or is
refused with ValueError / TypeError before any training step, and the
refused cases are exactly those of the table ``REFUSALS``.
"""

from dataclasses import dataclass
from itertools import combinations, product

import numpy as np
import pytest
import torch
from _classifiers import all_classifiers
from skorch.callbacks import Callback
from torch import nn
from torch.utils.data import Dataset

from skremix import (
    MFWClassifier,
    MiSLASClassifier,
    ReMixClassifier,
    RemixClassifier,
    RSGClassifier,
)

CLASSES = all_classifiers()
REBALANCE = [None, "rw", "rs", "drw", "drs", "crt"]
LOSSES = ["ce", "ldam", "logit_adjusted", "focal"]
INPUTS = ["rows", "images", "tokens", "dataset"]
CALLBACKS = ["default", "custom", "disable"]
MODES = ["fit", "partial_fit"]

COUNTS = (80, 28, 12)
N = sum(COUNTS)
EPOCHS = 2
VOCAB = 40
# ``rebalance`` per epoch of one call: deferred modes switch on at
# int(rebalance_start * max_epochs) = int(0.8 * 2) = 1.
ON = {None: [False, False], "rw": [True, True], "rs": [True, True]}
ON |= dict.fromkeys(("drw", "drs", "crt"), [False, True])


@dataclass(frozen=True)
class Case:
    cls: type
    rebalance: str | None
    loss: str
    input: str
    callbacks: str
    mode: str

    def __str__(self):
        return "-".join(
            [
                self.cls.__name__.removesuffix("Classifier"),
                str(self.rebalance).lower(),
                self.loss,
                self.input,
                self.callbacks,
                self.mode,
            ]
        )


# The documented refusals: (why, which cases). A refusal of any other case
# fails, and so does a case of the table that trains.
REFUSALS = [
    (
        "ReMix draws class-balanced batches itself: rebalance='rs' / 'drs' "
        "would re-sample them twice",
        lambda c: c.cls is ReMixClassifier and c.rebalance in ("rs", "drs"),
    ),
    (
        "token ids (integer_inputs='keep') cannot be mixed at the input: "
        "ReMix, MiSLAS, and Remix with its default mix='input'",
        lambda c: (
            c.input == "tokens"
            and c.cls in (ReMixClassifier, RemixClassifier, MiSLASClassifier)
        ),
    ),
    (
        "MiSLAS is mixup then classifier re-training: rebalance other than "
        "'crt' is refused",
        lambda c: c.cls is MiSLASClassifier and c.rebalance != "crt",
    ),
    (
        "MiSLAS trains with mixup's and the label-aware smoothed "
        "cross-entropy: loss other than 'ce' is refused",
        lambda c: c.cls is MiSLASClassifier and c.loss != "ce",
    ),
]


def documented_refusals(case):
    return [why for why, applies in REFUSALS if applies(case)]


# ------------------------------------------------------ the covering array


def _gain(uncovered, row, f, v):
    """Uncovered pairs that value ``v`` of factor ``f`` covers with ``row``."""
    return sum(
        ((m, row[m], f, v) if m < f else (f, v, m, row[m])) in uncovered for m in row
    )


def pairwise(factors):
    """A covering array of strength 2 over ``factors`` (a list of value
    lists), greedily: while a pair of values is uncovered, start a row from
    the smallest such pair and give every other factor, in order, the value
    covering the most uncovered pairs with the values already chosen (ties:
    the first value). Deterministic."""
    k = len(factors)
    sizes = [len(f) for f in factors]
    uncovered = {
        (i, a, j, b)
        for i, j in combinations(range(k), 2)
        for a in range(sizes[i])
        for b in range(sizes[j])
    }
    rows = []
    while uncovered:
        i, a, j, b = min(uncovered)
        row = {i: a, j: b}
        for f in range(k):
            if f not in row:
                row[f] = max(
                    range(sizes[f]), key=lambda v: (_gain(uncovered, row, f, v), -v)
                )
        uncovered -= {(p, row[p], q, row[q]) for p, q in combinations(range(k), 2)}
        rows.append(tuple(factors[f][row[f]] for f in range(k)))
    return rows


FACTORS = [CLASSES, REBALANCE, LOSSES, INPUTS, CALLBACKS, MODES]
PAIRWISE = [Case(*row) for row in pairwise(FACTORS)]
PRODUCT = [
    Case(cls, rebalance, loss, "rows", "custom", "fit")
    for cls, rebalance, loss in product(CLASSES, REBALANCE, LOSSES)
]


def test_pairwise_cases_cover_every_pair():
    rows = [
        (c.cls, c.rebalance, c.loss, c.input, c.callbacks, c.mode) for c in PAIRWISE
    ]
    for i, j in combinations(range(len(FACTORS)), 2):
        for a, b in product(FACTORS[i], FACTORS[j]):
            assert any(r[i] == a and r[j] == b for r in rows), (i, a, j, b)
    # Far fewer than the product, no fewer than the largest pair of factors.
    assert 6 * 5 <= len(PAIRWISE) <= 60
    assert len(set(PAIRWISE)) == len(PAIRWISE)


def test_every_documented_refusal_is_exercised():
    cases = PAIRWISE + PRODUCT
    for why, applies in REFUSALS:
        assert any(applies(c) for c in cases), why


# -------------------------------------------------------------------- data


class TokenBag(nn.Module):
    """Mean of token embeddings, a hidden layer, a linear ``head``."""

    def __init__(self, n_classes, vocab=VOCAB, dim=16):
        super().__init__()
        self.embed = nn.EmbeddingBag(vocab, dim, mode="mean")
        self.hidden = nn.Sequential(nn.Linear(dim, dim), nn.ReLU())
        self.head = nn.Linear(dim, n_classes)

    def forward(self, x):
        return self.head(self.hidden(self.embed(x)))


class Rows(Dataset):
    """A map-style dataset of float rows (labels given to fit as y)."""

    def __init__(self, X):
        self.X = torch.as_tensor(X, dtype=torch.float32)

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i]


@pytest.fixture(scope="module")
def data():
    """120 samples of classes 0 / 1 / 2 (80 / 28 / 12), in a shuffled order,
    in each input form."""
    rng = np.random.default_rng(0)
    order = rng.permutation(N)
    y = np.repeat([0, 1, 2], COUNTS)[order]
    centers = rng.normal(scale=3.0, size=(3, 6))
    rows = centers[y] + rng.normal(size=(N, 6))
    from sklearn.datasets import load_digits

    digits = load_digits()
    picks = [np.flatnonzero(digits.target == c)[:n] for c, n in enumerate(COUNTS)]
    images = (np.concatenate([digits.images[p] for p in picks])[order] / 16.0)[:, None]
    tokens = rng.integers(0, 20, size=(N, 10)) + 10 * y[:, None]
    return {
        "rows": (rows, y),
        "images": (images.astype(np.float32), y),
        "tokens": (tokens.astype(np.int64), y),
        "dataset": (Rows(rows), y),
    }


# ------------------------------------------------------------------ a case


class Probe(Callback):
    """Counts training batches, records their labels, and for 'crt' checks,
    per call, that the re-training phase left every parameter outside the
    head as it was at its start (and trained the head)."""

    def __init__(self):
        self.batches = 0
        self.labels = []
        self.crt = []

    def on_train_begin(self, net, **kwargs):
        self._start = None

    def on_epoch_begin(self, net, **kwargs):
        if net.rebalance == "crt" and self._start is None:
            if net.history[-1].get("rebalance"):
                self._start = {
                    n: p.detach().clone() for n, p in net.module_.named_parameters()
                }

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.batches += 1
            self.labels.append(np.asarray(batch[1].cpu()))

    def on_train_end(self, net, **kwargs):
        if self._start is None:
            return
        now = dict(net.module_.named_parameters())
        body = [n for n in now if not n.startswith("head.")]
        head = [n for n in now if n.startswith("head.")]
        self.crt.append(
            (
                all(torch.equal(now[n], self._start[n]) for n in body),
                any(not torch.equal(now[n], self._start[n]) for n in head),
            )
        )


def _epochs(net):
    history = net.__dict__.get("history_")
    return 0 if history is None else len(history)


def build(case):
    kw = dict(
        max_epochs=EPOCHS,
        batch_size=32,
        random_state=0,
        rebalance=case.rebalance,
        loss=case.loss,
    )
    if case.input == "tokens":
        kw |= dict(module=TokenBag, integer_inputs="keep")
        if case.cls in (MFWClassifier, RSGClassifier):
            kw["mix_layer"] = "hidden"
    probe = Probe() if case.callbacks == "custom" else None
    if probe is not None:
        kw["callbacks"] = [probe]
    elif case.callbacks == "disable":
        kw["callbacks"] = "disable"
    return case.cls(**kw), probe


def run_case(case, data):
    X, y = data[case.input]
    clf, probe = build(case)
    refusals = documented_refusals(case)
    calls = 1 if case.mode == "fit" else 2
    train = clf.fit if case.mode == "fit" else clf.partial_fit
    try:
        assert train(X, y) is clf
    except (ValueError, TypeError) as exc:
        assert refusals, f"refused outside the table of documented refusals: {exc}"
        assert _epochs(clf) == 0, f"refused after training had begun: {exc}"
        assert probe is None or probe.batches == 0
        return
    assert not refusals, f"trained, but documented as refused: {refusals}"
    if calls == 2:
        assert train(X, y) is clf
    proba = clf.predict_proba(X)
    assert proba.shape == (N, 3) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert clf.history[:, "rebalance"] == ON[case.rebalance] * calls
    # partial_fit accumulates the class counts, as sklearn's estimators do.
    assert clf.class_counts_.tolist() == [calls * n for n in COUNTS]
    if probe is None:
        return
    if case.rebalance == "crt":
        assert probe.crt == [(True, True)] * calls, (
            "(features untouched in the cRT phase, head trained) per call"
        )
    if case.rebalance == "rs" or case.cls is ReMixClassifier:
        drawn = np.concatenate(probe.labels)
        # The rare class is 10% of the data; re-sampled, about a third.
        assert np.mean(drawn == 2) > 0.2


@pytest.mark.parametrize("case", PRODUCT, ids=str)
def test_product_on_rows(case, data):
    run_case(case, data)


@pytest.mark.parametrize("case", PAIRWISE, ids=str)
def test_pairwise(case, data):
    run_case(case, data)


@pytest.mark.parametrize("rebalance", REBALANCE, ids=str)
def test_remix_mixes_token_ids_at_a_hidden_layer(rebalance, data):
    """Outside the table: Remix trains on token ids with mix='manifold'."""
    X, y = data["tokens"]
    clf = RemixClassifier(
        module=TokenBag,
        integer_inputs="keep",
        mix="manifold",
        mix_layer="hidden",
        rebalance=rebalance,
        max_epochs=EPOCHS,
        batch_size=32,
        random_state=0,
    ).fit(X, y)
    assert clf.history[:, "rebalance"] == ON[rebalance]
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, atol=1e-6)
