"""The logit adjustment of Menon et al. (2021), with numbers worked out by
hand: the offsets, the logit-adjusted cross-entropy of a batch, soft targets,
and Balanced Softmax (Ren et al. 2020) as the same loss at tau = 1."""

import math

import pytest
import torch

from skremix.losses import batch_loss, ldam_margins, logit_adjustment


def test_offsets_are_tau_times_log_priors():
    # counts 3 and 1: priors 3/4 and 1/4
    assert torch.allclose(
        logit_adjustment([3, 1]), torch.tensor([math.log(0.75), math.log(0.25)])
    )
    assert torch.allclose(
        logit_adjustment([3, 1], tau=2.0),
        torch.tensor([2 * math.log(0.75), 2 * math.log(0.25)]),
    )
    assert torch.equal(logit_adjustment([3, 1], tau=0.0), torch.zeros(2))
    # An empty class is counted as 1: priors 4/5 and 1/5, finite.
    assert torch.allclose(
        logit_adjustment([4, 0]), torch.tensor([math.log(0.8), math.log(0.2)])
    )


def test_negative_tau_is_refused():
    with pytest.raises(ValueError, match="tau must be >= 0"):
        logit_adjustment([3, 1], tau=-1.0)


def _ce(z, y):
    """-log softmax(z)_y, in plain Python."""
    return -(z[y] - math.log(sum(math.exp(v) for v in z)))


def test_logit_adjusted_cross_entropy_of_a_two_sample_batch_by_hand():
    # Two samples, priors (3/4, 1/4): each logit gets log(prior) added.
    logits = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    y = torch.tensor([0, 1])
    a, b = math.log(0.75), math.log(0.25)
    by_hand = (_ce([1 + a, 0 + b], 0) + _ce([0 + a, 2 + b], 1)) / 2
    got = batch_loss(logits, y, logit_adjustment=logit_adjustment([3, 1]))
    assert got.item() == pytest.approx(by_hand, rel=1e-6)
    # The rare class's loss grows, the frequent class's shrinks (vs plain CE).
    plain = (_ce([1, 0], 0) + _ce([0, 2], 1)) / 2
    assert by_hand != pytest.approx(plain)


def test_balanced_softmax_is_the_loss_at_tau_one():
    # Ren et al.: -log(pi_y exp(z_y) / sum_k pi_k exp(z_k)).
    logits = torch.tensor([[0.3, -1.2, 0.8]])
    counts = [50, 10, 2]
    pi = [c / 62 for c in counts]
    z = logits[0].tolist()
    balanced_softmax = -math.log(
        pi[1]
        * math.exp(z[1])
        / sum(p * math.exp(v) for p, v in zip(pi, z, strict=True))
    )
    got = batch_loss(
        logits, torch.tensor([1]), logit_adjustment=logit_adjustment(counts)
    )
    assert got.item() == pytest.approx(balanced_softmax, rel=1e-6)


def test_soft_targets_stay_and_the_logits_are_adjusted():
    # A mixed target (0.3, 0.7): -sum_k t_k log softmax(z + delta)_k.
    logits = torch.tensor([[0.5, -0.5]])
    t = torch.tensor([[0.3, 0.7]])
    a, b = math.log(0.75), math.log(0.25)
    z = [0.5 + a, -0.5 + b]
    by_hand = 0.3 * _ce(z, 0) + 0.7 * _ce(z, 1)
    got = batch_loss(logits, t, logit_adjustment=logit_adjustment([3, 1]))
    assert got.item() == pytest.approx(by_hand, rel=1e-6)


def test_class_and_sample_weights_multiply_the_adjusted_losses():
    logits = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    y = torch.tensor([0, 1])
    a, b = math.log(0.75), math.log(0.25)
    l0, l1 = _ce([1 + a, b], 0), _ce([a, 2 + b], 1)
    got = batch_loss(
        logits,
        y,
        torch.tensor([0.5, 2.0]),
        logit_adjustment=logit_adjustment([3, 1]),
        sample_weight=torch.tensor([1.0, 3.0]),
    )
    assert got.item() == pytest.approx((0.5 * l0 + 3 * 2.0 * l1) / 2, rel=1e-6)


def test_ldam_margins_do_not_combine_with_an_adjustment():
    with pytest.raises(ValueError, match="ldam_margins cannot be combined"):
        batch_loss(
            torch.zeros(1, 2),
            torch.tensor([0]),
            ldam_margins=ldam_margins([3, 1]),
            logit_adjustment=logit_adjustment([3, 1]),
        )
