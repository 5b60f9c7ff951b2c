"""Tests for skremix.sampling: effective-number weights and samplers.

Statistical checks use a 4-sigma binomial bound: with ``n`` draws of a class
whose target probability is ``p``, the observed frequency ``p_hat`` satisfies
``|p_hat - p| < 4 * sqrt(p * (1 - p) / n)`` with probability above
``1 - 6.4e-5`` under the binomial model (normal approximation, n large). For
the balanced batch sampler the per-class count has *smaller* variance than a
binomial (only the ``B % C`` leftover slots are random), so the bound is
conservative there. All tests are seeded, hence deterministic.
"""

import math
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from skremix.sampling import (
    ClassBalancedBatchSampler,
    WeightedClassSampler,
    effective_number_weights,
    sample_weights_from_class_weights,
)


def _four_sigma(p: float, n: int) -> float:
    return 4.0 * math.sqrt(p * (1.0 - p) / n)


def _labels(counts):
    return np.repeat(np.arange(len(counts)), counts)


# ---------------------------------------------------------------------------
# effective_number_weights
# ---------------------------------------------------------------------------


def test_effective_number_weights_hand_computed():
    # beta = 0.99, counts [100, 10]:
    #   0.99 ** 100 = 0.3660323  -> w0 = 0.01 / 0.6339677 = 0.0157737
    #   0.99 ** 10  = 0.9043821  -> w1 = 0.01 / 0.0956179 = 0.1045830
    #   sum = 0.1203567; rescaled to sum 2:
    #   w0 = 2 * 0.0157737 / 0.1203567 = 0.262116
    #   w1 = 2 * 0.1045830 / 0.1203567 = 1.737884
    w = effective_number_weights([100, 10], beta=0.99)
    assert w.dtype == np.float64
    assert w == pytest.approx([0.262116, 1.737884], abs=1e-5)
    assert w.sum() == pytest.approx(2.0)


def test_effective_number_weights_beta_zero_is_uniform():
    w = effective_number_weights([1000, 10, 1, 0], beta=0.0)
    np.testing.assert_array_equal(w, np.ones(4))


def test_effective_number_weights_zero_count_is_finite_singleton():
    w = effective_number_weights([500, 0, 1], beta=0.999)
    assert np.all(np.isfinite(w))
    assert w[1] == pytest.approx(w[2])
    assert w.sum() == pytest.approx(3.0)


def test_effective_number_weights_beta_close_to_one_is_inverse_frequency():
    w = effective_number_weights([100, 10], beta=1.0 - 1e-12)
    # inverse frequency [1/100, 1/10] rescaled to sum 2 -> [2/11, 20/11]
    assert w == pytest.approx([2 / 11, 20 / 11], rel=1e-6)


def test_effective_number_weights_default_beta():
    counts = np.array([5000, 500, 50])
    raw = (1 - 0.9999) / (1 - 0.9999**counts)
    expected = raw * 3 / raw.sum()
    assert effective_number_weights(counts) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("beta", [1.0, -0.1, 1.5, float("nan"), "0.9", True])
def test_effective_number_weights_bad_beta(beta):
    with pytest.raises(ValueError, match="beta"):
        effective_number_weights([10, 5], beta=beta)


@pytest.mark.parametrize(
    "counts", [[], [[1, 2]], [3, -1], [1.0, float("inf")], ["a", "b"]]
)
def test_effective_number_weights_bad_counts(counts):
    with pytest.raises(ValueError, match="class_counts"):
        effective_number_weights(counts)


# ---------------------------------------------------------------------------
# sample_weights_from_class_weights
# ---------------------------------------------------------------------------


def test_sample_weights_from_class_weights():
    p = sample_weights_from_class_weights(np.array([0, 0, 1, 2]), [1.0, 2.0, 0.0])
    np.testing.assert_allclose(p, [0.25, 0.25, 0.5, 0.0])
    assert p.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("labels", "weights"),
    [
        ([0, 3], [1.0, 1.0]),
        ([0, -1], [1.0, 1.0]),
        ([0.0, 1.0], [1.0, 1.0]),
        ([0, 1], [1.0, -1.0]),
        ([0, 0], [0.0, 1.0]),
        ([], [1.0]),
    ],
)
def test_sample_weights_from_class_weights_validation(labels, weights):
    with pytest.raises(ValueError):
        sample_weights_from_class_weights(np.asarray(labels), weights)


