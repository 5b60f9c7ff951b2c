"""The Remix label rule (Eq. 10) and the soft-label loss, with hand-made numbers."""

import math

import pytest
import torch

from skremix.losses import soft_cross_entropy
from skremix.mixing import mixed_targets, remix_label_factor


def test_three_cases_of_eq10_on_a_hand_made_batch():
    # counts: class 0 has 900 samples, class 1 has 100, class 2 has 60.
    counts = torch.tensor([900, 100, 60])
    y = torch.tensor([0, 1, 1, 2])
    perm = torch.tensor([1, 0, 3, 2])
    n_i, n_j = counts[y], counts[y[perm]]
    # pair ratios n_i / n_j: 9, 1/9, 100/60 = 1.67, 0.6
    lam = 0.3
    # sample 0: ratio 9 >= 3 and lam 0.3 < 0.5 -> 0 (all to the minority partner)
    # sample 1: ratio 1/9 <= 1/3 but 1 - lam = 0.7 is not < 0.5 -> lam
    # samples 2, 3: ratios 1.67 and 0.6 are within (1/3, 3) -> lam
    assert torch.allclose(
        remix_label_factor(lam, n_i, n_j), torch.tensor([0.0, 0.3, 0.3, 0.3])
    )
    lam = 0.8
    # sample 0: lam 0.8 is not < 0.5 -> lam; sample 1: ratio 1/9 and 1 - lam = 0.2
    # < 0.5 -> 1
    assert torch.allclose(
        remix_label_factor(lam, n_i, n_j), torch.tensor([0.8, 1.0, 0.8, 0.8])
    )


def test_boundaries_are_inclusive_on_ratio_strict_on_tau():
    n_i, n_j = torch.tensor([30.0, 10.0]), torch.tensor([10.0, 30.0])
    # ratio exactly kappa = 3 counts as majority; lam exactly tau does not trigger
    assert remix_label_factor(
        0.49, n_i, n_j, kappa=3, tau=0.5
    ).tolist() == pytest.approx([0.0, 0.49])
    assert remix_label_factor(
        0.5, n_i, n_j, kappa=3, tau=0.5
    ).tolist() == pytest.approx([0.5, 0.5])
    assert remix_label_factor(
        0.51, n_i, n_j, kappa=3, tau=0.5
    ).tolist() == pytest.approx([0.51, 1.0])


@pytest.mark.parametrize("lam", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_tau_zero_is_the_base_method(lam):
    n_i, n_j = torch.tensor([1000.0, 1.0, 5.0]), torch.tensor([1.0, 1000.0, 5.0])
    assert torch.equal(
        remix_label_factor(lam, n_i, n_j, tau=0.0), torch.full((3,), float(lam))
    )


def test_mixed_targets_keep_every_class_column():
    t = mixed_targets(
        torch.tensor([1, 1]), torch.tensor([1, 0]), torch.tensor([0.25, 1.0]), 4
    )
    assert t.shape == (2, 4)
    assert torch.allclose(t, torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]))
    assert torch.allclose(t.sum(1), torch.ones(2))


def test_single_majority_minority_pair_gets_the_minority_label():
    # A majority sample (class 0, 1000 samples) and a minority one (class 1,
    # 10 samples), lam = 0.2 for the batch. Sample 0 is 0.2 * majority + 0.8 *
    # minority: the majority share 0.2 < tau, so its label is the pure minority
    # class. Sample 1 is 0.2 * minority + 0.8 * majority: no rule fires, lam_y
    # stays 0.2, i.e. target (0.8, 0.2).
    counts = torch.tensor([1000, 10])
    y, perm = torch.tensor([0, 1]), torch.tensor([1, 0])
    lam_y = remix_label_factor(0.2, counts[y], counts[y[perm]])
    assert lam_y.tolist() == pytest.approx([0.0, 0.2])
    targets = mixed_targets(y, perm, lam_y, 2)
    assert torch.allclose(targets, torch.tensor([[0.0, 1.0], [0.8, 0.2]]))
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    loss = soft_cross_entropy(logits, targets)
    expected = [
        math.log(1 + math.exp(2.0)),  # CE of class 1 for logits (2, 0)
        0.8 * math.log(1 + math.exp(1.0)) + 0.2 * math.log(1 + math.exp(-1.0)),
    ]
    assert loss.tolist() == pytest.approx(expected, rel=1e-6)
    # The public re-implementation averages CE over the batch first,
    # mean(lam_y) * CE(y) + (1 - mean(lam_y)) * CE(y_perm): a different number,
    # because sample 0's relabelling is diluted by sample 1's lam.
    lam_mean = lam_y.mean()
    wrong = lam_mean * torch.nn.functional.cross_entropy(logits, y) + (
        1 - lam_mean
    ) * torch.nn.functional.cross_entropy(logits, y[perm])
    assert abs(wrong.item() - loss.mean().item()) > 0.05


@pytest.mark.parametrize("kappa", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("tau", [0.0, 0.3, 0.5, 1.0])
def test_host_scalar_and_tensor_lambda_give_the_same_factor(kappa, tau):
    # A host lambda takes the no-copy path (decided on the host, masked fills
    # on the device); a per-sample tensor takes the elementwise path. Both
    # must give Eq. 10, including kappa = 1 where a ratio of exactly 1 can
    # meet both conditions (then lam_y = lam).
    gen = torch.Generator().manual_seed(0)
    counts = torch.tensor([500, 100, 100, 20, 3])
    y = torch.randint(0, 5, (64,), generator=gen)
    perm = torch.randperm(64, generator=gen)
    n_i, n_j = counts[y], counts[y[perm]]
    for lam in (0.0, 0.2, 0.3, 0.5, 0.7, 0.95, 1.0):
        scalar = remix_label_factor(lam, n_i, n_j, kappa=kappa, tau=tau)
        tensor = remix_label_factor(
            torch.full((64,), lam), n_i, n_j, kappa=kappa, tau=tau
        )
        assert scalar.dtype == tensor.dtype == torch.float32
        assert torch.equal(scalar, tensor), (lam, kappa, tau)
        # (1 - lam) is rounded in float64 on the host path: last-bit equal.
        assert torch.allclose(
            mixed_targets(y, perm, lam, 5),
            mixed_targets(y, perm, torch.full((64,), lam), 5),
            rtol=0,
            atol=1e-7,
        )
    # kappa = 1, equal counts, lam = 0.4 with tau = 0.7: both rules fire, no
    # class is the minority -> lam_y = lam.
    same = torch.tensor([10.0])
    assert remix_label_factor(0.4, same, same, kappa=1.0, tau=0.7).tolist() == [
        pytest.approx(0.4)
    ]
