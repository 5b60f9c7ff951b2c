"""Tests for the data-parallel samplers and the rule splitting a global batch.

``shard_bounds`` is checked against :func:`numpy.array_split`. The
distributed samplers are checked against their single-process counterparts:
the ranks' shares of one step, concatenated in rank order, must be exactly
the batch (or the prefix of the stream) that ``ClassBalancedBatchSampler``
(``WeightedClassSampler``) draws at the global size with the same seed, and
after ``set_epoch(e)`` exactly what a fresh single-process sampler seeded
with ``numpy.random.default_rng([seed, e])`` draws. Most tests pass
``num_replicas`` and ``rank`` explicitly (one process plays every rank);
one test spawns a real 2-process gloo group.

Statistical checks use a 5-sigma binomial bound: with ``n`` draws of a class
whose target probability is ``p``, ``|p_hat - p| < 5 * sqrt(p (1 - p) / n)``
(normal approximation; fails with probability below 6e-7 for a correct
sampler). All tests are seeded, hence deterministic.
"""

import math
import warnings

import numpy as np
import pytest
import torch
from _ranks import run_ranks

from skremix.sampling import (
    ClassBalancedBatchSampler,
    DistributedClassBalancedBatchSampler,
    DistributedWeightedClassSampler,
    WeightedClassSampler,
    shard_bounds,
)

SEED = 7


def _labels(counts):
    return np.repeat(np.arange(len(counts)), counts)


def _five_sigma(p, n):
    return 5.0 * math.sqrt(p * (1.0 - p) / n)


def _cb_ranks(labels, batch_size, world, **kwargs):
    """One DistributedClassBalancedBatchSampler per rank, same arguments."""
    return [
        DistributedClassBalancedBatchSampler(
            labels, batch_size, num_replicas=world, rank=r, **kwargs
        )
        for r in range(world)
    ]


def _w_ranks(labels, weights, world, **kwargs):
    return [
        DistributedWeightedClassSampler(
            labels, weights, num_replicas=world, rank=r, **kwargs
        )
        for r in range(world)
    ]


def _epoch_of_ranks(samplers):
    """One epoch of every rank: ``out[r][k]`` is rank r's share of step k."""
    return [list(s) for s in samplers]


def _union_steps(per_rank):
    """Concatenate the ranks' shares of every step, in rank order."""
    n_steps = len(per_rank[0])
    assert all(len(p) == n_steps for p in per_rank)
    return [sum((p[k] for p in per_rank), []) for k in range(n_steps)]


# ---------------------------------------------------------------------------
# shard_bounds
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "world"),
    [(10, 3), (12, 4), (7, 2), (1, 1), (0, 3), (2, 5), (101, 7), (64, 8)],
)
def test_shard_bounds_follow_array_split(n, world):
    parts = np.array_split(np.arange(n), world)
    bounds = [shard_bounds(n, world, r) for r in range(world)]
    # the same shares as numpy.array_split, element for element
    for (start, stop), part in zip(bounds, parts, strict=True):
        assert type(start) is int and type(stop) is int
        np.testing.assert_array_equal(np.arange(n)[start:stop], part)
    # contiguous, in rank order, from 0 to n: disjoint and covering [0, n)
    assert bounds[0][0] == 0
    assert bounds[-1][1] == n
    for (_, stop), (start, _) in zip(bounds[:-1], bounds[1:], strict=True):
        assert stop == start
    covered = np.concatenate([np.arange(a, b) for a, b in bounds])
    np.testing.assert_array_equal(covered, np.arange(n))
    # the first n % world ranks take one more
    sizes = [b - a for a, b in bounds]
    q, r = divmod(n, world)
    assert sizes == [q + 1] * r + [q] * (world - r)


def test_shard_bounds_hand_computed():
    # 10 over 3: sizes 4, 3, 3
    assert [shard_bounds(10, 3, r) for r in range(3)] == [(0, 4), (4, 7), (7, 10)]
    # 2 over 3: the last rank gets nothing
    assert [shard_bounds(2, 3, r) for r in range(3)] == [(0, 1), (1, 2), (2, 2)]
    assert shard_bounds(5, 1, 0) == (0, 5)