# ---------------------------------------------------------------------------
# ClassBalancedBatchSampler, global mode
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "batch_size"),
    [([1000, 10], 33), ([1000, 100, 10], 32), ([1000, 100, 10], 3)],
)
def test_balanced_batches_have_every_class_and_uniform_frequencies(counts, batch_size):
    labels = _labels(counts)
    n_classes = len(counts)
    sampler = ClassBalancedBatchSampler(
        labels, batch_size, n_batches=400, random_state=0
    )
    q, r = divmod(batch_size, n_classes)
    totals = np.zeros(n_classes, dtype=np.int64)
    for batch in sampler:
        assert len(batch) == batch_size
        assert all(type(i) is int for i in batch)
        per_class = np.bincount(labels[batch], minlength=n_classes)
        # every class present, q or q + 1 samples each
        assert per_class.min() >= max(q, 1)
        assert per_class.max() <= q + (r > 0)
        totals += per_class
    n = totals.sum()
    assert n == 400 * batch_size
    p = 1.0 / n_classes
    p_hat = totals / n
    assert np.all(np.abs(p_hat - p) < _four_sigma(p, n))


def test_balanced_rare_samples_drawn_uniformly_within_class():
    # 10 rare samples, 16 rare slots per batch x 200 batches = 3200 rare draws;
    # each rare index should get 1/10 of them (4-sigma binomial bound).
    labels = _labels([1000, 10])
    sampler = ClassBalancedBatchSampler(labels, 32, n_batches=200, random_state=1)
    draws = np.concatenate([np.asarray(b) for b in sampler])
    rare = draws[labels[draws] == 1]
    freq = np.bincount(rare - 1000, minlength=10) / rare.size
    assert np.all(np.abs(freq - 0.1) < _four_sigma(0.1, rare.size))


def test_balanced_default_n_batches():
    labels = _labels([1000, 10])
    for batch_size in (1, 7, 32, 1010, 5000):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            sampler = ClassBalancedBatchSampler(labels, batch_size, random_state=0)
        assert len(sampler) == math.ceil(1010 / batch_size)
        assert sampler.n_batches == len(sampler)
    sampler = ClassBalancedBatchSampler(labels, 8, n_batches=5, random_state=0)
    assert len(sampler) == 5
    assert len(list(sampler)) == 5


def test_balanced_seeded_reproducibility_and_epochs_differ():
    labels = _labels([1000, 100, 10])
    a = ClassBalancedBatchSampler(labels, 16, random_state=42)
    b = ClassBalancedBatchSampler(labels, 16, random_state=42)
    epochs_a = [list(a) for _ in range(3)]
    epochs_b = [list(b) for _ in range(3)]
    assert epochs_a == epochs_b
    assert epochs_a[0] != epochs_a[1]
    c = ClassBalancedBatchSampler(labels, 16, random_state=43)
    assert list(c) != epochs_a[0]


def test_balanced_generator_random_state_and_no_global_rng():
    labels = _labels([50, 5])
    s1 = ClassBalancedBatchSampler(labels, 4, random_state=np.random.default_rng(3))
    s2 = ClassBalancedBatchSampler(labels, 4, random_state=np.random.default_rng(3))
    np.random.seed(0)
    torch.manual_seed(0)
    first = list(s1)
    np.random.seed(1)
    torch.manual_seed(1)
    assert list(s2) == first


def test_balanced_works_in_dataloader():
    labels = _labels([1000, 100, 10])
    X = torch.randn(labels.size, 4)
    y = torch.as_tensor(labels)
    sampler = ClassBalancedBatchSampler(y, 24, random_state=0)
    loader = DataLoader(TensorDataset(X, y), batch_sampler=sampler)
    n = 0
    for xb, yb in loader:
        n += 1
        assert xb.shape == (24, 4)
        assert torch.bincount(yb, minlength=3).tolist() == [8, 8, 8]
    assert n == len(sampler) == math.ceil(1110 / 24)


def test_balanced_string_labels_and_input_types():
    labels = np.array(["dog"] * 60 + ["cat"] * 30 + ["bird"] * 3)
    sampler = ClassBalancedBatchSampler(labels, 9, random_state=0)
    assert sampler.classes_.tolist() == ["bird", "cat", "dog"]
    assert [len(i) for i in sampler.class_indices_] == [3, 30, 60]
    assert sampler.class_counts_.tolist() == [3, 30, 60]
    np.testing.assert_array_equal(sampler.class_indices_[0], [90, 91, 92])
    for batch in sampler:
        values, counts = np.unique(labels[batch], return_counts=True)
        assert values.tolist() == ["bird", "cat", "dog"]
        assert counts.tolist() == [3, 3, 3]

    ints = _labels([40, 4])
    reference = list(ClassBalancedBatchSampler(ints, 6, random_state=5))
    for variant in (ints.tolist(), torch.as_tensor(ints)):
        assert list(ClassBalancedBatchSampler(variant, 6, random_state=5)) == reference


