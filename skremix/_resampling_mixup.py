"""ReMixClassifier: Resampling MixUp (Bellinger et al.)."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from skremix._docstrings import fill_doc
from skremix._net import BaseImbalancedClassifier
from skremix._step import TrainStep
from skremix._validation import ids_source, keeps_integers
from skremix.mixing import mixed_targets, mixup, sample_lambda
from skremix.sampling import ClassBalancedBatchSampler

__all__ = ["ReMixClassifier"]


@fill_doc(lr_schedule="'step'")
class ReMixClassifier(BaseImbalancedClassifier):  # numpydoc ignore=PR02
    r"""Resampling MixUp (ReMix): class-balanced batches mixed with soft labels.

    Every training mini-batch is first made class-balanced, then one
    ``lam ~ Beta(alpha, alpha)`` and a permutation mix the batch with
    itself, features and one-hot labels alike (Mixup), and the network is
    trained with the soft-label cross-entropy. Validation and prediction
    never mix: at inference the network is a plain classifier.

    Parameters
    ----------
    alpha : float, default=0.3
        Beta concentration of the mixing coefficient. 0.3 is the paper's
        recommendation from its sensitivity study (g-mean stable for alpha
        in [0.01, 0.4], balanced Brier score improving toward 0.4); its
        reported experiments use 0.1. Values above 0.5 can hurt.
    balance : {'global', 'within_batch'}, default='global'
        How a batch is balanced. 'within_batch' is the paper's Algorithm 1
        (and the official code): a plain batch is drawn as a shuffled pass
        draws it (without replacement within the epoch), then re-sampled
        with replacement to an equal share of each class *present in it*; a
        class absent from the drawn batch stays absent. 'global' is
        skremix's extension: every batch holds ``batch_size // C`` samples
        of every class (plus ``batch_size % C`` slots for distinct random
        classes), each drawn with replacement from that class's training
        samples, so that every class is in every batch (why it is the
        default: see Notes). See
        :class:`skremix.sampling.ClassBalancedBatchSampler`.
    n_batches : int or None, default=None
        Batches per epoch; None draws ``ceil(n_train / batch_size)``, about
        as many samples as one pass over the training data.
    %(shared_params)s

    Attributes
    ----------
    %(shared_attributes)s

    See Also
    --------
    RemixClassifier : Rebalanced Mixup, whose label favours the minority class.
    MFWClassifier : Per-sample weakening of majority-class hidden features.
    skremix.sampling.ClassBalancedBatchSampler : The batch sampler alone.

    Notes
    -----
    With a class-balanced batch :math:`(x, y)` of size :math:`B`, one
    :math:`\lambda \sim \mathrm{Beta}(\alpha, \alpha)` and a permutation
    :math:`\pi`,

    .. math::

        \tilde x_i = \lambda x_i + (1 - \lambda) x_{\pi(i)}, \qquad
        \tilde y_i = \lambda e_{y_i} + (1 - \lambda) e_{y_{\pi(i)}}

    with :math:`e_c` the one-hot vector of class :math:`c` over all
    :math:`C` classes (the official code drops columns when the last class
    is missing from a batch; skremix always uses :math:`C` columns). The
    loss is :math:`-\frac{1}{B} \sum_i \sum_k \tilde y_{ik} \log
    p_k(\tilde x_i)`.

    The batch count per epoch is fixed (``n_batches``); the batch size is
    ``min(batch_size, n_train)``. Classes absent from the training data
    (e.g. in a small cross-validation fold) cannot be drawn; balancing is
    over the classes present.

    The default ``lr_schedule='step'`` (x0.1 at 80% and x0.01 at 90% of
    the epochs) differs from the other classifiers' constant rate: ReMix's
    class-balanced, mixed batches keep the last epochs noisy, and the decays
    quiet them. The step schedule and the paper's ``balance='within_batch'``
    were chosen and checked on the quality matrix; the figures are in
    :ref:`quality` (``benchmarks/results/quality/defaults_vs_alternatives.txt``).

    ReMix does its own re-sampling, so ``rebalance='rs'`` or ``'drs'`` is
    rejected with a ``ValueError`` at fit (re-sampling twice has no meaning).
    ``'rw'`` / ``'drw'`` are allowed: class weights then multiply the loss of
    batches that are already balanced, which over-weights the rare classes
    once more; the paper does not combine them.

    ReMix is designed for any input: rows, images (mixed pixel-wise) or
    embeddings. The paper evaluates it with the g-mean
    (:func:`imblearn.metrics.geometric_mean_score`) and the balanced Brier
    score (:func:`skremix.metrics.balanced_brier_score`).

    References
    ----------
    .. [1] C. Bellinger, R. Corizzo, N. Japkowicz, "ReMix: Calibrated
       Resampling for Class Imbalance in Deep Learning", arXiv:2012.02312,
       2020.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from skremix import ReMixClassifier
    >>> X, y = make_classification(n_samples=200, weights=[0.9], random_state=0)
    >>> clf = ReMixClassifier(max_epochs=5, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    >>> clf.class_counts_
    array([180,  20])
    """

    _parameter_constraints = {
        "alpha": [Interval(numbers.Real, 0, None, closed="neither")],
        "balance": [StrOptions({"global", "within_batch"})],
        "n_batches": [Interval(numbers.Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        module=None,
        *,
        alpha=0.3,
        balance="global",
        n_batches=None,
        lr_schedule="step",
        **kwargs,
    ):
        super().__init__(module, lr_schedule=lr_schedule, **kwargs)
        self.alpha = alpha
        self.balance = balance
        self.n_batches = n_batches

    def _check_method_params(self):
        if keeps_integers(self):
            raise ValueError(
                "ReMixClassifier mixes the inputs (Algorithm 1), which "
                f"{ids_source(self)} makes indices (token ids, category codes): "
                "a mix of two indices is not an index. For hidden-layer mixing "
                "after an embedding use RemixClassifier(mix='manifold', "
                "mix_layer=...) (with tau=0 it is Manifold Mixup; with "
                "rebalance='rs' its batches are re-sampled), MFWClassifier or "
                "RSGClassifier with mix_layer."
            )
        if self.rebalance in ("rs", "drs"):
            raise ValueError(
                f"rebalance={self.rebalance!r} cannot be combined with "
                "ReMixClassifier: ReMix already draws class-balanced batches, "
                "so re-sampling them again has no meaning. Use rebalance=None "
                "(the paper's ReMix) or 'rw' / 'drw' to also re-weight the loss."
            )

    # Its batches come from skremix's batch loop: an iterator_train of one's
    # own is refused (skremix._validation._check_own_batches).
    _balanced_batches = True

    def _train_batches(self, y, batch_size):
        """Class-balanced index batches of one epoch (Algorithm 1)."""
        y_host = y.detach().cpu()
        if torch.unique(y_host).numel() < 2:
            # One class present (partial_fit on a one-class chunk): nothing
            # to balance.
            return super()._train_batches(y, batch_size)
        sampler = ClassBalancedBatchSampler(
            y_host.numpy(),
            min(batch_size, len(y_host)),
            n_batches=self.n_batches,
            # The paper's plain batch is drawn without replacement (a
            # shuffled pass); the global mode draws each class's slots with
            # replacement.
            replacement=self.balance == "global",
            random_state=self.rng_,
            mode=self.balance,
        )
        # One host-to-device copy per epoch; the rows are the batches.
        batches = torch.as_tensor(np.asarray(list(sampler)), device=y.device)
        return list(batches.unbind(0))

    def train_forward(self, X, y, sample_weight=None, **fit_params):
        """Mix the (class-balanced) batch with a shuffled copy.

        %(train_forward_params)s

        Returns
        -------
        step : skremix.base.TrainStep
            The logits of the mixed batch, its mixup soft labels and, with
            sample weights, each mixed sample's weight mixed as its label:
            ``lam * w_i + (1 - lam) * w_j``.
        """
        lam = sample_lambda(self.alpha, self.rng_)
        perm = torch.randperm(len(X), device=X.device)
        logits = self.infer(mixup(X, lam, perm), **fit_params)
        targets = mixed_targets(y, perm, lam, len(self.classes_))
        if sample_weight is not None:
            sample_weight = mixup(sample_weight, lam, perm)
        return TrainStep(logits, targets, sample_weight=sample_weight)
