"""MFW class weight s(N) (Ye et al. 2021, Eq. 12) and feature weakening,
checked against numbers worked by hand."""

import math

import pytest
import torch

from skremix.mixing import mfw_mix, mfw_strength


def _sigmoid(a):
    return 1.0 / (1.0 + math.exp(-a))


def test_two_classes_by_hand():
    # counts 100, 10: geometric mean sqrt(1000) = 31.6228, population std
    # |100 - 10| / 2 = 45.
    mu, gamma = math.sqrt(1000.0), 45.0
    s = mfw_strength(torch.tensor([100, 10]), beta=1.0)
    expected = [0.5 * _sigmoid((100 - mu) / gamma), 0.5 * _sigmoid((10 - mu) / gamma)]
    assert s.tolist() == pytest.approx(expected, rel=1e-6)
    # numerically: (100 - 31.6228) / 45 = 1.51949, exp(-1.51949) = 0.21883,
    # 0.5 / 1.21883 = 0.41023
    assert s[0].item() == pytest.approx(0.41023, abs=1e-5)
    assert s[1].item() == pytest.approx(0.5 * _sigmoid(-0.48051), abs=1e-5)


def test_three_classes_and_beta_by_hand():
    counts = [400.0, 100.0, 25.0]
    mu = (400.0 * 100.0 * 25.0) ** (1 / 3)  # = 100
    mean = 175.0
    gamma = math.sqrt(((400 - mean) ** 2 + (100 - mean) ** 2 + (25 - mean) ** 2) / 3)
    assert mu == pytest.approx(100.0)
    for beta in (0.5, 2.0):
        s = mfw_strength(torch.tensor(counts), beta=beta)
        expected = [0.5 * _sigmoid((n - mu) / (beta * gamma)) for n in counts]
        assert s.tolist() == pytest.approx(expected, rel=1e-5)
    # The class at the geometric mean gets exactly 0.5 * sigmoid(0) = 0.25.
    assert mfw_strength(torch.tensor(counts), beta=2.0)[1].item() == pytest.approx(0.25)


def test_step_profile_with_small_beta_is_a_hard_step():
    s = mfw_strength(torch.tensor([500, 500, 500, 50, 50]), beta=0.01)
    assert s.tolist() == pytest.approx([0.5, 0.5, 0.5, 0.0, 0.0], abs=1e-6)


@pytest.mark.parametrize("counts", [[50, 50], [7, 7, 7, 7], [1], [0, 0, 0]])
def test_balanced_counts_give_no_weakening_and_no_nan(counts):
    s = mfw_strength(torch.tensor(counts), beta=2.0)
    assert torch.equal(s, torch.zeros(len(counts)))


def test_zero_count_is_clamped_in_the_geometric_mean():
    # counts 0, 4, 16: geometric mean of the clamped (1, 4, 16) = 4; the
    # population std of the raw counts: mean 20/3.
    mean = 20 / 3
    gamma = math.sqrt(((0 - mean) ** 2 + (4 - mean) ** 2 + (16 - mean) ** 2) / 3)
    s = mfw_strength(torch.tensor([0, 4, 16]), beta=1.0)
    expected = [0.5 * _sigmoid((n - 4.0) / gamma) for n in (0, 4, 16)]
    assert torch.isfinite(s).all()
    assert s.tolist() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("beta", [0.01, 0.5, 2.0, 10.0])
def test_monotone_and_in_range(beta):
    counts = torch.tensor([5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50])
    s = mfw_strength(counts, beta=beta)
    assert s.dtype == torch.float32 and s.shape == (10,)
    assert torch.all(s[:-1] >= s[1:])  # larger class, larger s
    assert torch.all(s >= 0) and torch.all(s <= 0.5)
    if beta >= 0.5:  # away from float32 saturation: strictly inside (0, 0.5)
        assert torch.all(s > 0) and torch.all(s < 0.5)
        assert torch.all(s[:-1] > s[1:])


def test_scale_invariant_in_the_counts():
    a = mfw_strength(torch.tensor([100, 30, 10]), beta=1.0)
    b = mfw_strength(torch.tensor([1000, 300, 100]), beta=1.0)
    assert torch.allclose(a, b, atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="beta"):
        mfw_strength(torch.tensor([3, 1]), beta=0.0)
    with pytest.raises(ValueError, match="one-dimensional"):
        mfw_strength(torch.tensor([[3, 1]]), beta=1.0)
    with pytest.raises(TypeError, match="torch.Tensor"):
        mfw_strength([3, 1], beta=1.0)


def test_mfw_mix_per_sample_partner_weight():
    h = torch.tensor([[0.0, 1.0], [10.0, 20.0], [4.0, 8.0]])
    lam = torch.tensor([0.5, 0.25, 0.0])
    perm = torch.tensor([1, 2, 0])
    # row 0: 0.5 * (0, 1) + 0.5 * (10, 20) = (5, 10.5)
    # row 1: 0.75 * (10, 20) + 0.25 * (4, 8) = (8.5, 17)
    # row 2: lam 0 keeps the sample itself
    expected = torch.tensor([[5.0, 10.5], [8.5, 17.0], [4.0, 8.0]])
    assert torch.allclose(mfw_mix(h, lam, perm), expected)


def test_mfw_mix_images_and_gradient_reaches_the_partner():
    h = torch.randn(3, 2, 4, 4, requires_grad=True)
    lam = torch.tensor([0.4, 0.0, 0.0])
    out = mfw_mix(h, lam, torch.tensor([2, 0, 1]))
    assert out.shape == h.shape
    out[0].sum().backward()
    # d out[0] / d h[0] = 0.6, d out[0] / d h[2] = 0.4, h[1] unused
    assert torch.allclose(h.grad[0], torch.full((2, 4, 4), 0.6))
    assert torch.allclose(h.grad[2], torch.full((2, 4, 4), 0.4))
    assert torch.equal(h.grad[1], torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="one weight per sample"):
        mfw_mix(h, torch.tensor(0.3), torch.tensor([2, 0, 1]))
