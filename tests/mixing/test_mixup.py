"""Mixup and CutMix primitives and the hidden-layer hook."""

import numpy as np
import pytest
import torch
from torch import nn

from skremix.mixing import cutmix, cutmix_box, mixup, sample_lambda, transform_output_at


def test_mixup_scalar_and_per_sample_lambda():
    x = torch.tensor([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]])
    perm = torch.tensor([2, 0, 1])
    assert torch.allclose(mixup(x, 0.25, perm), 0.25 * x + 0.75 * x[perm])
    lam = torch.tensor([1.0, 0.5, 0.0])
    expected = torch.tensor([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])
    assert torch.allclose(mixup(x, lam, perm), expected)


@pytest.mark.parametrize(
    "lam, cy, cx",
    [(0.75, 4, 4), (0.5, 0, 0), (0.9, 7, 2), (0.0, 3, 3), (1.0, 3, 3), (0.3, 1, 6)],
)
def test_cutmix_lambda_equals_the_unmasked_area(lam, cy, cx):
    x = torch.zeros(2, 1, 8, 8)
    x[1] = 1.0  # partner of sample 0 is all ones: ones in the result mark the box
    mixed, lam_area = cutmix(x, lam, torch.tensor([1, 0]), cy, cx)
    pasted = float(mixed[0].sum())
    assert lam_area == pytest.approx(1.0 - pasted / 64.0)
    # and the input is untouched
    assert float(x[0].sum()) == 0.0


def test_cutmix_box_by_hand():
    # lam = 0.75 -> side ratio sqrt(0.25) = 0.5 -> 5 x 5 on a 10 x 10 image,
    # half-sides of 2 (integer division) around (5, 5) -> rows 3:7
    assert cutmix_box(10, 10, 0.75, 5, 5) == (3, 7, 3, 7)


def test_cutmix_needs_images():
    with pytest.raises(ValueError, match="image batches"):
        cutmix(torch.zeros(2, 5), 0.5, torch.tensor([1, 0]), 0, 0)


def test_sample_lambda_is_seeded_and_in_range():
    a = [sample_lambda(0.4, np.random.default_rng(3)) for _ in range(2)]
    assert a[0] == a[1] and 0.0 <= a[0] <= 1.0
    draws = [sample_lambda(1.0, np.random.default_rng(s)) for s in range(400)]
    assert (
        abs(np.mean(draws) - 0.5) < 0.06
    )  # Beta(1, 1) has mean 1/2, sd 0.29/sqrt(400)
    with pytest.raises(ValueError, match="alpha"):
        sample_lambda(0.0, np.random.default_rng(0))


def test_hook_is_removed_even_on_error():
    net = nn.Sequential(nn.Identity(), nn.Identity())
    with pytest.raises(RuntimeError):
        with transform_output_at(net, "1", lambda h: h + 1):
            raise RuntimeError("boom")
    assert not net[1]._forward_hooks
    with pytest.raises(ValueError, match="not a submodule"):
        with transform_output_at(net, "nope", lambda h: h):
            pass