@pytest.mark.parametrize(
    ("world", "rank", "match"),
    [
        (0, 0, "num_replicas"),
        (-1, 0, "num_replicas"),
        (2.0, 0, "num_replicas"),
        (True, 0, "num_replicas"),
        (None, 0, "num_replicas"),
        (2, -1, "rank"),
        (2, 0.5, "rank"),
        (2, True, "rank"),
        (2, 2, "rank must be smaller"),
        (3, 5, "rank must be smaller"),
    ],
)
def test_shard_bounds_invalid(world, rank, match):
    with pytest.raises(ValueError, match=match):
        shard_bounds(10, world, rank)


# ---------------------------------------------------------------------------
# DistributedClassBalancedBatchSampler: the union of the ranks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("replacement", [True, False])
@pytest.mark.parametrize("mode", ["global", "within_batch"])
@pytest.mark.parametrize("world", [2, 3])
def test_balanced_union_of_ranks_is_single_process_batch(world, mode, replacement):
    labels = _labels([50, 30, 20])
    batch_size, n_batches = 4, 15
    kwargs = dict(
        n_batches=n_batches, replacement=replacement, random_state=SEED, mode=mode
    )
    ranks = _cb_ranks(labels, batch_size, world, **kwargs)
    single = ClassBalancedBatchSampler(labels, batch_size * world, **kwargs)
    for sampler in ranks:
        assert len(sampler) == n_batches
        assert sampler.global_batch_size == batch_size * world
    # two successive epochs without set_epoch: successive single-process ones
    for _ in range(2):
        per_rank = _epoch_of_ranks(ranks)
        reference = list(single)
        assert len(reference) == n_batches
        for r, shares in enumerate(per_rank):
            assert len(shares) == n_batches
            start, stop = shard_bounds(batch_size * world, world, r)
            assert stop - start == batch_size
            for k, share in enumerate(shares):
                assert len(share) == batch_size
                assert all(type(i) is int for i in share)
                assert share == reference[k][start:stop]
        assert _union_steps(per_rank) == reference


@pytest.mark.parametrize(("world", "expected"), [(1, 25), (2, 13), (3, 9)])
def test_balanced_default_n_batches_uses_global_batch(world, expected):
    # ceil(100 / (4 * world)): 25, 13, 9
    labels = _labels([95, 5])
    for sampler in _cb_ranks(labels, 4, world):
        assert len(sampler) == sampler.n_batches == expected
        assert len(list(sampler)) == expected


def test_balanced_without_replacement_no_repeat_within_epoch_global():
    # 3 classes of 12 / 8 / 4 samples, 3 ranks x 2 = global batch 6 = 3 x 2:
    # exactly 2 per class per step, no random leftover slot. Two steps draw
    # 4 of each class <= 4 available for class 2: no index can repeat, and
    # class 2's 4 indices (20..23) are all used exactly once.
    labels = _labels([12, 8, 4])
    ranks = _cb_ranks(labels, 2, 3, n_batches=3, replacement=False, random_state=SEED)
    steps = _union_steps(_epoch_of_ranks(ranks))
    for step in steps:
        np.testing.assert_array_equal(np.bincount(labels[step], minlength=3), 2)
    first_two = steps[0] + steps[1]
    assert len(first_two) == 12
    assert len(set(first_two)) == 12
    assert sorted(i for i in first_two if labels[i] == 2) == [20, 21, 22, 23]
    # the third step needs 2 more of class 2: the permutation restarts, so
    # repeats now occur (6 draws from 4), yet every index of it was used
    rare = [i for step in steps for i in step if labels[i] == 2]
    assert len(rare) == 6
    assert set(rare) == {20, 21, 22, 23}


def test_balanced_without_replacement_steps_disjoint_within_batch():
    # within_batch, replacement=False: each step re-samples from a plain
    # batch drawn from one permutation of all 24 indices; 4 steps x 6 = 24,
    # so the plain batches are disjoint and so are the steps' index sets.
    labels = _labels([12, 8, 4])
    ranks = _cb_ranks(
        labels,
        2,
        3,
        n_batches=4,
        replacement=False,
        random_state=SEED,
        mode="within_batch",
    )
    steps = [set(step) for step in _union_steps(_epoch_of_ranks(ranks))]
    for a in range(4):
        for b in range(a + 1, 4):
            assert not steps[a] & steps[b]