def test_balanced_without_replacement_cycles_through_each_class():
    labels = _labels([1000, 10])
    sampler = ClassBalancedBatchSampler(labels, 20, replacement=False, random_state=0)
    batches = list(sampler)
    assert len(batches) == 51
    for batch in batches:
        # 10 rare slots per batch, 10 rare samples: each exactly once
        rare = sorted(i for i in batch if labels[i] == 1)
        assert rare == list(range(1000, 1010))
    majority = [i for b in batches for i in b if labels[i] == 0]
    assert len(majority) == 510
    assert len(set(majority)) == 510  # no repeat before the class is exhausted


def test_balanced_small_batch_warns_and_uses_distinct_classes():
    labels = _labels([500, 50, 20, 5])
    with pytest.warns(UserWarning, match="not every class fits"):
        sampler = ClassBalancedBatchSampler(labels, 3, n_batches=2000, random_state=0)
    totals = np.zeros(4, dtype=np.int64)
    for batch in sampler:
        assert len(batch) == 3
        assert len(set(labels[batch].tolist())) == 3
        totals += np.bincount(labels[batch], minlength=4)
    n = totals.sum()
    assert np.all(np.abs(totals / n - 0.25) < _four_sigma(0.25, n))


def test_balanced_no_warning_when_batch_fits():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ClassBalancedBatchSampler(_labels([10, 5, 2]), 3)


