"""The Remix label rule (Chou et al. 2020, Eq. 10) and soft-label targets."""

from __future__ import annotations

import torch

__all__ = ["remix_label_factor", "mixed_targets"]


def remix_label_factor(
    lam: float | torch.Tensor,
    n_i: torch.Tensor,
    n_j: torch.Tensor,
    kappa: float = 3.0,
    tau: float = 0.5,
) -> torch.Tensor:
    r"""Per-sample label weight of Rebalanced Mixup.

    A sample ``x_i`` mixed as ``lam * x_i + (1 - lam) * x_j`` gets the label
    ``lam_y * y_i + (1 - lam_y) * y_j`` with

    .. math::

        \lambda_y = \begin{cases}
            0 & \text{if } n_i / n_j \ge \kappa \text{ and } \lambda < \tau, \\
            1 & \text{if } n_i / n_j \le 1/\kappa \text{ and } 1 - \lambda < \tau, \\
            \lambda & \text{otherwise,}
        \end{cases}

    where ``n_i``, ``n_j`` are the training-set counts of the two classes.
    When the majority sample contributes less than ``tau`` of the features,
    the mixed sample is labelled entirely as the minority class. A pair that
    meets both cases (possible only with ``kappa = 1``, equal counts and
    ``tau > 0.5``, when ``lam`` and ``1 - lam`` are both below ``tau``) has
    no minority class and keeps ``lam_y = lam``.

    Parameters
    ----------
    lam : float or torch.Tensor
        Feature mixing coefficient of ``x_i`` (a scalar for the batch, or one
        per sample).
    n_i, n_j : torch.Tensor of shape (B,)
        Training-set class counts of ``y_i`` and of its partner ``y_j``.
    kappa : float, default=3.0
        Count ratio from which a pair counts as majority/minority.
    tau : float, default=0.5
        Threshold on the feature share; ``tau = 0`` gives ``lam_y = lam``
        everywhere, i.e. the base mixing method.

    Returns
    -------
    lam_y : torch.Tensor of shape (B,)
        Float tensor on the device of ``n_i``.

    References
    ----------
    .. [1] H.-P. Chou, S.-C. Chang, J.-Y. Pan, W. Wei, D.-C. Juan, "Remix:
       Rebalanced Mixup", ECCV Workshops 2020.

    Examples
    --------
    >>> import torch
    >>> from skremix.mixing import remix_label_factor
    >>> n_i = torch.tensor([1000.0, 10.0, 100.0])
    >>> n_j = torch.tensor([10.0, 1000.0, 80.0])
    >>> remix_label_factor(0.3, n_i, n_j)  # majority x_i kept only 30%
    tensor([0.0000, 0.3000, 0.3000])
    >>> remix_label_factor(0.8, n_i, n_j)  # minority x_i kept 80%
    tensor([0.8000, 1.0000, 0.8000])
    """
    # Python numbers from any real (numpy scalars from a parameter grid):
    # a comparison with a numpy scalar gives a numpy bool, which torch reads
    # as a float tensor in the ``&`` below.
    kappa, tau = float(kappa), float(tau)
    ratio = n_i.to(torch.float32) / n_j.to(torch.float32)
    if isinstance(lam, torch.Tensor):
        lam = lam.to(dtype=torch.float32, device=ratio.device)
        lam_y = lam.expand_as(ratio).clone()
    else:
        # A host number stays one: the conditions on it are host booleans,
        # with no copy to the device (on CUDA that copy would make the host
        # wait for the device at every step), and at most one of the two
        # cases can apply unless both do (the general path below).
        lam = float(lam)
        lam_y = torch.full_like(ratio, lam)
        to_minority_j, to_minority_i = lam < tau, 1.0 - lam < tau
        if not to_minority_j and not to_minority_i:
            return lam_y
        if to_minority_j != to_minority_i:
            if to_minority_j:
                return lam_y.masked_fill(ratio >= kappa, 0.0)
            return lam_y.masked_fill(ratio <= 1.0 / kappa, 1.0)
    to_j = (ratio >= kappa) & (lam < tau)
    to_i = (ratio <= 1.0 / kappa) & (1.0 - lam < tau)
    # With kappa = 1 and tau > 0.5 an equal-count pair can meet both cases
    # (lam and 1 - lam both below tau): neither class is the minority there,
    # so such a pair keeps lam_y = lam.
    lam_y = lam_y.masked_fill(to_j & ~to_i, 0.0)
    return lam_y.masked_fill(to_i & ~to_j, 1.0)


def mixed_targets(
    y: torch.Tensor, perm: torch.Tensor, lam_y: float | torch.Tensor, n_classes: int
) -> torch.Tensor:
    """Soft targets ``lam_y * onehot(y) + (1 - lam_y) * onehot(y[perm])``.

    Parameters
    ----------
    y : torch.Tensor of shape (B,)
        Encoded labels ``0 .. n_classes - 1``.
    perm : torch.Tensor of shape (B,)
        Partner indices.
    lam_y : float or torch.Tensor of shape (B,)
        Label weight of each sample's own class.
    n_classes : int
        Number of columns: always all classes, present in the batch or not.

    Returns
    -------
    targets : torch.Tensor of shape (B, n_classes)
        Rows sum to 1.

    Examples
    --------
    >>> import torch
    >>> from skremix.mixing import mixed_targets
    >>> mixed_targets(torch.tensor([0, 2]), torch.tensor([1, 0]), 0.25, 3)
    tensor([[0.2500, 0.0000, 0.7500],
            [0.7500, 0.0000, 0.2500]])
    """
    # Scattered into zeros rather than built from one-hot rows: F.one_hot
    # checks the labels' range with a reduction at every call. The sums are
    # the same: lam_y where the partner's class differs, lam_y + (1 - lam_y)
    # where it is the same.
    y = y.long()
    targets = torch.zeros(len(y), n_classes, dtype=torch.float32, device=y.device)
    if isinstance(lam_y, torch.Tensor):
        lam_y = lam_y.to(dtype=torch.float32, device=y.device)
        lam_y = (lam_y.expand(len(y)) if lam_y.ndim == 0 else lam_y.reshape(-1))[
            :, None
        ]
        targets.scatter_(1, y[:, None], lam_y)
        return targets.scatter_add_(1, y[perm][:, None], 1.0 - lam_y)
    lam_y = float(lam_y)  # a host number: no device copy
    targets.scatter_(1, y[:, None], lam_y)
    rest = torch.full((len(y), 1), 1.0 - lam_y, dtype=torch.float32, device=y.device)
    return targets.scatter_add_(1, y[perm][:, None], rest)