@pytest.mark.parametrize(
    ("mode", "counts", "batch_size", "world"),
    [
        # global batch 10 = 3 x 3 + 1: 3 or 4 per class in every step
        ("global", [900, 90, 10], 5, 2),
        # global batch 24; class 2 (prior 1/4) is absent from a plain batch
        # with probability 0.75 ** 24 < 1e-3, so the share is ~1/3 each
        ("within_batch", [40, 35, 25], 8, 3),
    ],
)
def test_balanced_class_shares_over_many_steps(mode, counts, batch_size, world):
    labels = _labels(counts)
    n_classes, n_batches = len(counts), 300
    kwargs = dict(n_batches=n_batches, random_state=SEED, mode=mode)
    steps = _union_steps(
        _epoch_of_ranks(_cb_ranks(labels, batch_size, world, **kwargs))
    )
    single = list(ClassBalancedBatchSampler(labels, batch_size * world, **kwargs))
    totals = np.bincount(labels[np.concatenate(steps)], minlength=n_classes)
    single_totals = np.bincount(labels[np.concatenate(single)], minlength=n_classes)
    np.testing.assert_array_equal(totals, single_totals)
    n = n_batches * batch_size * world
    assert totals.sum() == n
    p = 1.0 / n_classes
    assert np.all(np.abs(totals / n - p) < _five_sigma(p, n))
    if mode == "global":
        q, r = divmod(batch_size * world, n_classes)
        for step in steps:
            per_class = np.bincount(labels[step], minlength=n_classes)
            assert per_class.min() >= q
            assert per_class.max() <= q + (r > 0)


# ---------------------------------------------------------------------------
# set_epoch
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("replacement", [True, False])
@pytest.mark.parametrize("mode", ["global", "within_batch"])
def test_balanced_set_epoch_contract(mode, replacement):
    labels = _labels([50, 30, 20])
    world, batch_size, n_batches = 2, 4, 10
    kwargs = dict(
        n_batches=n_batches, replacement=replacement, random_state=SEED, mode=mode
    )
    ranks = _cb_ranks(labels, batch_size, world, **kwargs)
    # rank 1 iterates twice more than rank 0 before set_epoch: the epoch
    # depends on (seed, epoch) only, so the ranks stay in step
    list(ranks[1])
    list(ranks[1])
    epochs = {}
    for epoch in (0, 3):
        for sampler in ranks:
            sampler.set_epoch(epoch)
            assert sampler.epoch == epoch
        first = _union_steps(_epoch_of_ranks(ranks))
        again = _union_steps(_epoch_of_ranks(ranks))
        assert first == again  # iterating again repeats the epoch
        fresh = ClassBalancedBatchSampler(
            labels,
            batch_size * world,
            n_batches=n_batches,
            replacement=replacement,
            random_state=np.random.default_rng([SEED, epoch]),
            mode=mode,
        )
        assert first == list(fresh)
        epochs[epoch] = first
    assert epochs[0] != epochs[3]
    # np.integer epochs are accepted and mean the same epoch
    for sampler in ranks:
        sampler.set_epoch(np.int64(3))
    assert _union_steps(_epoch_of_ranks(ranks)) == epochs[3]


def test_balanced_set_epoch_differs_from_unset_and_other_seed():
    labels = _labels([50, 30, 20])
    plain = DistributedClassBalancedBatchSampler(
        labels, 4, num_replicas=2, rank=0, n_batches=10, random_state=SEED
    )
    unset = [list(plain), list(plain)]  # two epochs without set_epoch
    assert unset[0] != unset[1]
    # (epoch 0 is not checked here: numpy's SeedSequence([s, 0]) equals
    # SeedSequence(s), so set_epoch(0) redraws the first unset epoch)
    plain.set_epoch(1)
    assert list(plain) not in unset
    other = DistributedClassBalancedBatchSampler(
        labels, 4, num_replicas=2, rank=0, n_batches=10, random_state=SEED + 1
    )
    other.set_epoch(1)
    assert list(other) != list(plain)


