"""RSGClassifier: Rare-class Sample Generator (Wang et al. 2021)."""

from __future__ import annotations

import numbers

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from skremix import _data_parallel
from skremix._docstrings import fill_doc
from skremix._net import BaseImbalancedClassifier
from skremix._schedule import call_epoch
from skremix._step import TrainStep
from skremix._validation import dry_forward
from skremix.mixing import resolve_layer, transform_output_at
from skremix.nn import RSG, frequent_class_mask, generation_pairs

__all__ = ["RSGClassifier"]

# Classifier parameters the RSG module also takes: set them on the classifier.
_OWN = ("n_centers", "frequent_ratio", "transfer_strength", "in_channels", "n_classes")


# Default contrastive width on vector features or 1x1 maps.
_VECTOR_WIDTH = 64
# The paper's (frequent_ratio, transfer_strength) per imbalance profile.
_PAPER_SETTINGS = {"long_tailed": (0.2, 1.0), "step": (0.5, 0.01)}


def _resolve(value, kind, which):
    """A parameter's value, or the paper's for the profile when 'auto'."""
    if isinstance(value, str) and value == "auto":
        return _PAPER_SETTINGS[kind][which]
    return float(value)


@fill_doc(rebalance="'drw'")
class RSGClassifier(BaseImbalancedClassifier):  # numpydoc ignore=PR02
    r"""Rare-class Sample Generator (RSG): new rare-class samples in feature space.

    A training-only module (:class:`skremix.nn.RSG`) sits at the output of
    ``mix_layer``. It estimates K centers per class and trains a contrastive
    module until the epoch ``generate_from``; from then on it takes the
    displacement of frequent-class samples from their nearest center,
    transforms it with one convolution ``T`` and adds it to real rare-class
    samples, appending the new rare samples to the batch. The CESC and MV
    losses of the paper are added to the classification loss. The module is
    attached through a forward hook for the duration of each training step
    only: validation and prediction run the plain network, at no extra cost.

    Parameters
    ----------
    n_centers : int, default=15
        K, centers per class (the paper's value).
    frequent_ratio : float or 'auto', default='auto'
        ``alpha`` in (0, 1]: the top ``round(alpha * C)`` classes (at least
        one) by training count are frequent, the others rare. The paper uses
        0.2 for long-tailed and 0.5 for step imbalance; 'auto' takes the
        paper's value for the profile of the training counts
        (:func:`skremix.datasets.imbalance_kind`), stored in
        ``frequent_ratio_``.
    transfer_strength : float or 'auto', default='auto'
        ``beta`` in (0, 1]: a batch with ``s_freq`` frequent and ``s_rare``
        rare samples gets ``max(floor(beta * s_freq / s_rare), 1) * s_rare``
        new samples. 1.0 for long-tailed, 0.01 for step imbalance in the
        paper; 'auto' picks by profile, as for ``frequent_ratio``.
    lambda_cesc : float, default=0.1
        Weight ``lambda_1`` of the CESC loss (Eq. 7).
    lambda_mv : float, default=0.01
        Weight ``lambda_2`` of the MV loss (Eq. 7).
    generate_from : int or float, default=0.8
        The epoch threshold ``T_th``: an int is the number of epochs before
        generation starts (the contrastive module trains during them and is
        frozen afterwards); a float in [0, 1) the fraction of ``max_epochs``.
        The paper ties it to the LR decay to 0.001 (epoch 160 of 200 on
        CIFAR), the same point as the deferred re-balancing of
        ``rebalance='drw'`` with the default ``rebalance_start=0.8``.
    %(shared_params)s
        ``rsg__*`` parameters go to the RSG module:
        ``rsg__contrastive_channels`` (default ``min(256, D)`` for ``D``
        channels at ``mix_layer``, ``min(64, D)`` when the features there are
        vectors or 1x1 maps; 256 is the paper's CIFAR setting, see Notes) and
        ``rsg__kernel_size`` (default 3, or 1 on vectors or 1x1 maps).

    Attributes
    ----------
    %(shared_attributes)s
    rsg_ : skremix.nn.RSG
        The generator, registered with the net: on its device, in its
        optimizer, pickled with it. Unused at prediction.
    frequent_ratio_, transfer_strength_ : float
        The values trained with ('auto' resolved).

    See Also
    --------
    skremix.nn.RSG : The module and the pure functions behind it.
    MFWClassifier : Weakens majority-class features at a hidden layer.

    Notes
    -----
    The loss of a training step is (Eq. 7)

    .. math::

        L = L_{cls} + \lambda_1 L_{CESC} + \lambda_2 L_{MV}

    over the batch with the generated samples appended. The history records
    per batch ``rsg_cesc`` (:math:`\lambda_1 L_{CESC}`), ``rsg_mv``
    (:math:`\lambda_2 L_{MV}`) and ``rsg_generated`` (the number of new
    samples); ``train_loss`` includes the two weighted terms. The CESC
    center term sums squared distances over all channels and positions (as
    in Eq. 5) and can dominate ``train_loss``; it is computed on detached
    features, so it never moves the backbone.

    Fixed relative to the public code: frequent classes are chosen by
    count, not by class index (step data); pooling is global average
    pooling, so any feature-map size works; contrastive pairs come from a
    random permutation, so odd batches work; a batch without frequent or
    rare samples generates nothing; the MV norms are per spatial position
    over channels; nothing is tied to CUDA. Vector features (an MLP layer)
    are treated as ``(D, 1, 1)`` maps, so RSG also works on tabular data.

    The contrastive module's width defaults to ``min(256, channels at
    mix_layer)``: the paper's 256 on wide features, no wider than the
    features on small networks, where two 256-wide 3x3 convolutions cost
    more than the network's own forward pass (:class:`skremix.nn.RSG`,
    Notes). On vector features or 1x1 maps it is ``min(64, D)`` and the
    kernel 1: a 1x1 kernel computes what the centre tap of a 3x3 kernel
    would, with 9 times fewer weights, and the module is then two dense
    layers on pairs, which at 256 wide cost about as much as an MLP's own
    step; the narrower width was compared with 256 on the quality matrix's
    tabular settings (:ref:`methods`, RSG).

    With the default ``rebalance='drw'`` this is RSG with deferred
    re-weighting, chosen over RSG alone on the quality matrix (figures in
    :ref:`quality`, ``benchmarks/results/quality/``); with
    ``loss='ldam'`` it is LDAM-DRW-RSG, the paper's best configuration;
    ``rebalance=None`` is RSG alone.

    References
    ----------
    .. [1] J. Wang, T. Lukasiewicz, X. Hu, J. Cai, Z. Xu, "RSG: A Simple but
       Effective Module for Learning Imbalanced Datasets", CVPR 2021.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from skremix import RSGClassifier
    >>> X, y = make_classification(n_samples=200, weights=[0.9], random_state=0)
    >>> clf = RSGClassifier(max_epochs=5, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)

    Two classes are a step profile: the paper's step settings apply.

    >>> clf.imbalance_kind_, clf.frequent_ratio_, clf.transfer_strength_
    ('step', 0.5, 0.01)

    New samples per epoch: generation starts after ``0.8 * 5 = 4`` epochs.

    >>> [sum(n) for n in clf.history[:, "batches", :, "rsg_generated"]]
    [0, 0, 0, 0, 20]
    """

    _mix_layer_key = "rsg"

    _parameter_constraints = {
        "n_centers": [Interval(numbers.Integral, 1, None, closed="left")],
        "frequent_ratio": [
            Interval(numbers.Real, 0, 1, closed="right"),
            StrOptions({"auto"}),
        ],
        "transfer_strength": [
            Interval(numbers.Real, 0, 1, closed="right"),
            StrOptions({"auto"}),
        ],
        "lambda_cesc": [Interval(numbers.Real, 0, None, closed="left")],
        "lambda_mv": [Interval(numbers.Real, 0, None, closed="left")],
        "generate_from": [
            Interval(numbers.Integral, 0, None, closed="left"),
            Interval(numbers.Real, 0, 1, closed="left"),
        ],
    }

    def __init__(
        self,
        module=None,
        *,
        n_centers=15,
        frequent_ratio="auto",
        transfer_strength="auto",
        lambda_cesc=0.1,
        lambda_mv=0.01,
        generate_from=0.8,
        rebalance="drw",
        **kwargs,
    ):
        super().__init__(module, rebalance=rebalance, **kwargs)
        self.n_centers = n_centers
        self.frequent_ratio = frequent_ratio
        self.transfer_strength = transfer_strength
        self.lambda_cesc = lambda_cesc
        self.lambda_mv = lambda_mv
        self.generate_from = generate_from

    def _feature_shape(self):
        """Shape of one sample's features at ``mix_layer``, from a dry forward
        of a zero sample (eval mode, no grad, training mode restored)."""
        layer = resolve_layer(self.module_, self._mix_layer_name())
        captured = []
        handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            # Integer inputs as the module takes them (integer_inputs), and
            # a message on a dtype it does not take.
            dry_forward(self, 1)
        finally:
            handle.remove()
        out = captured[0] if captured else None
        if not isinstance(out, torch.Tensor) or out.ndim not in (2, 4):
            got = (
                tuple(out.shape)
                if isinstance(out, torch.Tensor)
                else type(out).__name__
            )
            raise ValueError(
                f"RSG needs feature maps (n, channels, h, w) or vectors (n, d) at "
                f"mix_layer={self._mix_layer_name()!r}; its output is {got}. "
                "Choose another mix_layer."
            )
        return tuple(out.shape[1:])

    def initialize_module(self):
        """Build ``module_`` (see the base) and the generator ``rsg_``.

        The generator's input size is read from a dry forward pass to
        ``mix_layer``.

        Returns
        -------
        self : object
            The net.
        """
        super().initialize_module()
        shape = self._feature_shape()
        kwargs = self.get_params_for("rsg")
        clash = sorted(set(kwargs) & set(_OWN))
        if clash:
            raise ValueError(
                f"rsg__{clash[0]} is set by {type(self).__name__} itself: use its "
                f"parameter {clash[0]!r} (in_channels and n_classes come from the "
                "data) instead."
            )
        one_by_one = len(shape) == 1 or shape[1:] == (1, 1)
        kwargs.setdefault("kernel_size", 1 if one_by_one else 3)
        if one_by_one:
            # On vectors the contrastive module is two dense layers on pairs,
            # as costly as a small MLP's own step at 256 wide; the narrower
            # default and its study: doc/user_guide/methods.rst, RSG.
            kwargs.setdefault("contrastive_channels", min(_VECTOR_WIDTH, shape[0]))
        # Created in the 'module' init context: skorch registers it (device,
        # optimizer, train/eval mode, pickling, rsg__* parameters).
        # 'auto' settings are resolved from the training counts when they are
        # known (get_split_datasets); the long-tailed values stand until then.
        self.rsg_ = RSG(
            in_channels=shape[0],
            n_classes=len(self.classes_),
            n_centers=self.n_centers,
            frequent_ratio=_resolve(self.frequent_ratio, "long_tailed", 0),
            transfer_strength=_resolve(self.transfer_strength, "long_tailed", 1),
            **kwargs,
        )
        return self

    def get_split_datasets(self, X, y=None, **fit_params):
        """Split the data, then resolve the 'auto' settings from the training counts."""
        dataset_train, dataset_valid = super().get_split_datasets(X, y, **fit_params)
        self.frequent_ratio_ = _resolve(self.frequent_ratio, self.imbalance_kind_, 0)
        self.transfer_strength_ = _resolve(
            self.transfer_strength, self.imbalance_kind_, 1
        )
        self.rsg_.frequent_ratio = self.frequent_ratio_
        self.rsg_.transfer_strength = self.transfer_strength_
        return dataset_train, dataset_valid

    def _plain_epochs(self):
        """Epochs before generation starts (``T_th``)."""
        return self._epochs_before(self.generate_from)

    def _hooks_layers(self):
        return True

    # The generator takes no gradient before generation starts, nor on a
    # batch without a rare class (data_parallel).
    _skips_parameters = True

    # Override of skorch 1.4 NeuralNet.on_batch_begin, extended: data-parallel
    # centre sync (below).
    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        """Remember which classes have centers, for the data-parallel sync.

        Parameters
        ----------
        net : RSGClassifier
            This net (skorch's callback signature).
        batch : tuple or None, default=None
            The batch about to be trained or evaluated.
        training : bool, default=False
            Whether it is a training batch.
        **kwargs
            Other arguments of skorch's ``on_batch_begin``.
        """
        super().on_batch_begin(net, batch=batch, training=training, **kwargs)
        dp = _data_parallel.current(self)
        if dp is not None and training and not self.rsg_.centers_initialized.all():
            self.__dict__["_centers_before"] = self.rsg_.centers_initialized.clone()

    # Override of skorch 1.4 NeuralNet.on_batch_end, extended: the same.
    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        """Give every rank the centers set from data in this step.

        Only with data-parallel training
        (:func:`skremix._data_parallel.sync_first_centers`).

        Parameters
        ----------
        net : RSGClassifier
            This net (skorch's callback signature).
        batch : tuple or None, default=None
            The batch just trained or evaluated.
        training : bool, default=False
            Whether it was a training batch.
        **kwargs
            Other arguments of skorch's ``on_batch_end``.
        """
        super().on_batch_end(net, batch=batch, training=training, **kwargs)
        before = self.__dict__.pop("_centers_before", None)
        dp = _data_parallel.current(self)
        if dp is not None and training and before is not None:
            _data_parallel.sync_first_centers(dp, self.rsg_, before)

    def train_forward(self, X, y, sample_weight=None, **fit_params):
        """Run the batch through RSG at ``mix_layer``.

        %(train_forward_params)s

        Returns
        -------
        step : skremix.base.TrainStep
            Logits and labels of the batch with the generated samples
            appended, the weighted CESC and MV losses, and the number of
            generated samples as the record ``rsg_generated``. With sample
            weights, a generated sample takes the weight of the real
            rare-class sample it was made from.
        """
        counts = self.fit_state(X.device).counts
        generate = call_epoch(self) >= self._plain_epochs()
        result = []

        def generate_at_layer(h):
            if result:
                raise RuntimeError(
                    f"mix_layer={self._mix_layer_name()!r} ran twice in one forward "
                    "pass; RSG needs a layer that runs once."
                )
            result.append(self.rsg_(h, y, counts, generate=generate))
            return result[0].features

        with transform_output_at(
            self.module_, self._mix_layer_name(), generate_at_layer
        ):
            logits = self.infer(X, **fit_params)
        if not result:
            raise RuntimeError(
                f"mix_layer={self._mix_layer_name()!r} did not run in the forward pass."
            )
        out = result[0]
        extra = {
            "rsg_cesc": float(self.lambda_cesc) * out.cesc_loss,
            "rsg_mv": float(self.lambda_mv) * out.mv_loss,
        }
        if sample_weight is not None and out.n_generated:
            sample_weight = torch.cat(
                [sample_weight, sample_weight[self._generation_sources(y, counts)]]
            )
        return TrainStep(
            logits,
            out.targets,
            extra,
            {"rsg_generated": out.n_generated},
            sample_weight=sample_weight,
        )

    def _generation_sources(self, y, counts):
        """The batch row of the real rare-class sample behind each generated
        sample, in the order RSG appends them: the rare rows do not depend
        on the random pairing with frequent samples (:func:`generation_pairs`
        with the identity order draws nothing)."""
        is_frequent = frequent_class_mask(counts, self.rsg_.frequent_ratio)[y]
        order = torch.arange(int(is_frequent.sum()), device=y.device)
        return generation_pairs(is_frequent, self.rsg_.transfer_strength, order)[1]
