"""MiSLASClassifier: mixup, then label-aware smoothing (Zhong et al. 2021)."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from skremix._docstrings import fill_doc
from skremix._net import BaseImbalancedClassifier
from skremix._step import FitState, TrainStep
from skremix._validation import ids_source, keeps_integers
from skremix.losses import label_aware_smoothing, label_aware_targets
from skremix.mixing import mixed_targets, mixup, sample_lambda

__all__ = ["MiSLASClassifier"]


@dataclass(frozen=True)
class _MiSLASFitState(FitState):
    """The base's per-fit state plus each class's smoothing factor."""

    smoothing: torch.Tensor | None = None


@fill_doc(rebalance="'crt'")
class MiSLASClassifier(BaseImbalancedClassifier):  # numpydoc ignore=PR02
    r"""MiSLAS: mixup, then the classifier re-trained with label smoothing.

    The two stages of Zhong et al. [1]_, on skremix's classifier
    re-training phase (``rebalance='crt'``, from ``rebalance_start``):

    1. **Mixup.** Every batch draws one ``lam ~ Beta(alpha, alpha)`` and a
       permutation, mixes the inputs and trains on the mixed soft labels
       with the cross-entropy (plain batches).
    2. **Classifier re-training with label-aware smoothing.** The feature
       layers are frozen; the head goes on from its stage-one weights (the
       reference code loads them; cRT would re-initialise it) and trains on
       class-balanced batches, without mixing, on the targets of
       :func:`skremix.losses.label_aware_targets`: the label of class
       :math:`c` smoothed by :math:`\epsilon_c`
       (:func:`skremix.losses.label_aware_smoothing`), large for frequent
       classes and small for rare ones.

    **Shifted BatchNorm.** In stage two the BatchNorm layers of the frozen
    features keep updating their running statistics on the class-balanced
    batches (their affine parameters are frozen with the rest), the
    paper's "shift learning on BN"; ``precise_bn`` then recomputes them from
    the same sampler after training.

    Validation and prediction never mix or smooth: at inference the
    network is a plain classifier.

    Parameters
    ----------
    alpha : float, default=1.0
        Beta concentration of stage one's mixing coefficient, > 0 (the
        reference configuration for CIFAR-LT, ImageNet-LT and iNaturalist).
    las_head : float, default=0.3
        :math:`\epsilon_1`, the smoothing of the most frequent class, in
        [0, 1).
    las_tail : float, default=0.0
        :math:`\epsilon_K`, the smoothing of the rarest class, in [0, 1).
    las_shape : {'concave', 'linear', 'convex', 'exp'}, default='concave'
        How :math:`\epsilon` goes from the rarest to the most frequent
        class (:func:`skremix.losses.label_aware_smoothing`).
    las_power : float or None, default=None
        The exponent of ``las_shape='exp'``; required there only.
    %(shared_params)s

    Attributes
    ----------
    smoothing_ : ndarray of shape (n_classes,)
        :math:`\epsilon_c` of every class, from the training counts of the
        last fit.
    %(shared_attributes)s

    See Also
    --------
    RemixClassifier : ``tau=0`` is plain mixup, without the second stage.
    ERMClassifier : ``rebalance='crt'`` is cRT (a re-initialised head, hard
        labels).

    Notes
    -----
    ``rebalance`` must be ``'crt'``: the second stage is the method. The
    loss must be ``'ce'``: stage one is mixup's cross-entropy and stage two
    the smoothed one; LDAM, logit adjustment and focal loss do not compose
    with label-aware smoothing. Sample weights weigh each sample's loss in
    both stages (mixed like the labels in stage one).

    The reference code also trains a per-class scale of the logits
    (``LearnableWeightScaling``) beside the head in stage two. Trained
    jointly with the head it only re-parametrises its rows
    (:math:`s_k w_k`), so it is left out: the fitted network is the plain
    one.

    The reference runs 200 epochs of stage one and 10 of stage two; skremix
    starts stage two at ``rebalance_start`` (80% of the epochs by default),
    as its cRT baseline, since its budgets are small (see the user guide's
    "Long-tail baselines" for the measurements).

    References
    ----------
    .. [1] Z. Zhong, J. Cui, S. Liu, J. Jia, "Improving Calibration for
       Long-Tailed Recognition", CVPR 2021.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from skremix import MiSLASClassifier
    >>> X, y = make_classification(n_samples=300, weights=[0.9], random_state=0)
    >>> clf = MiSLASClassifier(max_epochs=5, random_state=0).fit(X, y)
    >>> clf.history[:, "rebalance"]
    [False, False, False, False, True]
    >>> clf.smoothing_.round(3)  # the frequent class 0.3, the rare one 0
    array([0.3, 0. ], dtype=float32)
    """

    _parameter_constraints: dict = {
        **BaseImbalancedClassifier._parameter_constraints,
        "alpha": [Interval(numbers.Real, 0, None, closed="neither")],
        "las_head": [Interval(numbers.Real, 0, 1, closed="left")],
        "las_tail": [Interval(numbers.Real, 0, 1, closed="left")],
        "las_shape": [StrOptions({"concave", "linear", "convex", "exp"})],
        "las_power": [Interval(numbers.Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self,
        module=None,
        *,
        alpha=1.0,
        las_head=0.3,
        las_tail=0.0,
        las_shape="concave",
        las_power=None,
        rebalance="crt",
        **kwargs,
    ):
        super().__init__(module, rebalance=rebalance, **kwargs)
        self.alpha = alpha
        self.las_head = las_head
        self.las_tail = las_tail
        self.las_shape = las_shape
        self.las_power = las_power

    # The second stage goes on from the trained head (MiSLAS), not a new one.
    _crt_resets_head = False

    def _check_method_params(self):
        if keeps_integers(self):
            raise ValueError(
                "MiSLASClassifier mixes the inputs in its first stage, which "
                f"{ids_source(self)} makes indices (token ids, category codes): "
                "a mix of two indices is not an index. Use ERMClassifier("
                "rebalance='crt') or RemixClassifier(mix='manifold', "
                "mix_layer=...) after an embedding."
            )
        if self.rebalance != "crt":
            raise ValueError(
                f"MiSLASClassifier is two stages, mixup then classifier "
                f"re-training (rebalance='crt'); got rebalance={self.rebalance!r}. "
                "Use rebalance='crt' (and rebalance_start for where stage two "
                "starts), or RemixClassifier(tau=0, rebalance=...) for mixup "
                "with another re-balancing."
            )
        if self.loss != "ce":
            raise ValueError(
                f"MiSLASClassifier trains with mixup's cross-entropy, then the "
                f"label-aware smoothed one; loss={self.loss!r} does not compose "
                "with label-aware smoothing. Use loss='ce', or ERMClassifier("
                f"loss={self.loss!r}, rebalance='crt')."
            )
        if self.rebalance_beta != 0.9999:
            raise ValueError(
                f"rebalance_beta={self.rebalance_beta!r} sets effective-number "
                "class weights, which MiSLASClassifier never uses: its second "
                "stage draws each class uniformly and its losses are unweighted. "
                "Leave rebalance_beta at its default, 0.9999."
            )
        if (self.las_shape == "exp") != (self.las_power is not None):
            raise ValueError(
                "las_power is the exponent of las_shape='exp' and is required "
                f"there only; got las_shape={self.las_shape!r}, "
                f"las_power={self.las_power!r}."
            )

    def _make_fit_state(self, device):
        state = super()._make_fit_state(device)
        smoothing = label_aware_smoothing(
            state.counts,
            self.las_head,
            self.las_tail,
            self.las_shape,
            self.las_power,
        )
        self.smoothing_ = smoothing.cpu().numpy()
        return _MiSLASFitState(**vars(state), smoothing=smoothing)

    def train_forward(self, X, y, sample_weight=None, **fit_params):
        """Mix the batch (stage one), or smooth its labels (stage two).

        Stage one mixes the batch with a shuffled copy; stage two trains
        on the clean batch with label-aware smoothed targets.

        %(train_forward_params)s

        Returns
        -------
        step : skremix.base.TrainStep
            The logits and soft targets (mixed, or smoothed); in stage one,
            with sample weights, each mixed sample's weight mixed as its
            label.
        """
        n_classes = len(self.classes_)
        rebalance = self._active_rebalance()
        if rebalance is not None and rebalance.retrains_head:
            logits = self.infer(X, **fit_params)
            smoothing = self.fit_state(X.device).smoothing
            targets = label_aware_targets(y, smoothing, n_classes)
            return TrainStep(logits, targets, sample_weight=sample_weight)
        lam = sample_lambda(self.alpha, self.rng_)
        perm = torch.randperm(len(X), device=X.device)
        logits = self.infer(mixup(X, lam, perm), **fit_params)
        targets = mixed_targets(y, perm, lam, n_classes)
        if sample_weight is not None:
            sample_weight = mixup(sample_weight, lam, perm)
        return TrainStep(logits, targets, sample_weight=sample_weight)