@pytest.mark.parametrize("epoch", [-1, 1.5, True, "1", None])
@pytest.mark.parametrize("which", ["balanced", "weighted"])
def test_set_epoch_invalid(which, epoch):
    labels = _labels([10, 5])
    if which == "balanced":
        sampler = DistributedClassBalancedBatchSampler(
            labels, 2, num_replicas=2, rank=0
        )
    else:
        sampler = DistributedWeightedClassSampler(labels, num_replicas=2, rank=0)
    with pytest.raises(ValueError, match="epoch must be an integer >= 0"):
        sampler.set_epoch(epoch)
    assert sampler.epoch is None


# ---------------------------------------------------------------------------
# Validation: random_state, num_replicas, rank
# ---------------------------------------------------------------------------


def _build(which, **kwargs):
    labels = _labels([10, 5])
    if which == "balanced":
        return DistributedClassBalancedBatchSampler(labels, 2, **kwargs)
    return DistributedWeightedClassSampler(labels, **kwargs)


@pytest.mark.parametrize(
    "random_state",
    [
        None,
        np.random.RandomState(0),
        np.random.default_rng(0),
        -1,
        2**32,
        True,
        1.0,
    ],
    ids=["None", "RandomState", "Generator", "-1", "2**32", "True", "1.0"],
)
@pytest.mark.parametrize("which", ["balanced", "weighted"])
def test_random_state_refused(which, random_state):
    with pytest.raises(ValueError, match="random_state"):
        _build(which, num_replicas=2, rank=0, random_state=random_state)


@pytest.mark.parametrize("which", ["balanced", "weighted"])
def test_random_state_extremes_and_numpy_ints_accepted(which):
    for seed in (0, 2**32 - 1):
        assert _build(
            which, num_replicas=2, rank=0, random_state=seed
        ).random_state == (seed)
    a = _build(which, num_replicas=2, rank=1, random_state=np.int64(5))
    b = _build(which, num_replicas=2, rank=1, random_state=5)
    assert type(a.random_state) is int
    assert list(a) == list(b)


@pytest.mark.parametrize(
    ("num_replicas", "rank", "missing"),
    [
        (None, 0, "got num_replicas=None and no"),
        (2, None, "got rank=None and no"),
        (None, None, "got num_replicas and rank=None and no"),
    ],
)
@pytest.mark.parametrize("which", ["balanced", "weighted"])
def test_no_process_group_refused(which, num_replicas, rank, missing):
    assert not torch.distributed.is_initialized()  # precondition
    with pytest.raises(ValueError, match="init_process_group") as info:
        _build(which, num_replicas=num_replicas, rank=rank)
    assert missing in str(info.value)


@pytest.mark.parametrize(
    ("num_replicas", "rank", "match"),
    [
        (2, 2, "rank must be smaller than num_replicas"),
        (1, 3, "rank must be smaller than num_replicas"),
        (0, 0, "num_replicas must be an integer >= 1"),
        (2, -1, "rank must be an integer >= 0"),
    ],
)
@pytest.mark.parametrize("which", ["balanced", "weighted"])
def test_bad_replicas_or_rank(which, num_replicas, rank, match):
    with pytest.raises(ValueError, match=match):
        _build(which, num_replicas=num_replicas, rank=rank)


def test_balanced_global_batch_smaller_than_classes_warns():
    # 4 classes, 1 per rank x 3 ranks = global batch 3 < 4
    labels = _labels([20, 10, 5, 5])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        ranks = _cb_ranks(labels, 1, 3, n_batches=20, random_state=SEED)
    messages = [str(w.message) for w in record if w.category is UserWarning]
    # one warning per rank, about the global batch (the inner sampler's
    # "batch_size=3 ..." warning is not repeated)
    assert len(messages) == 3
    for w in record:
        assert w.filename == __file__  # points at the caller
    for message in messages:
        assert "global batch" in message
        assert "1 * 3 = 3" in message
        assert "number of classes (4)" in message
        assert not message.startswith("batch_size=")
    with pytest.warns(UserWarning, match=r"global batch \(batch_size \* num_replicas"):
        DistributedClassBalancedBatchSampler(
            labels, 1, num_replicas=2, rank=0, random_state=SEED
        )
    # each step holds one sample of each of 3 distinct classes
    for step in _union_steps(_epoch_of_ranks(ranks)):
        assert len(step) == 3
        assert len(set(labels[step].tolist())) == 3


