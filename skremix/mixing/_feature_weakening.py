"""Major Feature Weakening (Ye et al. 2021): the class weight s(N) of Eq. 12
and the per-sample feature weakening of Algorithm 1."""

from __future__ import annotations

import torch

__all__ = ["mfw_strength", "mfw_mix"]


def mfw_strength(class_counts: torch.Tensor, beta: float) -> torch.Tensor:
    r"""Per-class weakening strength ``s(N_c)`` of MFW (Eq. 12).

    .. math::

        s(N_c) = 0.5 \, \sigma\!\left(\frac{N_c - \mu}{\beta \, \gamma}\right)

    with :math:`\sigma` the logistic sigmoid, :math:`\mu` the geometric mean
    and :math:`\gamma` the population standard deviation (``ddof=0``) of the
    class counts. A sample of class ``c`` has its mixing coefficient
    ``lam ~ Beta(alpha, alpha)`` multiplied by ``s(N_c)``: larger classes
    are weakened more, and since ``s < 0.5`` a sample's own feature always
    keeps at least half of the weight.

    Parameters
    ----------
    class_counts : torch.Tensor of shape (n_classes,)
        Training-set count of every class (integers or floats, >= 0).
    beta : float
        Softness of the sigmoid, ``beta > 0``: the paper uses 2.0 for
        long-tailed and 0.01 (an almost hard step at ``mu``) for step
        imbalance.

    Returns
    -------
    s : torch.Tensor of shape (n_classes,)
        The float32 values, on the device of ``class_counts``, non-decreasing
        in the count. Mathematically in ``(0, 0.5)``; a saturated sigmoid
        (small ``beta``) rounds to exactly 0 or 0.5 in float32.

    Notes
    -----
    - Balanced counts (all equal, so :math:`\gamma = 0`) give ``s = 0`` for
      every class: no weakening, and no division by zero. The test is an
      exact equality of the counts, not a floating-point ``gamma == 0``.
    - A count of 0 (a class absent from the training part) is clamped to 1
      in the geometric mean only, so that :math:`\mu` stays positive; the
      standard deviation and the numerator use the counts as given.
    - The paper does not say which standard deviation it uses; skremix uses
      the population one (divide by ``C``), which is defined for ``C = 2``
      and scale-equivariant like :math:`\mu`, so ``s`` depends only on the
      shape of the count profile, not on its scale.

    References
    ----------
    .. [1] H.-J. Ye, D.-C. Zhan, W.-L. Chao, "Procrustean Training for
       Imbalanced Deep Learning", ICCV 2021.

    Examples
    --------
    >>> import torch
    >>> from skremix.mixing import mfw_strength
    >>> s = mfw_strength(torch.tensor([100, 10]), beta=1.0)
    >>> s  # mu = sqrt(1000) = 31.6, gamma = 45
    tensor([0.4102, 0.1911])
    >>> mfw_strength(torch.tensor([100, 100, 10, 10]), beta=0.01).round(decimals=4)
    tensor([0.5000, 0.5000, 0.0000, 0.0000])
    >>> mfw_strength(torch.tensor([50, 50]), beta=2.0)  # balanced
    tensor([0., 0.])
    """
    if not isinstance(class_counts, torch.Tensor):
        raise TypeError(
            f"class_counts must be a torch.Tensor, got {type(class_counts).__name__}."
        )
    if class_counts.ndim != 1 or class_counts.numel() == 0:
        raise ValueError(
            "class_counts must be a non-empty one-dimensional tensor; got shape "
            f"{tuple(class_counts.shape)}."
        )
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta!r}.")
    beta = float(beta)  # any real; a Python number in the torch ops
    counts = class_counts.to(torch.float32)
    mu = torch.exp(torch.log(counts.clamp_min(1.0)).mean())
    gamma = counts.std(correction=0)
    balanced = (class_counts == class_counts[0]).all()
    # Where balanced, gamma is 0: divide by 1 instead and mask the result.
    scale = beta * torch.where(balanced, torch.ones_like(gamma), gamma)
    s = 0.5 * torch.sigmoid((counts - mu) / scale)
    return torch.where(balanced, torch.zeros_like(s), s)


def mfw_mix(h: torch.Tensor, lam: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    r"""Weaken each sample's feature with its partner's (MFW, Algorithm 1).

    .. math::

        \tilde z_n = (1 - \lambda_n) \, z_n + \lambda_n \, z_{\pi(n)}

    Note the order: ``lam`` is the weight of the *partner* (it is small for
    minority samples), the reverse of :func:`~skremix.mixing.mixup`, where
    ``lam`` weighs the sample itself. The partner term is not detached:
    gradients reach ``z[perm]`` as the paper's analysis requires.

    Parameters
    ----------
    h : torch.Tensor of shape (B, ...)
        Hidden features ``z = g(x)`` of the batch.
    lam : torch.Tensor of shape (B,)
        Per-sample partner weight, ``Beta(alpha, alpha)`` draws already
        multiplied by ``s(N_{y_n})``.
    perm : torch.Tensor of shape (B,)
        Index of each sample's partner.

    Returns
    -------
    z_tilde : torch.Tensor of shape (B, ...)
        Same dtype as ``h``.

    Examples
    --------
    >>> import torch
    >>> from skremix.mixing import mfw_mix
    >>> h = torch.tensor([[0.0], [10.0]])
    >>> mfw_mix(h, torch.tensor([0.2, 0.0]), torch.tensor([1, 0]))
    tensor([[ 2.],
            [10.]])
    """
    if lam.ndim != 1 or lam.shape[0] != h.shape[0]:
        raise ValueError(
            f"lam must have shape ({h.shape[0]},), one weight per sample; got "
            f"{tuple(lam.shape)}."
        )
    lam = lam.to(h.dtype).view(-1, *([1] * (h.ndim - 1)))
    # (1 - lam) * h + lam * h[perm], as one kernel forward and backward.
    return torch.lerp(h, h[perm], lam)