@pytest.mark.parametrize(
    ("labels", "kwargs", "match"),
    [
        ([], {"batch_size": 2}, "at least one sample"),
        ([[0, 1], [1, 0]], {"batch_size": 2}, "one-dimensional"),
        ([1, 1, 1], {"batch_size": 2}, "two distinct classes"),
        ([0, 1], {"batch_size": 0}, "batch_size"),
        ([0, 1], {"batch_size": 2.0}, "batch_size"),
        ([0, 1], {"batch_size": True}, "batch_size"),
        ([0, 1], {"batch_size": 2, "n_batches": 0}, "n_batches"),
        ([0, 1], {"batch_size": 2, "mode": "local"}, "mode"),
    ],
)
def test_balanced_validation(labels, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClassBalancedBatchSampler(labels, **kwargs)


def test_balanced_bad_random_state():
    with pytest.raises(TypeError, match="random_state must be an int"):
        ClassBalancedBatchSampler([0, 1], 2, random_state="seed")
    with pytest.raises(ValueError, match="between 0 and 2"):
        ClassBalancedBatchSampler([0, 1], 2, random_state=-1)


@pytest.mark.parametrize("cls", ["balanced", "weighted"])
def test_random_state_follows_sklearns_convention(cls):
    """An int seeds the sampler; a RandomState instance or None (numpy's
    global state) gives a seed drawn from it, as check_random_state does."""
    labels = _labels([30, 6])

    def make(random_state):
        if cls == "balanced":
            return ClassBalancedBatchSampler(labels, 6, random_state=random_state)
        return WeightedClassSampler(labels, random_state=random_state)

    epochs = lambda s: [list(s), list(s)]  # noqa: E731
    assert epochs(make(7)) == epochs(make(7))
    assert epochs(make(np.random.RandomState(3))) == epochs(
        make(np.random.RandomState(3))
    )
    assert epochs(make(np.random.RandomState(3))) != epochs(
        make(np.random.RandomState(4))
    )
    np.random.seed(5)
    first = epochs(make(None))
    np.random.seed(5)
    assert epochs(make(None)) == first


# ---------------------------------------------------------------------------
# ClassBalancedBatchSampler, within_batch mode (official ReMix code)
# ---------------------------------------------------------------------------


def test_within_batch_absent_classes_stay_absent():
    # 1000:1 data set, B = 16: the rare class is in the plain random batch with
    # probability 1 - (1000/1001)**16 ~= 0.016, so its frequency is ~0.008,
    # far below 1/C = 0.5 (the global mode gives exactly 0.5).
    labels = _labels([1000, 1])
    within = ClassBalancedBatchSampler(
        labels, 16, n_batches=500, mode="within_batch", random_state=0
    )
    draws = np.concatenate([np.asarray(b) for b in within])
    assert draws.size == 500 * 16
    assert labels[draws].mean() < 0.05
    glob = ClassBalancedBatchSampler(labels, 16, n_batches=50, random_state=0)
    assert all(labels[b].sum() == 8 for b in glob)


def test_within_batch_single_sample_batches_follow_the_prior():
    # batch_size = 1: the drawn batch holds one class, which is never
    # re-balanced, so class frequencies follow the data prior 1000:10.
    labels = _labels([1000, 10])
    with pytest.warns(UserWarning, match="not every class fits"):
        sampler = ClassBalancedBatchSampler(
            labels, 1, n_batches=5000, mode="within_batch", random_state=0
        )
    freq = labels[[b[0] for b in sampler]].mean()
    p = 10 / 1010
    assert abs(freq - p) < _four_sigma(p, 5000)


def test_within_batch_present_classes_are_equalised():
    labels = _labels([1000, 100, 10])
    sampler = ClassBalancedBatchSampler(
        labels, 12, n_batches=300, mode="within_batch", random_state=0
    )
    n_present = []
    for batch in sampler:
        assert len(batch) == 12
        _, counts = np.unique(labels[batch], return_counts=True)
        # 12 is divisible by 1, 2 and 3 present classes: exactly equal shares
        assert np.all(counts == 12 // counts.size)
        n_present.append(counts.size)
    # some batches miss the rare class (P(absent) = (1100/1110)**12 ~= 0.90)
    assert min(n_present) < 3


def test_within_batch_full_permutation_batch_contains_every_class():
    # replacement=False and batch_size = n_samples: the drawn batch is a
    # permutation of the whole data, so every class is present and equalised.
    labels = _labels([20, 6, 4])
    sampler = ClassBalancedBatchSampler(
        labels, 30, replacement=False, mode="within_batch", random_state=0
    )
    (batch,) = list(sampler)
    assert np.bincount(labels[batch]).tolist() == [10, 10, 10]


def test_within_batch_seeded():
    labels = _labels([100, 10, 1])
    kwargs = {"mode": "within_batch", "random_state": 7}
    a = ClassBalancedBatchSampler(labels, 8, **kwargs)
    b = ClassBalancedBatchSampler(labels, 8, **kwargs)
    assert [list(a), list(a)] == [list(b), list(b)]


# ---------------------------------------------------------------------------
# WeightedClassSampler
# ---------------------------------------------------------------------------


def test_weighted_sampler_proportional_to_class_weights():
    counts = np.array([900, 90, 10])
    labels = _labels(counts)
    weights = effective_number_weights(counts, beta=0.999)
    sampler = WeightedClassSampler(labels, weights, num_samples=20000, random_state=0)
    assert len(sampler) == 20000
    idx = np.fromiter(sampler, dtype=np.int64)
    assert idx.size == 20000
    target = counts * weights / np.sum(counts * weights)
    p_hat = np.bincount(labels[idx], minlength=3) / idx.size
    for p, ph in zip(target, p_hat, strict=True):
        assert abs(ph - p) < _four_sigma(p, idx.size)


def test_weighted_sampler_balanced():
    labels = np.array(["x"] * 950 + ["y"] * 50)
    sampler = WeightedClassSampler(labels, random_state=0)
    assert len(sampler) == 1000
    np.testing.assert_allclose(sampler.class_weights_, [1 / 950, 1 / 50])
    assert sampler.sample_weights_.sum() == pytest.approx(1.0)
    n = 0
    hits = 0
    for _ in range(5):
        drawn = list(sampler)
        assert all(type(i) is int for i in drawn)
        hits += int(np.sum(labels[drawn] == "y"))
        n += len(drawn)
    assert abs(hits / n - 0.5) < _four_sigma(0.5, n)


def test_weighted_sampler_seeded_and_in_dataloader():
    labels = _labels([200, 20])
    a = WeightedClassSampler(labels, random_state=3)
    b = WeightedClassSampler(labels, random_state=3)
    ea, eb = [list(a), list(a)], [list(b), list(b)]
    assert ea == eb
    assert ea[0] != ea[1]
    y = torch.as_tensor(labels)
    loader = DataLoader(
        TensorDataset(torch.randn(220, 2), y),
        batch_size=32,
        sampler=WeightedClassSampler(y, random_state=0),
    )
    assert sum(len(yb) for _, yb in loader) == 220


@pytest.mark.parametrize(
    ("class_weights", "kwargs"),
    [
        ("uniform", {}),
        ([1.0, 2.0, 3.0], {}),
        ([1.0, -1.0], {}),
        ([0.0, 0.0], {}),
        ("balanced", {"num_samples": 0}),
    ],
)
def test_weighted_sampler_validation(class_weights, kwargs):
    with pytest.raises(ValueError):
        WeightedClassSampler(_labels([5, 5]), class_weights, **kwargs)
