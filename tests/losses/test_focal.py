"""The focal loss of Lin et al. (2017), with hand-worked values: gamma = 0
is the cross-entropy bit for bit, a hand value at gamma = 2, soft targets
as the target-weighted sum of one-hot terms."""

import math

import pytest
import torch

from skremix.losses import batch_loss, focal_loss, ldam_margins, soft_cross_entropy


def test_gamma_zero_is_cross_entropy_bit_for_bit():
    torch.manual_seed(0)
    logits = torch.randn(6, 4)
    y = torch.tensor([0, 3, 1, 1, 2, 0])
    w = torch.tensor([0.5, 1.0, 2.0, 0.25])
    t = torch.softmax(torch.randn(6, 4), 1)
    assert torch.equal(focal_loss(logits, y, 0.0), soft_cross_entropy(logits, y))
    assert torch.equal(focal_loss(logits, y, 0.0, w), soft_cross_entropy(logits, y, w))
    assert torch.equal(focal_loss(logits, t, 0.0), soft_cross_entropy(logits, t))
    assert torch.equal(focal_loss(logits, t, 0.0, w), soft_cross_entropy(logits, t, w))
    assert torch.equal(
        focal_loss(logits, y, 0.0),
        torch.nn.functional.cross_entropy(logits, y, reduction="none"),
    )


def test_hand_value_at_gamma_two():
    # logits (log 3, 0): p = (3/4, 1/4).
    logits = torch.tensor([[math.log(3.0), 0.0]] * 2)
    got = focal_loss(logits, torch.tensor([0, 1]), 2.0)
    frequent = (1 / 4) ** 2 * -math.log(3 / 4)  # well classified: down-weighted
    rare = (3 / 4) ** 2 * -math.log(1 / 4)
    assert got.tolist() == pytest.approx([frequent, rare], rel=1e-6)
    # Class weights multiply (alpha_t of the paper).
    weighted = focal_loss(logits, torch.tensor([0, 1]), 2.0, torch.tensor([0.5, 3.0]))
    assert weighted.tolist() == pytest.approx([0.5 * frequent, 3 * rare], rel=1e-6)


def test_soft_target_is_the_target_weighted_sum_of_one_hot_terms():
    logits = torch.tensor([[math.log(3.0), 0.0]])
    got = focal_loss(logits, torch.tensor([[0.4, 0.6]]), 2.0)
    by_hand = 0.4 * (1 / 4) ** 2 * -math.log(3 / 4) + 0.6 * (3 / 4) ** 2 * -math.log(
        1 / 4
    )
    assert got.item() == pytest.approx(by_hand, rel=1e-6)
    # one-hot rows give the index formula
    one_hot = focal_loss(logits, torch.tensor([[0.0, 1.0]]), 2.0)
    assert one_hot.item() == pytest.approx(
        focal_loss(logits, torch.tensor([1]), 2.0).item()
    )


def test_gradient_is_finite_for_a_confident_sample_and_gamma_below_one():
    logits = torch.tensor([[60.0, 0.0]], requires_grad=True)
    focal_loss(logits, torch.tensor([0]), 0.5).sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_batch_loss_with_focal_gamma_is_the_mean_focal_loss():
    logits = torch.tensor([[math.log(3.0), 0.0]] * 2)
    y = torch.tensor([0, 1])
    frequent = (1 / 4) ** 2 * -math.log(3 / 4)
    rare = (3 / 4) ** 2 * -math.log(1 / 4)
    got = batch_loss(logits, y, focal_gamma=2.0)
    assert got.item() == pytest.approx((frequent + rare) / 2, rel=1e-6)
    got = batch_loss(logits, y, focal_gamma=2.0, sample_weight=torch.tensor([2.0, 0.0]))
    assert got.item() == pytest.approx(2 * frequent / 2, rel=1e-6)


def test_bad_gamma_and_ldam_are_refused():
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        focal_loss(torch.zeros(1, 2), torch.tensor([0]), -1.0)
    with pytest.raises(ValueError, match="ldam_margins cannot be combined"):
        batch_loss(
            torch.zeros(1, 2),
            torch.tensor([0]),
            ldam_margins=ldam_margins([3, 1]),
            focal_gamma=2.0,
        )
