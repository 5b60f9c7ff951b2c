"""The batch loss of the training loop and its soft-label cross-entropy,
with numbers worked out by hand."""

import math

import pytest
import torch
import torch.nn.functional as F

from skremix.losses import batch_loss, ldam_logits, ldam_margins, soft_cross_entropy


def test_weighted_soft_cross_entropy_is_lam_weighted_class_weighted_ce():
    logits = torch.tensor([[1.0, 0.0, -1.0]])
    w = torch.tensor([0.5, 2.0, 1.0])
    t = torch.tensor([[0.25, 0.75, 0.0]])
    log_p = torch.log_softmax(logits, 1)[0]
    expected = -(0.25 * 0.5 * log_p[0] + 0.75 * 2.0 * log_p[1])
    assert soft_cross_entropy(logits, t, w).item() == pytest.approx(expected.item())
    # hard labels: w_y * CE
    hard = soft_cross_entropy(logits, torch.tensor([1]), w)
    assert hard.item() == pytest.approx((-2.0 * log_p[1]).item())


def test_batch_loss_divides_weighted_losses_by_the_batch_size():
    # logits (0, 0): each per-sample CE is log 2; weights 1 and 3.
    logits = torch.zeros(2, 2)
    w = torch.tensor([1.0, 3.0])
    got = batch_loss(logits, torch.tensor([0, 1]), w)
    assert got.item() == pytest.approx((1.0 + 3.0) * math.log(2) / 2)
    # torch's weighted mean divides by the sum of the weights instead.
    by_weights = F.cross_entropy(logits, torch.tensor([0, 1]), weight=w)
    assert by_weights.item() == pytest.approx(math.log(2))
    # one-hot probabilities give the same number as indices
    soft = batch_loss(logits, torch.eye(2), w)
    assert soft.item() == pytest.approx(got.item())


def test_batch_loss_without_weights_is_plain_cross_entropy():
    torch.manual_seed(0)
    logits, y = torch.randn(5, 3), torch.tensor([0, 2, 1, 1, 0])
    assert torch.equal(batch_loss(logits, y), F.cross_entropy(logits, y))


def test_batch_loss_with_ldam_margins_by_hand():
    # counts 16 and 1: margins 0.25 and 0.5; s = 2.
    m = ldam_margins([16, 1])
    logits = torch.tensor([[1.0, 0.5]])
    got = batch_loss(logits, torch.tensor([1]), ldam_margins=m, ldam_s=2.0)
    z = [2.0 * 1.0, 2.0 * (0.5 - 0.5)]  # margin subtracted from the true class
    expected = -(z[1] - math.log(math.exp(z[0]) + math.exp(z[1])))
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert torch.allclose(
        got,
        F.cross_entropy(
            ldam_logits(logits, torch.tensor([1]), m, 2.0), torch.tensor([1])
        ),
    )
    # A soft target (0.5, 0.5): one LDAM term per class, each with its margin.
    soft = batch_loss(logits, torch.tensor([[0.5, 0.5]]), ldam_margins=m, ldam_s=2.0)
    z0 = [2.0 * (1.0 - 0.25), 2.0 * 0.5]
    term0 = -(z0[0] - math.log(math.exp(z0[0]) + math.exp(z0[1])))
    assert soft.item() == pytest.approx(0.5 * term0 + 0.5 * expected, rel=1e-6)
