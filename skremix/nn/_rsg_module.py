"""The Rare-class Sample Generator (RSG) of Wang et al. (2021) as a torch module.

:class:`RSG` composes the pure functions of ``_rsg_maths.py`` and computes its
loss terms through the fused autograd nodes of ``_rsg_autograd.py``. Pure
torch: no skorch, no estimator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from skremix.nn._rsg_autograd import (
    _CenterTerm,
    _conv,
    _FlatGeneration,
    _float32,
    _mv_terms,
)
from skremix.nn._rsg_maths import (
    _class_dot,
    _take,
    frequent_class_mask,
    generation_pairs,
)

__all__ = ["RSG", "RSGOutput"]


class RSGOutput(NamedTuple):
    """What :meth:`RSG.forward` returns.

    A named tuple: the fields below are read as attributes (``out.features``)
    or unpacked in this order.

    Parameters
    ----------
    features : torch.Tensor of shape (B + s_new, ...)
        The input features with the new rare-class samples appended, in the
        layout of the input (``(B, D)`` or ``(B, D, H, W)``).
    targets : torch.Tensor of shape (B + s_new,)
        The labels, the new samples' rare labels appended.
    cesc_loss : torch.Tensor
        Scalar ``L_CESC`` (Eq. 5), unweighted.
    mv_loss : torch.Tensor
        Scalar ``L_MV`` (Eq. 6), unweighted; zero when nothing is generated.
    n_generated : int
        ``s_new``.

    Examples
    --------
    >>> import torch
    >>> from skremix.nn import RSG
    >>> rsg = RSG(in_channels=4, n_classes=2, n_centers=1, contrastive_channels=4)
    >>> out = rsg(torch.randn(3, 4), torch.tensor([0, 0, 1]), [30, 3])
    >>> features, targets, cesc_loss, mv_loss, n_new = out
    >>> type(out).__name__, out.n_generated, targets.tolist()
    ('RSGOutput', 0, [0, 0, 1])
    """

    features: torch.Tensor
    targets: torch.Tensor
    cesc_loss: torch.Tensor
    mv_loss: torch.Tensor
    n_generated: int


class _ContrastiveModule(nn.Module):
    """``gamma* = softmax(A* ave(h(cat[x1, x2])) + b*)`` (Eq. 2); output 1 is
    "the two samples belong to different classes"."""

    def __init__(self, in_channels: int, hidden: int, kernel_size: int) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv2d(2 * in_channels, hidden, kernel_size, padding=pad)
        self.conv2 = nn.Conv2d(hidden, hidden, kernel_size, padding=pad)
        self.linear = nn.Linear(hidden, 2)

    def forward(
        self, x1: torch.Tensor, x2: torch.Tensor, frozen: bool = False
    ) -> torch.Tensor:
        # frozen: gradients reach the inputs but not the module's parameters.
        def p(t: torch.Tensor) -> torch.Tensor:
            return t.detach() if frozen else t

        # Feature maps (n, D, H, W), or vectors (n, D) taken as 1x1 maps.
        z = torch.cat([x1, x2], dim=1)
        z = F.relu(_conv(z, p(self.conv1.weight), p(self.conv1.bias)))
        z = _conv(z, p(self.conv2.weight), p(self.conv2.bias))
        if z.ndim == 4:
            z = z.mean(dim=(2, 3))
        return F.linear(z, p(self.linear.weight), p(self.linear.bias))


class RSG(nn.Module):
    """Rare-class Sample Generator: a training-only module at a feature map.

    Given the feature maps ``x`` of a mini-batch (at one layer of a network)
    and their labels, it

    1. fits K centers per class with soft assignment
       ``gamma^l = softmax(A^l ave(x) + b^l)`` (center estimation, Eq. 1);
    2. trains a contrastive module to tell whether two samples share a class
       (Eq. 2), while ``generate`` is False; it is frozen afterwards;
    3. when ``generate`` is True, takes frequent-class displacements
       ``v = x_freq - up(C_K)`` from each sample's nearest center (Eq. 3),
       transforms them with one convolution ``T`` and adds them to real
       rare-class samples (Eq. 4): ``s_new`` new rare samples appended to the
       batch.

    Vector features ``(B, D)`` (after an MLP layer) are treated as
    ``(B, D, 1, 1)`` maps and returned as vectors. Every new tensor takes the
    device of the input.

    Parameters
    ----------
    in_channels : int
        ``D``, channels of the feature maps (or size of the feature vectors).
    n_classes : int
        Number of classes C.
    n_centers : int, default=15
        K, centers per class.
    frequent_ratio : float, default=0.2
        ``alpha`` in ``(0, 1]``: the top ``alpha * C`` classes by count are
        frequent (:func:`frequent_class_mask`). 0.2 for long-tailed, 0.5 for
        step imbalance in the paper.
    transfer_strength : float, default=1.0
        ``beta`` in ``(0, 1]`` (:func:`n_generated`). 1.0 for long-tailed,
        0.01 for step imbalance in the paper.
    contrastive_channels : int or None, default=None
        Channels of the two convolutions of the contrastive module. None
        means ``min(256, in_channels)``: the paper's 256 ("throughout the
        paper") wherever the features have at least 256 channels, as in its
        ImageNet-scale networks, and no wider than the features below that
        (see Notes). Pass 256 to reproduce the paper's CIFAR setting exactly.
        :class:`skremix.RSGClassifier` passes ``min(64, in_channels)`` on
        vector features or 1x1 maps.
    kernel_size : int, default=3
        Kernel of the contrastive convolutions and of ``T`` (odd, padded to
        keep the size). On 1x1 maps a 3x3 kernel only ever uses its centre tap,
        so 1 is the same function with 9 times fewer weights.

    Attributes
    ----------
    centers : torch.nn.Parameter of shape (C, K, D)
        The class centers ``C_i^l``. Standard-normal at construction; the
        first forward pass that sees class ``l`` sets its K centers to the
        pooled features of K random samples of ``l`` in the batch (see Notes).
    centers_initialized : torch.Tensor of shape (C,), dtype bool
        Buffer: whether each class's centers were set from data. Set it to
        True to keep centers given by hand.
    assign_weight : torch.nn.Parameter of shape (C, K, D)
        ``A^l`` of the soft assignment.
    assign_bias : torch.nn.Parameter of shape (C, K)
        ``b^l`` of the soft assignment.
    contrastive : torch.nn.Module
        The contrastive module (two convolutions, ReLU between, global average
        pooling, a linear layer to 2 outputs).
    transform : torch.nn.Conv2d
        ``T``, a bias-free convolution from D to D channels (a linear map).

    Notes
    -----
    With ``gamma`` the soft assignment and ``gamma*`` the contrastive
    module's probability that two samples come from different classes,

    .. math::

        L_{CESC} = \\Big\\langle \\sum_i \\gamma_i^l
            \\sum_{d,j,k} (x^l - up(C_i^l))^2_{d,j,k} \\Big\\rangle_s
            - \\big\\langle y \\log\\gamma^* + (1-y)\\log(1-\\gamma^*)
            \\big\\rangle_{s/2}

        L_{MV} = \\Big\\langle \\sum_{j,k} |\\cos(T(v)^{(j,k)},
            x_{fd-rare}^{(j,k)}) - 1|
            + \\sum_{j,k} \\big| \\|T(v)^{(j,k)}\\| - \\|v^{(j,k)}\\| \\big|
            - \\log\\gamma^*(T(v), x_{freq}) \\Big\\rangle_{s_{new}}

    Gradients follow Algorithm 1 of the paper: ``L_CESC`` is computed on
    detached features and trains the centers, the assignment and (before
    generation) the contrastive module; ``L_MV`` trains ``T`` only (its inputs
    and the frozen contrastive module are detached); the classification loss
    of the appended samples reaches ``T`` and the backbone, not the centers.
    The ``s/2`` contrastive pairs come from a random permutation, so odd
    batches work (the last sample sits out).

    The paper does not say how centers start. Random centers far from the
    features make the displacements ``x - up(C)`` mostly class offset, not
    intra-class variation, until ``L_CESC`` has pulled the centers in; with
    an adaptive optimizer (steps of about ``lr`` whatever the gradient) that
    takes thousands of steps at ``lr=1e-3``. So each class's centers start at
    the pooled features of samples of that class (a k-means style start),
    which is where ``L_CESC`` would take them.

    The contrastive module is no wider than the features by default because
    on a small network 256 channels cost more than the backbone: on the
    32-channel 16x16 maps of ResNet-32's ``layer2``, two 3x3 convolutions of
    width 256 take about 189 M multiply-adds per pair, 2.7 times the 69 M of
    a whole ResNet-32 forward pass on a 32x32 image (counted from the layer
    shapes).

    On a small network RSG's step is many small operations, so the forward
    pass computes the CESC center term as one autograd node with its
    backward written out, and on vector features (or 1x1 maps) the new
    samples with ``L_MV`` as another; the values are those of
    :meth:`assignment`, :func:`center_distances`, :func:`mv_direction_loss`
    and :func:`mv_length_loss` to float rounding. On the CPU each sample is
    multiplied with its own class's centers only (the batch laid out by
    class); on other devices with every class's, which needs no read-back of
    the layout's size. What this saves is timed by
    ``benchmarks/bench_cost.py`` (``benchmarks/results/cost/``).

    References
    ----------
    .. [1] J. Wang, T. Lukasiewicz, X. Hu, J. Cai, Z. Xu, "RSG: A Simple but
       Effective Module for Learning Imbalanced Datasets", CVPR 2021.

    Examples
    --------
    >>> import torch
    >>> from skremix.nn import RSG
    >>> rsg = RSG(in_channels=4, n_classes=3, n_centers=2, contrastive_channels=8)
    >>> x, y = torch.randn(6, 4, 5, 3), torch.tensor([0, 0, 0, 0, 1, 2])
    >>> out = rsg(x, y, class_counts=torch.tensor([100, 20, 5]), generate=True)
    >>> out.n_generated, out.features.shape, out.targets[6:].tolist()
    (4, torch.Size([10, 4, 5, 3]), [1, 2, 1, 2])
    """

    def __init__(
        self,
        in_channels: int,
        n_classes: int,
        n_centers: int = 15,
        frequent_ratio: float = 0.2,
        transfer_strength: float = 1.0,
        contrastive_channels: int | None = None,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        for name, value, low in [
            ("in_channels", in_channels, 1),
            ("n_classes", n_classes, 2),
            ("n_centers", n_centers, 1),
            (
                "contrastive_channels",
                1 if contrastive_channels is None else contrastive_channels,
                1,
            ),
            ("kernel_size", kernel_size, 1),
        ]:
            if int(value) != value or int(value) < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        if int(kernel_size) % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size!r}.")
        if not 0.0 < float(frequent_ratio) <= 1.0:
            raise ValueError(
                f"frequent_ratio must be in (0, 1], got {frequent_ratio!r}."
            )
        if not 0.0 < float(transfer_strength) <= 1.0:
            raise ValueError(
                f"transfer_strength must be in (0, 1], got {transfer_strength!r}."
            )
        self.in_channels = int(in_channels)
        self.n_classes = int(n_classes)
        self.n_centers = int(n_centers)
        self.frequent_ratio = float(frequent_ratio)
        self.transfer_strength = float(transfer_strength)
        self.contrastive_channels = (
            min(256, self.in_channels)
            if contrastive_channels is None
            else int(contrastive_channels)
        )
        self.kernel_size = int(kernel_size)

        shape = (self.n_classes, self.n_centers, self.in_channels)
        self.centers = nn.Parameter(torch.randn(shape))
        self.register_buffer(
            "centers_initialized", torch.zeros(self.n_classes, dtype=torch.bool)
        )
        self._centers_pending = True
        bound = 1.0 / math.sqrt(self.in_channels)
        self.assign_weight = nn.Parameter(torch.empty(shape).uniform_(-bound, bound))
        self.assign_bias = nn.Parameter(torch.zeros(self.n_classes, self.n_centers))
        self.contrastive = _ContrastiveModule(
            self.in_channels, self.contrastive_channels, self.kernel_size
        )
        self.transform = nn.Conv2d(
            self.in_channels,
            self.in_channels,
            self.kernel_size,
            padding=self.kernel_size // 2,
            bias=False,
        )

    @torch.no_grad()
    def _init_centers(self, pooled: torch.Tensor, y: torch.Tensor) -> None:
        """Set the centers of classes seen for the first time to the pooled
        features of K random samples of theirs in the batch (independent
        picks, so with replacement)."""
        if not self._centers_pending:
            return
        n_classes, n_centers = self.n_classes, self.n_centers
        present = torch.zeros(n_classes, dtype=torch.bool, device=y.device)
        present[y] = True
        todo = present & ~self.centers_initialized
        # For every (class, center) the batch sample of that class with the
        # highest random score: no loop. The one host synchronisation below
        # happens only until every class has been seen.
        scores = torch.rand(n_centers, y.numel(), device=y.device)
        own = y[None, :] == torch.arange(n_classes, device=y.device)[:, None]
        masked = torch.where(own[:, None, :], scores[None], -1.0)  # (C, K, B)
        picked = pooled[masked.argmax(dim=2)]  # (C, K, D)
        self.centers.copy_(torch.where(todo[:, None, None], picked, self.centers))
        self.centers_initialized |= present
        self._centers_pending = not bool(self.centers_initialized.all())

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        # As after the last batch that initialised centers: a loaded module
        # whose classes all have centers draws no initialisation scores (which
        # would consume the random stream of a resumed fit).
        self._centers_pending = not bool(self.centers_initialized.all())

    def assignment(self, pooled: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Soft assignment ``gamma^l = softmax(A^l pooled + b^l)`` (Eq. 1).

        Parameters
        ----------
        pooled : torch.Tensor of shape (n, D)
            Globally average-pooled features.
        y : torch.Tensor of shape (n,)
            Class indices.

        Returns
        -------
        gamma : torch.Tensor of shape (n, K)
            Each sample's weights over the K centers of its class (rows sum
            to 1).

        Examples
        --------
        >>> import torch
        >>> from skremix.nn import RSG
        >>> rsg = RSG(in_channels=3, n_classes=2, n_centers=4, contrastive_channels=4)
        >>> rsg.assignment(torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])).shape
        torch.Size([5, 4])
        """
        logits = _class_dot(pooled, self.assign_weight, y)
        return torch.softmax(logits + _take(self.assign_bias, y), dim=1)

    def contrastive_loss(
        self, x: torch.Tensor, y: torch.Tensor, perm: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Second CESC term: cross-entropy of "different class" on ``B // 2`` pairs.

        Pair ``i`` is ``(perm[i], perm[B // 2 + i])``; with an odd batch the
        last sample of ``perm`` sits out, and a single sample gives 0.

        Parameters
        ----------
        x : torch.Tensor of shape (B, D, H, W) or (B, D)
            Feature maps, or feature vectors (1x1 maps); detach them to keep
            the backbone out of it.
        y : torch.Tensor of shape (B,)
            Class indices.
        perm : torch.Tensor of shape (B,), optional
            Random permutation of the batch; drawn when None.

        Returns
        -------
        loss : torch.Tensor
            Scalar.

        Examples
        --------
        >>> import torch
        >>> from skremix.nn import RSG
        >>> rsg = RSG(in_channels=2, n_classes=2, n_centers=1, contrastive_channels=4)
        >>> rsg.contrastive_loss(torch.randn(1, 2, 3, 3), torch.tensor([0]))
        tensor(0.)
        """
        half = x.shape[0] // 2
        if half == 0:
            return x.new_zeros(())
        if perm is None:
            perm = torch.randperm(x.shape[0], device=x.device)
        pairs = perm[: 2 * half]
        xs, ys = _take(x, pairs), _take(y, pairs)
        logits = self.contrastive(xs[:half], xs[half:])
        return F.cross_entropy(logits, (ys[:half] != ys[half:]).long())

    def forward(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        class_counts: torch.Tensor | Sequence[int] | np.ndarray,
        generate: bool = False,
    ) -> RSGOutput:
        """Compute the step's losses and, with ``generate``, the augmented batch.

        Parameters
        ----------
        x : torch.Tensor of shape (B, D, H, W) or (B, D)
            Feature maps (any ``H x W``, square or not) or feature vectors.
        y : torch.Tensor of shape (B,)
            Class indices in ``[0, C)``.
        class_counts : torch.Tensor or array-like of shape (C,)
            Training-set class counts, for the frequent / rare split.
        generate : bool, default=False
            False before the epoch threshold: train the contrastive module,
            generate nothing. True after it: contrastive module frozen, new
            rare-class samples generated and ``L_MV`` computed.

        Returns
        -------
        output : RSGOutput
            ``(features, targets, cesc_loss, mv_loss, n_generated)``.

        Examples
        --------
        >>> import torch
        >>> from skremix.nn import RSG
        >>> rsg = RSG(in_channels=8, n_classes=2, n_centers=3, contrastive_channels=4)
        >>> out = rsg(torch.randn(5, 8), torch.tensor([0, 0, 0, 1, 1]), [30, 3])
        >>> out.n_generated, out.features.shape
        (0, torch.Size([5, 8]))
        """
        if x.ndim not in (2, 4):
            raise ValueError(
                "RSG takes feature maps (B, D, H, W) or feature vectors (B, D); "
                f"got a tensor of shape {tuple(x.shape)}."
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"RSG was built for {self.in_channels} channels but the features "
                f"have {x.shape[1]} (shape {tuple(x.shape)})."
            )
        # Vectors and 1x1 maps are computed on as (B, D) vectors: the same
        # values as 1x1 maps, without the reshapes.
        flat = x.ndim == 2 or x.shape[2] * x.shape[3] == 1
        h = x.flatten(1) if flat and x.ndim == 4 else x
        if y.dtype != torch.long or y.device != x.device:
            y = y.to(device=x.device, dtype=torch.long)
        hd = h.detach()
        if flat:
            pooled, n_pos = hd, 1
            sq = hd.pow(2).sum(dim=1)
        else:
            pooled, n_pos = hd.mean(dim=(2, 3)), x.shape[2] * x.shape[3]
            sq = hd.pow(2).sum(dim=(1, 2, 3))
        self._init_centers(pooled, y)
        cesc, nearest = _float32(
            _CenterTerm,
            pooled,
            sq,
            y,
            n_pos,
            generate,
            x.device.type == "cpu",
            self.centers,
            self.assign_weight,
            self.assign_bias,
        )
        if not generate:
            cesc = cesc + self.contrastive_loss(hd, y)

        s_new = 0
        if generate:
            is_frequent = torch.index_select(
                self._frequent(class_counts, y.device), 0, y
            )
            freq_idx, rare_idx = generation_pairs(is_frequent, self.transfer_strength)
            s_new = int(freq_idx.numel())
        if s_new == 0:
            return RSGOutput(x, y, cesc, h.new_zeros(()), 0)
        # Rows of the new samples' frequent partners, then their rare ones,
        # with the displacement of each from its nearest center (Eq. 3);
        # centers do not receive the classification gradient.
        rows = torch.cat([freq_idx, rare_idx])
        picked = _take(h, rows)
        near = _take(
            self.centers.detach().view(-1, self.in_channels), _take(nearest, rows)
        )
        if flat:  # Eq. 4 and L_MV in one node, its gradient written out
            c = self.contrastive
            frozen = [
                p.detach()
                for p in (c.conv1.weight, c.conv1.bias, c.conv2.weight, c.conv2.bias)
            ]
            frozen += [c.linear.weight.detach(), c.linear.bias.detach()]
            new, mv = _float32(
                _FlatGeneration, picked, near, self.transform.weight, *frozen
            )
        else:
            disp = picked - near[:, :, None, None]
            v = disp[:s_new]
            new = _conv(v, self.transform.weight, None) + picked[s_new:]  # Eq. 4
            # L_MV trains T only: detached inputs, frozen contrastive module.
            v_d = v.detach()
            t_mv = _conv(v_d, self.transform.weight, None)
            log_diff = F.log_softmax(
                self.contrastive(t_mv, picked[:s_new].detach(), frozen=True), dim=1
            )[:, 1]
            mv = (_mv_terms(t_mv, disp[s_new:].detach(), v_d) - log_diff).mean()
        features = torch.cat([h, new], dim=0)
        if features.ndim != x.ndim:  # 1x1 maps, computed on as vectors
            features = features.view(-1, *x.shape[1:])
        targets = torch.cat([y, _take(y, rare_idx)], dim=0)
        return RSGOutput(features, targets, cesc, mv, s_new)

    def _frequent(self, class_counts, device: torch.device) -> torch.Tensor:
        """``frequent_class_mask(class_counts, frequent_ratio)`` on ``device``,
        kept while the same counts tensor (unmodified) and ratio come back:
        computed once per fit, not at every step."""
        version = getattr(class_counts, "_version", None)
        key = (self.frequent_ratio, device, version)
        cached = self.__dict__.get("_frequent_cache")
        if cached is not None and cached[0] is class_counts and cached[1] == key:
            return cached[2]
        counts = torch.as_tensor(class_counts, device=device)
        mask = frequent_class_mask(counts, self.frequent_ratio)
        if version is not None:  # a tensor: its identity and version key it
            self.__dict__["_frequent_cache"] = (class_counts, key, mask)
        return mask

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_frequent_cache", None)
        return state

    def extra_repr(self) -> str:
        """Show the constructor's arguments in the module's repr."""
        return (
            f"in_channels={self.in_channels}, n_classes={self.n_classes}, "
            f"n_centers={self.n_centers}, frequent_ratio={self.frequent_ratio}, "
            f"transfer_strength={self.transfer_strength}, "
            f"contrastive_channels={self.contrastive_channels}, "
            f"kernel_size={self.kernel_size}"
        )
