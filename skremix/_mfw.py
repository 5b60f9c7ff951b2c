"""MFWClassifier: Major Feature Weakening, "Procrustean training" (Ye et al. 2021)."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from skremix._docstrings import fill_doc
from skremix._net import BaseImbalancedClassifier
from skremix._step import FitState, TrainStep
from skremix.mixing import mfw_mix, mfw_strength, transform_output_at

__all__ = ["MFWClassifier"]


@dataclass(frozen=True)
class _MFWFitState(FitState):
    """The base's per-fit state plus ``s(N_c)`` of the training counts."""

    strength: torch.Tensor | None = None


def _beta_draws(rng: np.random.Generator, alpha: float, n: int) -> torch.Tensor:
    """``n`` draws of ``Beta(alpha, alpha)`` from the host generator (float32).

    On the host, as Remix's one coefficient per batch: a torch Beta
    distribution object per step costs more than the draws themselves on a
    small network, and host draws are the same on every device.
    """
    return torch.from_numpy(rng.beta(alpha, alpha, size=n).astype(np.float32))


@fill_doc(rebalance="'drw'")
class MFWClassifier(BaseImbalancedClassifier):  # numpydoc ignore=PR02
    r"""Major Feature Weakening (MFW): mix majority-class hidden features away.

    The network is split as ``f = h(g(x))`` at ``mix_layer``. In training
    only, each sample ``n`` of a mini-batch draws its own
    ``lam_n ~ Beta(alpha, alpha)``, scaled by the class weight
    ``s(N_{y_n})`` of Eq. 12, and its hidden feature becomes
    ``(1 - lam_n) g(x_n) + lam_n g(x_perm(n))``; its label is unchanged.
    Majority-class samples are weakened toward other samples so that the
    network cannot fit them first, which balances the training progress
    across classes. Validation and prediction never mix.

    Parameters
    ----------
    alpha : float, default=1.0
        Beta concentration of the per-sample coefficient. The paper tunes it
        on a held-out split (Table 6): on CIFAR-10, 1.0 is best for
        long-tailed and 5.0 for step imbalance (1.0 second best); on
        CIFAR-100, 0.2 (long-tailed) and 5.0 (step). 1.0, a uniform ``lam``,
        is within 2.5 points of the best in every CIFAR-10 column.
    beta : float or 'auto', default=2.0
        Softness of the class weight ``s`` (Eq. 12). The paper uses 2.0 for
        long-tailed and 0.01 for step imbalance (CIFAR, ResNet-32, 300
        epochs); 'auto' takes the paper's value for the profile of the
        training counts (:func:`skremix.datasets.imbalance_kind`). With
        0.01, ``s`` is a hard step at the geometric mean of the counts
        (``s = 0.5`` above, 0 below) that flips on a one-sample difference;
        with 2.0 the minority classes are weakened too, less than the
        majority (see Notes, also for why 2.0 is the default on every
        profile).
    %(shared_params)s

    Attributes
    ----------
    %(shared_attributes)s

    See Also
    --------
    RemixClassifier : Rebalanced Mixup, whose label favours the minority class.
    ReMixClassifier : Class-balanced batches + mixup with soft labels.
    skremix.mixing.mfw_strength : The class weight ``s(N)``.
    skremix.callbacks.PerClassTrainingProgress : The paper's diagnostic.

    Notes
    -----
    For sample :math:`n` of a batch with partner :math:`\pi(n)`,

    .. math::

        \lambda_n \sim \mathrm{Beta}(\alpha, \alpha), \quad
        \lambda_n \leftarrow s(N_{y_n}) \lambda_n, \quad
        \tilde z_n = (1 - \lambda_n) g(x_n) + \lambda_n g(x_{\pi(n)}),
        \quad \tilde y_n = y_n

    (Algorithm 1) with

    .. math::

        s(N_c) = 0.5 \, \sigma\left(\frac{N_c - \mu}{\beta \gamma}\right)

    (Eq. 12), :math:`\mu` the geometric mean and :math:`\gamma` the
    population standard deviation of the training class counts. Since
    :math:`s < 0.5`, a sample's own feature always keeps at least half of
    the weight; balanced counts give :math:`s = 0` (plain training).
    Gradients flow into the partner feature :math:`g(x_{\pi(n)})` (not
    detached): the paper's gradient analysis relies on it. The
    coefficients are drawn on the training device.

    Eq. 12 and the paper's text disagree: the text says the weight is
    about 0.5 for the major and about 0 for the minor classes ("the minor
    class features will not be weakened"), but Eq. 12 with the paper's
    ``beta=2.0`` gives, on CIFAR-10-LT counts (5000 ... 50), ``s`` from 0.41
    down to 0.23: the minority is weakened too, about half as much. Only
    ``beta=0.01`` gives the 0.5 / 0 of the text (a hard step at the
    geometric mean). skremix implements Eq. 12 as written.

    ``mix_layer`` picks the split. The paper counts the layers before the
    first residual stage as group 1 and each stage as a group and weakens
    after the 2nd group: on the built-in ResNets that is ``layer1``
    (``default_mix_layers["mfw"]``; Table 5: 78.5 / 80.1 there, 77.1 / 69.8
    after ``layer2``, every placement above ERM). On the built-in MLP and
    ConvNet it is after their second block. With the default
    ``rebalance='drw'`` (and ``rebalance_start=0.8``) this is the paper's
    "MFW w/ DRW", chosen over MFW alone on the quality matrix;
    ``rebalance=None`` gives the paper's MFW row. ``beta=2.0`` is the
    default on every profile because the paper's step value 0.01 scored
    lower there (figures in :ref:`quality`, ``benchmarks/results/quality/``).
    Per-class training accuracy and the classification ratio (Eq. 13), the
    paper's diagnostic, are recorded by
    :class:`skremix.callbacks.PerClassTrainingProgress`.

    References
    ----------
    .. [1] H.-J. Ye, D.-C. Zhan, W.-L. Chao, "Procrustean Training for
       Imbalanced Deep Learning", ICCV 2021.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from skremix import MFWClassifier
    >>> X, y = make_classification(n_samples=200, weights=[0.9], random_state=0)
    >>> clf = MFWClassifier(max_epochs=5, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    >>> clf.class_counts_
    array([180,  20])
    """

    _mix_layer_key = "mfw"

    _parameter_constraints = {
        "alpha": [Interval(numbers.Real, 0, None, closed="neither")],
        "beta": [
            Interval(numbers.Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
        ],
    }

    def __init__(self, module=None, *, alpha=1.0, beta=2.0, rebalance="drw", **kwargs):
        super().__init__(module, rebalance=rebalance, **kwargs)
        self.alpha = alpha
        self.beta = beta

    def get_split_datasets(self, X, y=None, **fit_params):
        """Split the data, then resolve ``beta='auto'`` from the training counts."""
        dataset_train, dataset_valid = super().get_split_datasets(X, y, **fit_params)
        beta = self.beta
        if isinstance(beta, str) and beta == "auto":
            beta = 0.01 if self.imbalance_kind_ == "step" else 2.0
        self.beta_ = float(beta)
        return dataset_train, dataset_valid

    def _make_fit_state(self, device):
        state = super()._make_fit_state(device)
        return _MFWFitState(
            **vars(state), strength=mfw_strength(state.counts, self.beta_)
        )

    def _hooks_layers(self):
        return True

    def _check_method_layers(self):
        self._mix_layer_name()

    def train_forward(self, X, y, sample_weight=None, **fit_params):
        """Weaken the batch's hidden features at ``mix_layer`` (Algorithm 1).

        %(train_forward_params)s

        Returns
        -------
        step : skremix.base.TrainStep
            The logits of the weakened forward pass and the unchanged labels
            and sample weights (a weakened sample keeps its label, so its
            weight).
        """
        layer = self._mix_layer_name()
        raw = _beta_draws(self.rng_, float(self.alpha), len(X))
        lam = raw.to(X.device, non_blocking=True) * self.fit_state(X.device).strength[y]
        perm = torch.randperm(len(X), device=X.device)
        with transform_output_at(self.module_, layer, lambda h: mfw_mix(h, lam, perm)):
            logits = self.infer(X, **fit_params)
        return TrainStep(logits, y, sample_weight=sample_weight)
