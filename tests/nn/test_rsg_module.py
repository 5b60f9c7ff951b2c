"""The RSG module and its pure functions, checked with hand-made numbers."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
import torch.nn.functional as F

from skremix.nn import (
    RSG,
    center_distances,
    frequent_class_mask,
    generation_pairs,
    mv_direction_loss,
    mv_length_loss,
    n_generated,
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _small_rsg(in_channels: int = 4, n_classes: int = 3, **kw) -> RSG:
    kw = {"n_centers": 2, "contrastive_channels": 8, **kw}
    return RSG(in_channels=in_channels, n_classes=n_classes, **kw)


# ----------------------------------------------------------- frequent classes
def test_frequent_classes_are_chosen_by_count_not_index() -> None:
    # Step profile whose large classes are not the first ones.
    counts = [5, 50, 5, 50, 50, 5]
    mask = frequent_class_mask(counts, 0.5)  # round(3) = 3 frequent classes
    assert mask.tolist() == [False, True, False, True, True, False]
    # Long-tailed profile out of index order: 100 > 40 > 20 > 10 > 5.
    counts = [10, 40, 100, 20, 5]
    assert frequent_class_mask(counts, 0.2).tolist() == [
        False,
        False,
        True,
        False,
        False,
    ]
    # 0.4 * 5 = 2 classes: 100 and 40.
    assert frequent_class_mask(counts, 0.4).tolist() == [
        False,
        True,
        True,
        False,
        False,
    ]


def test_frequent_class_count_rounding_and_bounds() -> None:
    counts = torch.tensor([30, 20, 10])
    # 0.2 * 3 = 0.6 -> 1; 0.5 * 3 = 1.5 -> 2 (half up); 1.0 -> every class.
    assert frequent_class_mask(counts, 0.2).sum().item() == 1
    assert frequent_class_mask(counts, 0.5).tolist() == [True, True, False]
    assert frequent_class_mask(counts, 1.0).all()
    # Never fewer than one frequent class.
    assert frequent_class_mask([1, 9], 0.01).tolist() == [False, True]
    # Ties in count: lower class index first.
    assert frequent_class_mask([7, 7, 7, 7], 0.5).tolist() == [True, True, False, False]
    assert frequent_class_mask(counts, 0.5).device == counts.device
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="frequent_ratio"):
            frequent_class_mask(counts, bad)


# ------------------------------------------------------- generated count
@pytest.mark.parametrize(
    ("s_freq", "s_rare", "beta", "expected"),
    [
        (10, 3, 1.0, 9),  # floor(10 / 3) = 3 per rare sample
        (10, 3, 0.5, 3),  # floor(5 / 3) = 1
        (10, 3, 0.01, 3),  # floor(0.03) = 0 -> at least 1
        (2, 5, 1.0, 5),  # more rare than frequent: 1 each
        (10, 7, 0.7, 7),  # 0.7 * 10 / 7 is 1 up to rounding: not floored to 0
        (12, 4, 1.0, 12),
        (0, 3, 1.0, 0),  # no frequent sample
        (3, 0, 1.0, 0),  # no rare sample
    ],
)
def test_n_generated_formula(
    s_freq: int, s_rare: int, beta: float, expected: int
) -> None:
    assert n_generated(s_freq, s_rare, beta) == expected


@pytest.mark.parametrize("beta", [0.0, -1.0, 1.5, 2.0])
def test_transfer_strength_is_validated(beta: float) -> None:
    with pytest.raises(ValueError, match="transfer_strength"):
        n_generated(5, 2, beta)
    with pytest.raises(ValueError, match="transfer_strength"):
        RSG(in_channels=4, n_classes=3, transfer_strength=beta)


def test_module_argument_validation() -> None:
    with pytest.raises(ValueError, match="frequent_ratio"):
        RSG(in_channels=4, n_classes=3, frequent_ratio=0.0)
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        RSG(in_channels=4, n_classes=3, kernel_size=2)
    with pytest.raises(ValueError, match="n_centers"):
        RSG(in_channels=4, n_classes=3, n_centers=0)
    with pytest.raises(ValueError, match="contrastive_channels"):
        RSG(in_channels=4, n_classes=3, contrastive_channels=0)


# ------------------------------------------------------- generation pairs
def test_generation_pairs_by_hand() -> None:
    is_freq = torch.tensor([True, False, True, True, False])
    # s_freq = 3, s_rare = 2, beta = 1: floor(1.5) = 1 new sample per rare one.
    freq, rare = generation_pairs(is_freq, 1.0, perm=torch.tensor([2, 0, 1]))
    assert freq.tolist() == [3, 0]  # frequent samples [0, 2, 3] in order perm
    assert rare.tolist() == [1, 4]
    # s_freq = 6, s_rare = 2: 3 new samples per rare one, distinct partners.
    is_freq = torch.tensor([True] * 6 + [False] * 2)
    freq, rare = generation_pairs(is_freq, 1.0, perm=torch.arange(6))
    assert rare.tolist() == [6, 7, 6, 7, 6, 7]
    assert freq.tolist() == [0, 1, 2, 3, 4, 5]
    # More rare than frequent samples: frequent partners are cycled.
    freq, rare = generation_pairs(torch.tensor([True, False, False, False]), 1.0)
    assert freq.tolist() == [0, 0, 0] and rare.tolist() == [1, 2, 3]


def test_generation_pairs_without_frequent_or_rare() -> None:
    for is_freq in (torch.ones(4, dtype=torch.bool), torch.zeros(4, dtype=torch.bool)):
        freq, rare = generation_pairs(is_freq, 1.0)
        assert freq.numel() == 0 and rare.numel() == 0
        assert freq.dtype == torch.int64


# ------------------------------------------------------------- loss terms
def test_length_and_direction_use_per_position_channel_vectors() -> None:
    # (1, 2, 1, 2) maps: channel c holds [value at position 0, position 1].
    # T(v): position 0 -> (3, 4), position 1 -> (0, 1).
    t = torch.tensor([[[[3.0, 0.0]], [[4.0, 1.0]]]])
    # v: position 0 -> (1, 0) (norm 1), position 1 -> (0, 2) (norm 2).
    v = torch.tensor([[[[1.0, 0.0]], [[0.0, 2.0]]]])
    # d_rare: position 0 -> (4, 3), position 1 -> (0, -2).
    d = torch.tensor([[[[4.0, 0.0]], [[3.0, -2.0]]]])

    # Length: |5 - 1| + |1 - 2| = 5.
    assert mv_length_loss(t, v).tolist() == pytest.approx([5.0])
    # Direction: cos(position 0) = 24 / 25, cos(position 1) = -1:
    # |0.96 - 1| + |-1 - 1| = 2.04.
    assert mv_direction_loss(t, d).tolist() == pytest.approx([2.04])

    # The public code's view(-1, C) of the NCHW tensor pairs up the wrong
    # numbers: rows (3, 0), (4, 1) instead of (3, 4), (0, 1).
    wrong_t, wrong_v = t.reshape(-1, 2), v.reshape(-1, 2)
    wrong = (wrong_t.norm(dim=1) - wrong_v.norm(dim=1)).abs().sum()
    assert wrong.item() != pytest.approx(5.0)


def test_center_distances_match_brute_force() -> None:
    x = torch.randn(3, 4, 2, 5)
    centers = torch.randn(3, 6, 4)
    brute = ((x[:, None] - centers[:, :, :, None, None]) ** 2).sum(dim=(2, 3, 4))
    assert torch.allclose(center_distances(x, centers), brute, atol=1e-4)


def test_per_class_products_match_the_gathered_form() -> None:
    # The module computes the assignment logits and the CESC distances with
    # one product against every class's table and a gather of the own class;
    # it must equal gathering each sample's table first.
    from skremix.nn._rsg_maths import _class_dot

    rsg = _small_rsg(in_channels=5, n_classes=4, n_centers=3)
    x = torch.randn(9, 5, 2, 3)
    y = torch.tensor([0, 3, 3, 1, 0, 2, 2, 2, 1])
    pooled = x.mean(dim=(2, 3))
    gathered = torch.einsum("nd,nkd->nk", pooled, rsg.assign_weight[y])
    assert torch.allclose(_class_dot(pooled, rsg.assign_weight, y), gathered, atol=1e-6)
    assert torch.allclose(
        center_distances(x, rsg.centers, y),
        center_distances(x, rsg.centers[y]),
        atol=1e-4,
    )


@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_convolutions_on_1x1_maps_take_the_matrix_product_path(kernel_size) -> None:
    # On 1x1 maps a padded kernel only meets the input with its centre tap:
    # the fast path must give the convolution's values and gradients.
    from skremix.nn._rsg_autograd import _conv

    conv = torch.nn.Conv2d(6, 4, kernel_size, padding=kernel_size // 2)
    x = torch.randn(5, 6, 1, 1, requires_grad=True)
    fast = _conv(x, conv.weight, conv.bias)
    slow = F.conv2d(x, conv.weight, conv.bias, padding=kernel_size // 2)
    assert fast.shape == slow.shape == (5, 4, 1, 1)
    assert torch.allclose(fast, slow, atol=1e-6)
    (g_fast,) = torch.autograd.grad(fast.square().sum(), conv.weight)
    (g_slow,) = torch.autograd.grad(slow.square().sum(), conv.weight)
    assert torch.allclose(g_fast, g_slow, atol=1e-5)
    # Larger maps go through the convolution itself.
    x2 = torch.randn(2, 6, 3, 4)
    ref = F.conv2d(x2, conv.weight, conv.bias, padding=kernel_size // 2)
    assert torch.allclose(_conv(x2, conv.weight, conv.bias), ref, atol=1e-6)


@pytest.mark.parametrize(
    "in_channels, given, expected",
    [(32, None, 32), (256, None, 256), (1024, None, 256), (32, 256, 256), (8, 3, 3)],
)
def test_contrastive_width_defaults_to_the_feature_channels_up_to_256(
    in_channels, given, expected
) -> None:
    rsg = RSG(
        in_channels=in_channels, n_classes=3, n_centers=1, contrastive_channels=given
    )
    assert rsg.contrastive_channels == expected
    assert rsg.contrastive.conv1.weight.shape[:2] == (expected, 2 * in_channels)
    assert rsg.contrastive.conv2.weight.shape[:2] == (expected, expected)
    assert rsg.contrastive.linear.weight.shape == (2, expected)


def test_cesc_center_term_by_hand() -> None:
    # One sample, one channel, a 1x2 map [1, 3]; its class has centers 0 and 2
    # (squared distances 1 + 9 = 10 and 1 + 1 = 2) and assignment
    # softmax(0, log 3) = (0.25, 0.75): center term 0.25 * 10 + 0.75 * 2 = 4.
    rsg = RSG(in_channels=1, n_classes=2, n_centers=2, contrastive_channels=2)
    rsg.centers_initialized.fill_(True)  # keep the hand-made centers
    with torch.no_grad():
        rsg.centers.zero_()
        rsg.centers[0, 1, 0] = 2.0
        rsg.assign_weight.zero_()
        rsg.assign_bias.zero_()
        rsg.assign_bias[0, 1] = math.log(3.0)
    x = torch.tensor([[[[1.0, 3.0]]]])
    # generate=True: no contrastive term; one sample: nothing generated.
    out = rsg(x, torch.tensor([0]), [10, 1], generate=True)
    assert out.n_generated == 0
    assert out.cesc_loss.item() == pytest.approx(4.0)


# ------------------------------------------------------------- the module
def test_centers_start_at_samples_of_their_class() -> None:
    rsg = _small_rsg(in_channels=2, n_classes=3, n_centers=4)
    before = rsg.centers.detach().clone()
    # Pooled features: class 0 -> (1, 1) and (3, 3); class 1 -> (-2, 5).
    x = torch.tensor([[1.0, 1.0], [3.0, 3.0], [-2.0, 5.0]])[:, :, None, None]
    x = x.expand(3, 2, 2, 3)
    rsg(x, torch.tensor([0, 0, 1]), [10, 5, 1])
    pooled = {tuple(row) for row in rsg.centers[0].tolist()}
    assert pooled <= {(1.0, 1.0), (3.0, 3.0)}
    assert torch.equal(rsg.centers[1], torch.tensor([[-2.0, 5.0]] * 4))
    assert torch.equal(rsg.centers[2], before[2])  # class 2 not seen yet
    assert rsg.centers_initialized.tolist() == [True, True, False]
    # Seen classes are initialised once; later batches leave them to L_CESC.
    rsg(x + 10.0, torch.tensor([0, 2, 1]), [10, 5, 1])
    assert torch.equal(rsg.centers[1], torch.tensor([[-2.0, 5.0]] * 4))
    assert torch.equal(rsg.centers[2], torch.tensor([[13.0, 13.0]] * 4))
    assert rsg.centers_initialized.all() and not rsg._centers_pending
    # Loading an uninitialised state makes the module look at the buffer again.
    rsg.load_state_dict(
        _small_rsg(in_channels=2, n_classes=3, n_centers=4).state_dict()
    )
    assert rsg._centers_pending and not rsg.centers_initialized.any()


def test_generated_sample_is_transformed_displacement_plus_rare_sample() -> None:
    rsg = _small_rsg(in_channels=2, n_classes=2, kernel_size=1)
    rsg.centers_initialized.fill_(True)
    with torch.no_grad():
        rsg.transform.weight.copy_(torch.eye(2)[:, :, None, None])  # T = identity
        rsg.centers.zero_()
        rsg.centers[0, 1] = torch.tensor([1.0, -1.0])
        rsg.assign_weight.zero_()
        rsg.assign_bias.zero_()
        rsg.assign_bias[:, 1] = 10.0  # nearest center: index 1
    a, b, c = torch.randn(3, 2, 3, 2)
    x = torch.stack([a, b, c])  # class 0 (frequent), then two of class 1 (rare)
    out = rsg(x, torch.tensor([0, 1, 1]), [100, 10], generate=True)
    assert out.n_generated == 2  # max(floor(1 / 2), 1) * 2
    center = torch.tensor([1.0, -1.0])[:, None, None]
    assert torch.allclose(out.features[3], (a - center) + b)
    assert torch.allclose(out.features[4], (a - center) + c)
    assert out.targets.tolist() == [0, 1, 1, 1, 1]
    assert torch.equal(out.features[:3], x)


@pytest.mark.parametrize("shape", [(7, 4, 5, 3), (7, 4, 1, 6), (7, 4, 2, 2), (7, 4)])
@pytest.mark.parametrize("generate", [False, True])
def test_odd_batches_any_map_shape_and_vectors(shape, generate) -> None:
    rsg = _small_rsg(kernel_size=1 if len(shape) == 2 else 3)
    x = torch.randn(*shape, requires_grad=True)
    y = torch.tensor([0, 0, 0, 0, 0, 1, 2])  # 5 frequent, 2 rare
    out = rsg(x, y, torch.tensor([50, 10, 5]), generate=generate)
    expected_new = 4 if generate else 0  # floor(5 / 2) = 2 per rare sample
    assert out.n_generated == expected_new
    assert out.features.shape == (7 + expected_new, *shape[1:])
    assert out.targets[7:].tolist() == ([1, 2, 1, 2] if generate else [])
    loss = out.features.pow(2).mean() + out.cesc_loss + out.mv_loss
    loss.backward()
    assert torch.isfinite(x.grad).all()
    assert (out.mv_loss.item() > 0) == generate


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_tiny_batches(batch_size: int) -> None:
    rsg = _small_rsg()
    x = torch.randn(batch_size, 4, 3, 3)
    y = torch.tensor([0, 1, 2][:batch_size])
    for generate in (False, True):
        out = rsg(x, y, [9, 3, 1], generate=generate)
        assert torch.isfinite(out.cesc_loss) and torch.isfinite(out.mv_loss)
        (out.cesc_loss + out.mv_loss).backward()


@pytest.mark.parametrize("labels", [[0, 0, 0, 0], [1, 2, 1, 2]])
def test_batch_without_frequent_or_rare_generates_nothing(labels) -> None:
    rsg = _small_rsg()
    x = torch.randn(4, 4, 3, 2, requires_grad=True)
    out = rsg(x, torch.tensor(labels), [100, 10, 10], generate=True)
    assert out.n_generated == 0
    assert torch.equal(out.features, x) and out.targets.tolist() == labels
    assert out.mv_loss.item() == 0.0
    (out.features.sum() + out.cesc_loss + out.mv_loss).backward()


def test_gradients_follow_algorithm_1() -> None:
    rsg = _small_rsg()
    y = torch.tensor([0, 0, 0, 1, 2])
    counts = [40, 5, 3]

    # Before the threshold: CESC trains centers, assignment and the
    # contrastive module, never the backbone features.
    x = torch.randn(5, 4, 3, 3, requires_grad=True)
    out = rsg(x, y, counts, generate=False)
    out.cesc_loss.backward()
    assert x.grad is None
    for p in (
        rsg.centers,
        rsg.assign_weight,
        rsg.assign_bias,
        rsg.contrastive.conv1.weight,
    ):
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert rsg.transform.weight.grad is None

    # After: MV trains T only (the contrastive module is frozen).
    rsg.zero_grad(set_to_none=True)
    x = torch.randn(5, 4, 3, 3, requires_grad=True)
    out = rsg(x, y, counts, generate=True)
    assert out.n_generated > 0
    out.mv_loss.backward()
    assert x.grad is None
    assert rsg.transform.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in rsg.contrastive.parameters())
    assert rsg.centers.grad is None

    # The classification loss of the new samples reaches T and the backbone,
    # not the centers.
    rsg.zero_grad(set_to_none=True)
    x = torch.randn(5, 4, 3, 3, requires_grad=True)
    out = rsg(x, y, counts, generate=True)
    out.features[5:].pow(2).sum().backward()
    assert x.grad.abs().sum() > 0
    assert rsg.transform.weight.grad.abs().sum() > 0
    assert rsg.centers.grad is None


def test_contrastive_pairs_from_a_permutation() -> None:
    rsg = _small_rsg()
    x = torch.randn(5, 4, 2, 2)
    y = torch.tensor([0, 1, 0, 2, 0])
    perm = torch.tensor([4, 1, 0, 2, 3])
    # Pairs (4, 0) same class, (1, 2) different; sample 3 sits out.
    logits = rsg.contrastive(x[[4, 1]], x[[0, 2]])
    expected = F.cross_entropy(logits, torch.tensor([0, 1]))
    assert torch.allclose(rsg.contrastive_loss(x, y, perm), expected)


def test_wrong_inputs_are_explained() -> None:
    rsg = _small_rsg()
    with pytest.raises(ValueError, match="built for 4 channels"):
        rsg(torch.randn(3, 5, 2, 2), torch.tensor([0, 1, 2]), [3, 2, 1])
    with pytest.raises(ValueError, match="feature maps"):
        rsg(torch.randn(3, 4, 2), torch.tensor([0, 1, 2]), [3, 2, 1])


def test_module_pickles_and_keeps_the_input_device() -> None:
    rsg = _small_rsg()
    clone = pickle.loads(pickle.dumps(rsg))
    x, y = torch.randn(6, 4, 3, 3), torch.tensor([0, 0, 0, 0, 1, 2])
    torch.manual_seed(1)
    a = rsg(x, y, [9, 2, 1], generate=True)
    torch.manual_seed(1)
    b = clone(x, y, [9, 2, 1], generate=True)
    assert torch.equal(a.features, b.features)
    assert a.features.device == x.device and a.targets.device == x.device


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_module_on_cuda() -> None:
    rsg = _small_rsg().cuda()
    x = torch.randn(6, 4, 3, 5, device="cuda", requires_grad=True)
    y = torch.tensor([0, 0, 0, 0, 1, 2], device="cuda")
    out = rsg(x, y, [9, 2, 1], generate=True)  # counts on the CPU
    assert out.features.is_cuda and out.targets.is_cuda and out.n_generated == 4
    (out.features.sum() + out.cesc_loss + out.mv_loss).backward()


# ------------------------------------------------- the fused computations
@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("shape", [(9, 5, 2, 3), (9, 5)])
def test_fused_center_term_equals_the_public_functions(grouped, shape) -> None:
    # The module's CESC center term is one autograd node with a written-out
    # backward (_CenterTerm): it must give what assignment() and
    # center_distances() compose, and the same gradients. grouped=True lays
    # the samples out by class (the CPU), False multiplies with every
    # class's table (CUDA).
    from skremix.nn._rsg_autograd import _CenterTerm

    rsg = _small_rsg(in_channels=5, n_classes=4, n_centers=3)
    x = torch.randn(*shape)
    x4 = x if x.ndim == 4 else x[:, :, None, None]
    y = torch.tensor([0, 3, 3, 1, 0, 3, 3, 3, 1])  # class 2 absent
    pooled = x4.mean(dim=(2, 3))
    params = (rsg.centers, rsg.assign_weight, rsg.assign_bias)

    gamma = rsg.assignment(pooled, y)
    ref = (gamma * center_distances(x4, rsg.centers, y)).sum(dim=1).mean()
    ref_grads = torch.autograd.grad(ref, params)
    n_pos = x4.shape[2] * x4.shape[3]
    sq = x4.pow(2).sum(dim=(1, 2, 3))
    loss, nearest = _CenterTerm.apply(pooled, sq, y, n_pos, True, grouped, *params)
    grads = torch.autograd.grad(loss, params)
    assert torch.allclose(loss, ref, rtol=1e-6)
    for g, r in zip(grads, ref_grads, strict=True):
        assert torch.allclose(g, r, rtol=1e-5, atol=1e-6)
    assert not grads[0][2].any() and not grads[1][2].any()  # absent class
    assert torch.equal(nearest, y * 3 + gamma.argmax(dim=1))


@pytest.mark.parametrize("grouped", [False, True])
def test_fused_center_term_gradient_check(grouped) -> None:
    from skremix.nn._rsg_autograd import _CenterTerm

    dt = torch.float64
    y = torch.tensor([0, 2, 2, 0, 2, 1, 2])
    pooled = torch.randn(7, 4, dtype=dt)
    sq = 6 * pooled.pow(2).sum(dim=1) + 1.0  # maps of 6 positions
    params = [
        torch.randn(3, 2, 4, dtype=dt, requires_grad=True),
        torch.randn(3, 2, 4, dtype=dt, requires_grad=True),
        torch.randn(3, 2, dtype=dt, requires_grad=True),
    ]

    def term(*p):
        return _CenterTerm.apply(pooled, sq, y, 6, False, grouped, *p)[0]

    assert torch.autograd.gradcheck(term, params)


@pytest.mark.parametrize("shape", [(6, 5, 3, 2), (6, 5)])
def test_fused_mv_terms_equal_the_public_functions(shape) -> None:
    from skremix.nn._rsg_autograd import _mv_terms

    t = torch.randn(*shape, requires_grad=True)
    r, v = torch.randn(*shape), torch.randn(*shape)
    as_maps = (lambda a: a) if len(shape) == 4 else (lambda a: a[:, :, None, None])
    ref = mv_direction_loss(as_maps(t), as_maps(r)) + mv_length_loss(
        as_maps(t), as_maps(v)
    )
    fused = _mv_terms(t, r, v)
    assert torch.allclose(fused, ref, rtol=1e-6)
    (g_ref,) = torch.autograd.grad(ref.sum(), t)
    (g_fused,) = torch.autograd.grad(fused.sum(), t)
    assert torch.allclose(g_fused, g_ref, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("generate", [False, True])
def test_vectors_and_1x1_maps_give_the_same_step(generate) -> None:
    # Vectors are computed on as (B, D) without the 1x1 reshapes; they must
    # be the same function as 1x1 maps.
    y = torch.tensor([0, 0, 0, 0, 0, 1, 2, 0])
    x = torch.randn(8, 4)
    outs, grads = [], []
    for features in (x, x[:, :, None, None]):
        torch.manual_seed(0)
        rsg = _small_rsg(kernel_size=3)
        torch.manual_seed(1)
        feat = features.clone().requires_grad_(True)
        out = rsg(feat, y, [50, 10, 5], generate=generate)
        (out.features.square().sum() + out.cesc_loss + out.mv_loss).backward()
        outs.append(out)
        grads.append([feat.grad.flatten(1)] + [p.grad for p in rsg.parameters()])
    vec, maps = outs
    assert vec.n_generated == maps.n_generated == (6 if generate else 0)  # 3 per rare
    assert vec.features.shape == (8 + vec.n_generated, 4)
    assert maps.features.shape == (8 + vec.n_generated, 4, 1, 1)
    assert torch.allclose(vec.features, maps.features.flatten(1))
    assert torch.equal(vec.targets, maps.targets)
    assert torch.allclose(vec.cesc_loss, maps.cesc_loss)
    assert torch.allclose(vec.mv_loss, maps.mv_loss)
    for a, b in zip(*grads, strict=True):
        assert (a is None) == (b is None)
        assert a is None or torch.allclose(a, b, atol=1e-6)


def test_frequent_classes_are_computed_once_per_counts() -> None:
    rsg = _small_rsg()
    counts = torch.tensor([50, 10, 5])
    x, y = torch.randn(6, 4, 2, 2), torch.tensor([0, 0, 0, 1, 2, 2])
    rsg(x, y, counts, generate=True)
    mask = rsg._frequent(counts, x.device)
    assert mask.tolist() == [True, False, False]
    assert rsg._frequent(counts, x.device) is mask  # kept for the same tensor
    counts[2] = 100  # modified in place: its version changes
    assert rsg._frequent(counts, x.device).tolist() == [False, False, True]
    rsg.frequent_ratio = 1.0
    assert rsg._frequent(counts, x.device).all()
    # A list is not kept (it could change unseen); a pickle holds no cache.
    assert rsg._frequent([50, 10, 5], x.device).all()
    assert "_frequent_cache" not in pickle.loads(pickle.dumps(rsg)).__dict__


@pytest.mark.parametrize("shape", [(8, 4, 3, 3), (8, 4)])
def test_bf16_autocast(shape) -> None:
    # precision='bf16': the fused center term runs in float32 inside
    # autocast; forward and backward work in both phases.
    rsg = _small_rsg(kernel_size=1 if len(shape) == 2 else 3)
    y = torch.tensor([0, 0, 0, 0, 0, 1, 2, 0])
    for generate in (False, True):
        rsg.zero_grad(set_to_none=True)
        x = torch.randn(*shape, requires_grad=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = rsg(x, y, [50, 10, 5], generate=generate)
            loss = out.features.float().square().mean() + out.cesc_loss + out.mv_loss
        loss.backward()
        assert out.cesc_loss.dtype == torch.float32
        assert torch.isfinite(x.grad).all()
        for p in (rsg.centers, rsg.assign_weight, rsg.assign_bias):
            assert p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all()


@pytest.mark.parametrize("grouped", [False, True])
def test_fused_center_term_keeps_its_own_copy_of_vector_features(grouped) -> None:
    # The features after the hook may be changed in place by the network
    # (an in-place ReLU): the backward must not depend on them.
    from skremix.nn._rsg_autograd import _CenterTerm

    rsg = _small_rsg(in_channels=5, n_classes=4, n_centers=3)
    pooled = torch.randn(6, 5)
    y = torch.tensor([0, 1, 1, 3, 0, 1])
    params = (rsg.centers, rsg.assign_weight, rsg.assign_bias)
    sq = pooled.pow(2).sum(dim=1)
    ref = torch.autograd.grad(
        _CenterTerm.apply(pooled.clone(), sq, y, 1, False, grouped, *params)[0],
        params,
    )
    loss, _ = _CenterTerm.apply(pooled, sq, y, 1, False, grouped, *params)
    pooled.relu_()
    for g, r in zip(torch.autograd.grad(loss, params), ref, strict=True):
        assert torch.equal(g, r)


@pytest.mark.parametrize("kernel_size", [1, 3])
def test_fused_generation_on_vectors_equals_the_composed_terms(kernel_size) -> None:
    # On vector features the new samples and L_MV are one node with a
    # written-out backward (_FlatGeneration); the map path composes them
    # from _conv, the frozen contrastive module and the public MV terms.
    from skremix.nn._rsg_autograd import _conv, _FlatGeneration

    rsg = _small_rsg(kernel_size=kernel_size)
    c = rsg.contrastive
    frozen = [p.detach() for p in c.parameters()]
    picked = torch.randn(6, 4, requires_grad=True)  # 3 frequent, then 3 rare
    near = torch.randn(6, 4)
    w = rsg.transform.weight

    disp = picked - near
    v, v_d = disp[:3], disp[:3].detach()
    ref_new = _conv(v, w, None) + picked[3:]
    t = _conv(v_d, w, None)
    log_diff = F.log_softmax(c(t, picked[:3].detach(), frozen=True), dim=1)[:, 1]
    ref_mv = (
        mv_direction_loss(t[:, :, None, None], disp[3:, :, None, None].detach())
        + mv_length_loss(t[:, :, None, None], v_d[:, :, None, None])
        - log_diff
    ).mean()
    new, mv = _FlatGeneration.apply(picked, near, w, *frozen)
    assert torch.allclose(new, ref_new) and torch.allclose(mv, ref_mv)

    g_new = torch.randn(3, 4)
    for out, ref in (((new * g_new).sum(), (ref_new * g_new).sum()), (mv, ref_mv)):
        grads = torch.autograd.grad(out, (picked, w), retain_graph=True)
        refs = torch.autograd.grad(ref, (picked, w), allow_unused=True)
        for g, r in zip(grads, refs, strict=True):
            # L_MV sends nothing to the features (its inputs count as detached).
            assert not g.any() if r is None else torch.allclose(g, r, atol=1e-6)


@pytest.mark.parametrize("kernel_size", [1, 3])
def test_fused_generation_gradient_check(kernel_size) -> None:
    from skremix.nn._rsg_autograd import _FlatGeneration

    rsg = _small_rsg(kernel_size=kernel_size).double()
    frozen = [p.detach() for p in rsg.contrastive.parameters()]
    picked = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    near = torch.randn(6, 4, dtype=torch.float64)
    w = rsg.transform.weight.detach().requires_grad_(True)
    # The new samples depend on the features and T; L_MV (its inputs taken
    # as detached) on T only.
    assert torch.autograd.gradcheck(
        lambda p, w: _FlatGeneration.apply(p, near, w, *frozen)[0], (picked, w)
    )
    assert torch.autograd.gradcheck(
        lambda w: _FlatGeneration.apply(picked.detach(), near, w, *frozen)[1], (w,)
    )


def test_gradients_follow_algorithm_1_on_vectors() -> None:
    # The fused vector path routes gradients as the map path does.
    rsg = _small_rsg(kernel_size=1)
    y = torch.tensor([0, 0, 0, 1, 2])
    rsg(torch.randn(5, 4), y, [40, 5, 3])  # centers start at other samples
    out = rsg(torch.randn(5, 4, requires_grad=True), y, [40, 5, 3], generate=True)
    assert out.n_generated > 0
    out.mv_loss.backward()
    assert rsg.transform.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in rsg.contrastive.parameters())
    assert rsg.centers.grad is None

    rsg.zero_grad(set_to_none=True)
    x = torch.randn(5, 4, requires_grad=True)
    out = rsg(x, y, [40, 5, 3], generate=True)
    out.features[5:].pow(2).sum().backward()
    assert x.grad.abs().sum() > 0 and not x.grad[3:].eq(0).all()
    assert rsg.transform.weight.grad.abs().sum() > 0
    assert rsg.centers.grad is None