def test_balanced_no_warning_when_global_batch_fits():
    # per-rank batch 1 < 3 classes, but the global batch 3 fits them all
    labels = _labels([20, 10, 5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ranks = _cb_ranks(labels, 1, 3, n_batches=10, random_state=SEED)
    for step in _union_steps(_epoch_of_ranks(ranks)):
        np.testing.assert_array_equal(np.bincount(labels[step], minlength=3), 1)


# ---------------------------------------------------------------------------
# DistributedWeightedClassSampler
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("num_samples", "world", "total"),
    [(None, 2, 100), (None, 3, 99), (101, 1, 101), (50, 3, 48), (7, 7, 7), (9, 4, 8)],
)
@pytest.mark.parametrize("weights", ["balanced", [1.0, 3.0]])
def test_weighted_union_is_prefix_of_single_stream(num_samples, world, total, weights):
    labels = np.array(["a"] * 91 + ["b"] * 10)  # 101 samples
    ranks = _w_ranks(labels, weights, world, num_samples=num_samples, random_state=SEED)
    single = WeightedClassSampler(
        labels, weights, num_samples=num_samples, random_state=SEED
    )
    for r, sampler in enumerate(ranks):
        assert sampler.total_size == total
        assert len(sampler) == total // world
        assert shard_bounds(total, world, r) == (
            r * (total // world),
            (r + 1) * (total // world),
        )
    for _ in range(2):  # successive epochs without set_epoch
        per_rank = [list(s) for s in ranks]
        stream = list(single)
        assert len(stream) == (101 if num_samples is None else num_samples)
        for share in per_rank:
            assert len(share) == total // world
            assert all(type(i) is int for i in share)
        assert sum(per_rank, []) == stream[:total]


@pytest.mark.parametrize(("num_samples", "world"), [(2, 3), (1, 2), (3, 8)])
def test_weighted_num_samples_below_replicas_refused(num_samples, world):
    labels = _labels([10, 5])
    with pytest.raises(ValueError, match="num_samples must be at least num_replicas"):
        DistributedWeightedClassSampler(
            labels, num_replicas=world, rank=0, num_samples=num_samples
        )


def test_weighted_set_epoch_contract():
    labels = _labels([60, 25, 15])
    weights = [0.5, 1.0, 2.0]
    world, num_samples = 3, 200  # total 198
    ranks = _w_ranks(labels, weights, world, num_samples=num_samples, random_state=SEED)
    list(ranks[2])  # a rank that iterated once more stays in step
    streams = {}
    for epoch in (0, 5):
        for sampler in ranks:
            sampler.set_epoch(epoch)
        first = sum((list(s) for s in ranks), [])
        again = sum((list(s) for s in ranks), [])
        assert first == again
        fresh = WeightedClassSampler(
            labels,
            weights,
            num_samples=num_samples,
            random_state=np.random.default_rng([SEED, epoch]),
        )
        assert first == list(fresh)[:198]
        streams[epoch] = first
    assert streams[0] != streams[5]


def test_weighted_balanced_proportions_on_each_rank():
    labels = _labels([900, 90, 10])
    n_classes, world = 3, 2
    ranks = _w_ranks(labels, "balanced", world, num_samples=20000, random_state=SEED)
    p = 1.0 / n_classes
    for sampler in ranks:
        share = np.asarray(list(sampler))
        assert share.shape == (10000,)
        freq = np.bincount(labels[share], minlength=n_classes) / share.shape[0]
        assert np.all(np.abs(freq - p) < _five_sigma(p, share.shape[0]))


def test_weighted_attributes_match_single_sampler():
    labels = _labels([60, 25, 15])
    dist_sampler = DistributedWeightedClassSampler(
        labels, [0.5, 1.0, 2.0], num_replicas=2, rank=1, random_state=SEED
    )
    # P(class) = N_c w_c / sum = [30, 25, 30] / 85; per sample w_c / 85
    np.testing.assert_allclose(
        dist_sampler.sample_weights_, np.repeat([0.5, 1.0, 2.0], [60, 25, 15]) / 85
    )
    np.testing.assert_array_equal(dist_sampler.class_counts_, [60, 25, 15])
    assert dist_sampler.num_samples == 100
    assert dist_sampler.total_size == 100
    assert len(dist_sampler) == 50


# ---------------------------------------------------------------------------
# A real 2-process gloo group: num_replicas and rank read from the group
# ---------------------------------------------------------------------------

DDP_COUNTS = [30, 20, 10]  # 60 samples
DDP_BATCH, DDP_STEPS, DDP_EPOCH = 3, 5, 4
DDP_NUM_SAMPLES = 61  # 2 ranks: total_size 60


def _ddp_body(rank, folder):
    """Rank body (spawned): both samplers from the group, indices to files."""
    import os

    import torch.distributed as dist

    labels = _labels(DDP_COUNTS)
    cb = DistributedClassBalancedBatchSampler(
        labels, DDP_BATCH, n_batches=DDP_STEPS, replacement=False, random_state=SEED
    )
    ws = DistributedWeightedClassSampler(
        labels, num_samples=DDP_NUM_SAMPLES, random_state=SEED
    )
    plain = np.array(list(cb), dtype=np.int64)
    cb.set_epoch(DDP_EPOCH)
    epoch = np.array(list(cb), dtype=np.int64)
    np.save(os.path.join(folder, f"cb_plain_{rank}.npy"), plain)
    np.save(os.path.join(folder, f"cb_epoch_{rank}.npy"), epoch)
    np.save(os.path.join(folder, f"w_{rank}.npy"), np.array(list(ws), dtype=np.int64))
    return {
        "group": (dist.get_world_size(), dist.get_rank()),
        "cb": (cb.num_replicas, cb.rank),
        "w": (ws.num_replicas, ws.rank, ws.total_size),
    }


@pytest.mark.distributed
def test_two_process_group(tmp_path):
    results = run_ranks(_ddp_body, tmp_path, world_size=2, folder=str(tmp_path))
    for r, res in enumerate(results):
        assert res["group"] == (2, r)
        assert res["cb"] == (2, r)
        assert res["w"] == (2, r, 60)

    labels = _labels(DDP_COUNTS)
    kwargs = dict(n_batches=DDP_STEPS, replacement=False)
    references = {
        "plain": list(
            ClassBalancedBatchSampler(
                labels, 2 * DDP_BATCH, random_state=SEED, **kwargs
            )
        ),
        "epoch": list(
            ClassBalancedBatchSampler(
                labels,
                2 * DDP_BATCH,
                random_state=np.random.default_rng([SEED, DDP_EPOCH]),
                **kwargs,
            )
        ),
    }
    for name, reference in references.items():
        shares = [np.load(tmp_path / f"cb_{name}_{r}.npy") for r in range(2)]
        for share in shares:
            assert share.shape == (DDP_STEPS, DDP_BATCH)
        union = np.concatenate(shares, axis=1)
        np.testing.assert_array_equal(union, np.array(reference))
        # global batch 6 = 2 per class; 5 steps use 10 of class 2's 10
        # samples without replacement: all 30 indices of the epoch differ,
        # so the two ranks' shares of every step are disjoint
        assert np.unique(union).size == union.size
        for k in range(DDP_STEPS):
            assert not set(shares[0][k].tolist()) & set(shares[1][k].tolist())
            np.testing.assert_array_equal(np.bincount(labels[union[k]], minlength=3), 2)

    w_shares = [np.load(tmp_path / f"w_{r}.npy") for r in range(2)]
    assert [s.shape for s in w_shares] == [(30,), (30,)]
    stream = list(
        WeightedClassSampler(labels, num_samples=DDP_NUM_SAMPLES, random_state=SEED)
    )
    assert np.concatenate(w_shares).tolist() == stream[:60]
