"""The one skorch base shared by every skremix classifier.

It holds the scikit-learn contract (validation, label encoding, fitted
attributes), the default modules, device and seeding, class counts taken
on the data actually trained on, the deferred re-weighting / re-sampling of
Cao et al., and a fast in-memory batch loop. A method subclass overrides
only :meth:`BaseImbalancedClassifier.train_forward` (and, for re-sampling
methods, :meth:`BaseImbalancedClassifier._train_batches`).

What is not a skorch override lives beside it: the shared parameter docs
(``_docstrings.py``), input and module validation (``_validation.py``), the
in-memory batch loop and input statistics (``_loop.py``), dataset input
(``_datasets_input.py``) and where the data lives and what to do when it
does not fit (``_memory.py``). Each skorch override below names the
skorch method it mirrors (skorch 1.4).

Why one file of over 1,000 lines: it is one class, and its methods are
skorch's seams (``fit``, ``initialize_*``, ``train_step_single``,
``get_iterator``, ``predict_proba``, ...) calling each other through
``self``; split across files they would read back and forth. skorch keeps
its ``NeuralNet`` in one ``net.py`` for the same reason.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import numbers
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.validation import _num_samples, check_is_fitted
from skorch import NeuralNetClassifier
from skorch.callbacks import EpochTimer, PassthroughScoring, PrintLog
from skorch.dataset import get_len, unpack_data
from skorch.utils import data_from_dataset, to_numpy, to_tensor
from torch.utils.data import DataLoader

from skremix import _batches, _data_parallel, _loop, _schedule
from skremix._datasets_input import (
    LabelledDataset,
    dataset_labels,
    epoch_loader,
    is_dataset_input,
    validate_dataset,
)
from skremix._docstrings import fill_doc
from skremix._head import (
    crt_freeze,
    crt_unfreeze,
    find_head,
    module_for,
    posthoc_adjustment,
    predicting_through,
    tau_norm_head,
    tau_normalised_module,
)
from skremix._memory import data_placement, out_of_memory_error
from skremix._rebalance import epoch_order, make_rebalance
from skremix._step import FitState, TrainStep
from skremix._validation import (
    as_tensor,
    check_batch_of_one,
    check_data_parallel,
    check_input_params,
    check_module,
    check_params,
    check_posthoc,
    check_tau_norm,
    convert_integer_inputs,
    encode_labels,
    settle_integer_inputs,
    validate_fit_data,
    validate_sample_weight,
    validate_X,
)
from skremix.augment import random_crop_flip
from skremix.callbacks import ValidBalancedAccuracy
from skremix.datasets import imbalance_kind
from skremix.losses import batch_loss, ldam_margins, logit_adjustment
from skremix.mixing import resolve_layer
from skremix.nn import ConvNet, ResNetCifar, default_module
from skremix.nn._batch_norm import recalibrate_batch_norm
from skremix.nn._sync_batch_norm import (
    average_running_stats,
    reduce_precise_stats,
    restore_batch_norm,
    to_global_batch_norm,
)
from skremix.sampling import effective_number_weights

__all__: list[str] = []

_MIN_EVAL_ROWS = 16

# skorch 1.4's fit_loop takes the entry point whose metadata it routes
# (``_routing_method``); skorch 1.2 has no such argument.
_FIT_LOOP_ROUTES = (
    "_routing_method" in inspect.signature(NeuralNetClassifier.fit_loop).parameters
)


def _softmax(logits):
    # Module level so that pickled nets keep working; float64 so that rows
    # sum to one to sklearn's tolerance.
    return torch.softmax(logits.double(), dim=-1)


def _fill_module_kwargs(module_cls, kwargs, input_shape, n_classes):
    """Fill in input and output sizes a module constructor asks for."""
    try:
        params = inspect.signature(module_cls).parameters
    except (TypeError, ValueError):
        return kwargs
    sizes = {
        "n_classes": n_classes,
        "n_features": int(np.prod(input_shape)),
        "input_shape": tuple(input_shape),
    }
    if len(input_shape) == 3:
        sizes["in_channels"] = input_shape[0]
    for name, value in sizes.items():
        if name in params and name not in kwargs:
            kwargs[name] = value
    return kwargs


@fill_doc()
class BaseImbalancedClassifier(NeuralNetClassifier):
    """Base of the skremix classifiers: the shared loop a method extends.

    A :class:`skorch.NeuralNetClassifier` with the scikit-learn contract
    (validation, label encoding, fitted attributes), the default modules,
    device and seeding, class counts of the data actually trained on,
    re-balancing (``rebalance``), the losses (``loss``), the learning-rate
    schedules, precise BatchNorm, the head options at prediction and an
    in-memory batch loop. Trained as it is, it is plain training
    (:class:`~skremix.ERMClassifier` is this class under its own name). A
    method subclasses it and overrides :meth:`train_forward`, the forward
    pass of a training step, returning a :class:`~skremix.base.TrainStep`
    (the user guide's "Write your own method"); a method that draws its own
    batches overrides ``_train_batches`` too, as ReMix does.

    Parameters
    ----------
    %(shared_params)s

    Attributes
    ----------
    %(shared_attributes)s

    See Also
    --------
    skremix.ERMClassifier : This base, trained as it is.
    skremix.base.TrainStep : What ``train_forward`` returns.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from skremix.base import BaseImbalancedClassifier, TrainStep
    >>> class HalfLogits(BaseImbalancedClassifier):
    ...     def train_forward(self, X, y, **fit_params):
    ...         return TrainStep(self.infer(X, **fit_params) / 2, y)
    >>> X, y = make_classification(n_samples=60, random_state=0)
    >>> clf = HalfLogits(max_epochs=2, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints: dict = {
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [
            Interval(numbers.Integral, 1, None, closed="left"),
            Options(numbers.Integral, {-1}),
        ],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"constant", "step", "cosine"}), list, tuple],
        "lr_warmup": [Interval(numbers.Integral, 0, None, closed="left")],
        "augment": [StrOptions({"crop_flip"}), callable, None],
        "standardize": ["boolean"],
        "integer_inputs": [StrOptions({"auto", "float", "keep"})],
        "precise_bn": ["boolean", Interval(numbers.Integral, 1, None, closed="left")],
        "data_placement": [StrOptions({"auto", "device", "host"})],
        "data_parallel": [StrOptions({"auto"}), "boolean"],
        "sync_batch_norm": ["boolean"],
        "rebalance": [StrOptions({"rw", "rs", "drw", "drs", "crt"}), None],
        "rebalance_start": [
            Interval(numbers.Integral, 0, None, closed="left"),
            Interval(numbers.Real, 0, 1, closed="left"),
        ],
        "rebalance_beta": [Interval(numbers.Real, 0, 1, closed="left")],
        "mix_layer": [str, None],
        "random_state": ["random_state"],
        "loss": [StrOptions({"ce", "ldam", "logit_adjusted", "focal"})],
        "precision": [StrOptions({"fp32", "bf16"})],
        "channels_last": ["boolean", StrOptions({"auto"})],
        "ldam_max_m": [Interval(numbers.Real, 0, None, closed="neither")],
        "ldam_s": [Interval(numbers.Real, 0, None, closed="neither")],
        "la_tau": [Interval(numbers.Real, 0, None, closed="left")],
        "focal_gamma": [Interval(numbers.Real, 0, None, closed="left")],
        "posthoc_tau": [Interval(numbers.Real, 0, None, closed="left"), None],
        "tau_norm": [Interval(numbers.Real, 0, None, closed="left"), None],
    }

    def __init__(
        self,
        module=None,
        *,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW,
        lr=1e-3,
        lr_schedule="constant",
        lr_warmup=0,
        max_epochs=30,
        batch_size=64,
        train_split=None,
        rebalance=None,
        rebalance_start=0.8,
        rebalance_beta=0.9999,
        loss="ce",
        ldam_max_m=0.5,
        ldam_s=30.0,
        la_tau=1.0,
        focal_gamma=2.0,
        posthoc_tau=None,
        tau_norm=None,
        precision="fp32",
        channels_last="auto",
        augment=None,
        standardize=False,
        integer_inputs="auto",
        precise_bn=8,
        data_placement="auto",
        data_parallel="auto",
        sync_batch_norm=False,
        mix_layer=None,
        random_state=None,
        device="auto",
        verbose=0,
        **kwargs,
    ):
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            device=device,
            verbose=verbose,
            **kwargs,
        )
        self.lr_schedule = lr_schedule
        self.lr_warmup = lr_warmup
        self.rebalance = rebalance
        self.rebalance_start = rebalance_start
        self.rebalance_beta = rebalance_beta
        self.loss = loss
        self.precision = precision
        self.channels_last = channels_last
        self.ldam_max_m = ldam_max_m
        self.ldam_s = ldam_s
        self.la_tau = la_tau
        self.focal_gamma = focal_gamma
        self.posthoc_tau = posthoc_tau
        self.tau_norm = tau_norm
        self.augment = augment
        self.standardize = standardize
        self.integer_inputs = integer_inputs
        self.precise_bn = precise_bn
        self.data_placement = data_placement
        self.data_parallel = data_parallel
        self.sync_batch_norm = sync_batch_norm
        self.mix_layer = mix_layer
        self.random_state = random_state

    # ------------------------------------------------------------------ device
    # ``device='auto'`` stays the public parameter (get_params, clone, pickle)
    # while skorch's internals read the resolved device through this property.
    @property
    def device(self):
        """The resolved training device: 'cuda' or 'cpu' for ``device='auto'``."""
        raw = self.__dict__.get("device", "auto")
        if isinstance(raw, str) and raw == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return raw

    @device.setter
    def device(self, value):
        self.__dict__["device"] = value

    def _get_param_names(self):
        # skorch lists every non-fitted attribute; its private bookkeeping
        # (_params_to_validate, ...) is not a parameter.
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    def get_params(self, deep=True, **kwargs):
        """Get the parameters, with ``device`` as given (e.g. 'auto').

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of contained objects, as skorch does.
        **kwargs : dict
            Passed to skorch's ``get_params``.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        params = super().get_params(deep=deep, **kwargs)
        params["device"] = self.__dict__.get("device", "auto")
        return params

    # Override of skorch 1.4 NeuralNet.__setstate__, wrapped: device='auto'
    # survives unpickling.
    def __setstate__(self, state):
        raw = state.get("device", "auto")
        auto = isinstance(raw, str) and raw == "auto"
        if auto:
            state["device"] = "cuda" if torch.cuda.is_available() else "cpu"
        super().__setstate__(state)
        if auto:
            self.__dict__["device"] = "auto"

    # --------------------------------------------------------------- callbacks
    @property
    def _default_callbacks(self):
        return [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
            ("valid_bacc", ValidBalancedAccuracy()),
            ("print_log", PrintLog()),
        ]

    # ---------------------------------------------------------- sklearn tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    def __sklearn_is_fitted__(self):
        # Fitted: trained by fit / partial_fit, or built by initialize() and
        # given saved module parameters by load_params.
        return bool(self.__dict__.get("initialized_")) and (
            hasattr(self, "class_counts_") or bool(self.__dict__.get("_params_loaded"))
        )

    # ------------------------------------------------------------- validation
    def _check_method_layers(self):
        """Check that the layers the method acts on exist (after the module
        is built); the base acts on none."""

    def _hooks_layers(self):
        """Whether the method transforms a hidden layer through a forward
        hook (MFW, RSG, Remix's manifold mixing)."""
        return False

    def _check_compile(self):
        """Refuse ``compile=True`` where the method works through forward
        hooks: a compiled module does not run hooks added after compilation,
        so the method would silently not train."""
        if getattr(self, "compile", False) and self._hooks_layers():
            raise ValueError(
                f"compile=True cannot be used with {type(self).__name__} here: its "
                "method transforms the output of mix_layer through a forward hook "
                "added at each training step, which torch.compile's compiled "
                "module does not run, so the method would silently not train. "
                "Use compile=False."
            )

    def _check_method_params(self):
        """Checks of a method that need the data (``input_shape_``), run after
        validation and before any training; constraints cover the rest."""

    def check_data(self, X, y=None):
        """Do nothing: skremix validates ``X`` and ``y`` before skorch sees them.

        Parameters
        ----------
        X : object
            Ignored.
        y : object, default=None
            Ignored.
        """
        # Validation happens in fit/partial_fit before skorch sees the data
        # (skremix._validation).
        pass

    # ---------------------------------------------------------------- seeding
    @contextmanager
    def _seeded(self):
        """Seed torch from random_state inside a forked RNG: reproducible
        fits that leave the caller's global RNG state untouched."""
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        dp = _data_parallel.current(self)
        if dp is not None:
            # One seed on every rank: the same initial weights and global
            # batches; each rank's own draws are seeded in on_train_begin.
            seed = dp.shared_seed(seed)
        dev = torch.device(self.device) if self.device is not None else None
        devices = []
        if dev is not None and dev.type == "cuda":
            devices = [
                dev.index if dev.index is not None else torch.cuda.current_device()
            ]
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            self.rng_ = np.random.default_rng(seed)
            yield

    # -------------------------------------------------------------- training
    def fit(self, X, y, sample_weight=None, **fit_params):
        """Initialize and train the network on all of ``X`` and ``y``.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features), \
(n_samples, height, width) or (n_samples, channels, height, width)
            Tabular rows or images (uint8 images are scaled to [0, 1] per
            batch), or a map-style torch ``Dataset`` / skorch
            ``SliceDataset`` of such samples, read batch by batch (see the
            user guide's "Data larger than memory"). ``(n, h, w)`` and
            ``(n, 1, h, w)`` are the same one-channel images (either
            predicts a fit on the other). Channels-last ``(n, h, w, c)``
            (PIL, OpenCV, Keras) is refused where skremix sets the channel
            count (``module=None``, or a module class taking ``in_channels``
            without ``module__in_channels``): pass
            ``X.transpose(0, 3, 1, 2)``.
        y : array-like of shape (n_samples,)
            Class labels of any type (for a dataset ``X``, its labels in
            order).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights multiplying each sample's training loss
            (with the class weights of ``rebalance``); a mixed sample's
            weight is mixed as its label is. None, or all ones, trains
            exactly as without weights. Not used by the validation loss,
            the class counts or the samplers. See the user guide's "Sample
            weights".
        **fit_params : dict
            Passed to the module's ``forward``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        check_params(self)
        # A warm start keeps the fitted classes and input shape: new data is
        # checked against them, as scikit-learn's warm-started estimators do.
        warm = self.warm_start and self.__sklearn_is_fitted__()
        return self._check_and_train(
            X, y, sample_weight, fit_params, reset=not warm, classes=None, fit=True
        )

    def partial_fit(self, X, y, classes=None, sample_weight=None, **fit_params):
        """Train for ``max_epochs`` more epochs without re-initializing.

        Each call is one complete run of the schedules (``lr_schedule``, the
        deferred start of ``rebalance``) on this call's data. The class
        counts accumulate: ``class_counts_`` adds this call's training part
        to the counts of the earlier calls since the last ``fit``, as
        scikit-learn's ``partial_fit`` estimators count, so that class
        weights, the methods' class rules and ``posthoc_tau`` act on every
        chunk streamed so far. To weigh one chunk alone, ``fit`` it with
        ``warm_start=True`` (which keeps the weights and counts anew).

        Parameters
        ----------
        X : array-like, torch.Tensor or Dataset
            As in :meth:`fit`.
        y : array-like of shape (n_samples,)
            Labels; on later calls they must be among ``classes_``.
        classes : array-like, default=None
            All labels, required on the first call when ``y`` lacks some.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of this call's samples, as in :meth:`fit`.
        **fit_params : dict
            Passed to the module's ``forward``.

        Returns
        -------
        self : object
            The estimator, trained further.
        """
        first = not self.__sklearn_is_fitted__()
        check_params(self)
        return self._check_and_train(
            X,
            y,
            sample_weight,
            fit_params,
            reset=first,
            classes=classes if first else None,
            fit=False,
        )

    def _check_and_train(self, X, y, sample_weight, fit_params, *, reset, classes, fit):
        """The steps :meth:`fit` and :meth:`partial_fit` share, after
        ``check_params``: validate ``X``, ``y`` (``reset``: learn the classes
        and input shape anew) and ``sample_weight``; check the input, compile
        and method parameters; then, under the seed and the sample weights,
        initialize (a ``fit`` that starts afresh, or nothing initialized yet),
        convert integer inputs for the module built (``integer_inputs``)
        and train. Returns ``self``."""
        X, y = self._validate_fit_input(X, y, reset=reset, classes=classes)
        sample_weight = validate_sample_weight(self, sample_weight, X, y, fit=fit)
        check_input_params(self)
        self._check_compile()
        self._check_method_params()
        if fit:
            # Input statistics are computed anew by every fit (standardize).
            for name in ("input_mean_", "input_std_"):
                self.__dict__.pop(name, None)
        with self._data_parallel(), self._seeded(), self._weighted(sample_weight):
            new = (fit and reset) or not self.initialized_
            if new:
                self.initialize()
            # integer_inputs='auto' is decided by the module built: integer X
            # as int64 ids for one that embeds, as float32 numbers otherwise.
            X = convert_integer_inputs(self, X)
            if new:
                check_module(self)
            self._run_training(X, y, fit_params, fit=fit)
        return self

    @contextmanager
    def _data_parallel(self):
        """Hold this call's :class:`skremix._data_parallel.DataParallel`
        (``data_parallel``; None to train locally), checked before any
        training."""
        dp = _data_parallel.resolve(self)
        check_data_parallel(self, dp)
        self.world_size_ = 1 if dp is None else dp.world_size
        if dp is not None and torch.device(self.device).type == "cuda":
            if torch.device(self.device).index is None:
                torch.cuda.set_device(_data_parallel.local_rank(dp.rank))
        self.__dict__["_data_parallel"] = dp
        try:
            yield
        finally:
            self.__dict__.pop("_data_parallel", None)

    @contextmanager
    def _weighted(self, sample_weight):
        """Hold the validated sample weights (one per row of ``X``, or None)
        for the batch iterator of this ``fit`` / ``partial_fit`` call."""
        self.__dict__["_sample_weight"] = sample_weight
        try:
            yield
        finally:
            self.__dict__.pop("_sample_weight", None)

    def _train_sample_weight(self, dataset):
        """The sample weights of the training part ``dataset``, on the
        device of its labels; None without weights."""
        weights = self.__dict__.get("_sample_weight")
        if weights is None:
            return None
        part = _loop.dataset_weights(dataset, weights)
        if part is None:
            raise ValueError(
                f"{type(self).__name__} cannot match sample_weight to the training "
                f"part {type(dataset).__name__} returned by train_split: use a "
                "train_split that returns torch Subsets of its input, as "
                "skorch's ValidSplit does."
            )
        return part

    def _run_training(self, X, y, fit_params, *, fit):
        """The body of skorch's ``NeuralNet.partial_fit`` (skorch 1.4), through
        public API only: ``on_train_begin``, ``fit_loop`` (a
        ``KeyboardInterrupt`` ends training early and keeps the net, as in
        skorch), ``on_train_end``. The module is initialised by the caller.
        ``fit``: called by :meth:`fit` (metadata routed as ``fit``, class
        counts anew) or by :meth:`partial_fit` (routed as ``partial_fit``,
        class counts added to those of the earlier calls)."""
        # Schedules count epochs from the start of this call (call_epoch).
        self.call_start_epoch_ = len(self.history)
        self.__dict__["_accumulate_counts"] = not fit
        if _FIT_LOOP_ROUTES:
            fit_params = {
                **fit_params,
                "_routing_method": "fit" if fit else "partial_fit",
            }
        try:
            self.notify("on_train_begin", X=X, y=y)
            # A callback may have resumed this call from a checkpoint
            # (TrainingCheckpoint): only the remaining epochs run.
            done = len(self.history) - self.call_start_epoch_
            try:
                self.fit_loop(X, y, epochs=self.max_epochs - done, **fit_params)
            except KeyboardInterrupt:
                pass
            except torch.OutOfMemoryError as exc:
                raise out_of_memory_error(self, exc, X, "training") from exc
            dp = _data_parallel.current(self)
            if dp is not None:
                dp.release()
            # Precise BN averages the ranks' plain statistics (below).
            self._restore_batch_norm()
            if self.precise_bn:
                self._recalibrate_batch_norm()
            self.notify("on_train_end", X=X, y=y)
        finally:
            self._restore_batch_norm()
            _data_parallel.restore_logs(self.__dict__.pop("_quiet_logs", ()))
            for name in ("fit_state_", "rng_", "_train_iterator", "_accumulate_counts"):
                self.__dict__.pop(name, None)

    def _recalibrate_batch_norm(self):
        """Precise BatchNorm (``precise_bn``,
        :func:`skremix.nn._batch_norm.recalibrate_batch_norm`): after the
        last epoch, one pass over the method's own training batches (its
        sampler; no mixing, augmentation or generation: the forward pass of
        prediction, in train mode, without gradients) sets each running
        mean and variance to the plain average of the per-batch
        statistics. Why it is on by default: ``doc/quality.rst``."""
        iterator = self.__dict__.get("_train_iterator")
        if iterator is None:
            return

        # True: one whole pass; an int: at most that many batches of it.
        bn = self.precise_bn
        limit = None if isinstance(bn, (bool, np.bool_)) else int(bn)

        def inputs():
            for batch in itertools.islice(iterator, limit):
                Xi, _ = unpack_data(batch)
                if get_len(Xi) > 1:  # one sample has no batch variance
                    yield _loop.as_float(Xi)

        recalibrate_batch_norm(self.module_, inputs(), forward=self.infer)
        dp = _data_parallel.current(self)
        if dp is not None:
            reduce_precise_stats(self.module_)

    # Override of skorch 1.4 NeuralNet.initialize_module: a default module for the
    # input shape, sizes filled in, LDAM's cosine head.
    def initialize_module(self):
        """Build ``module_`` from ``module`` or the default for the input shape.

        Input and output sizes are filled in where the module class takes
        them; an instance is copied, never trained in place.

        Returns
        -------
        self : object
            The net.
        """
        kwargs = self.get_params_for("module")
        module = self.module
        if module is None:
            module = default_module(self.input_shape_)
        if isinstance(module, torch.nn.Module):
            if kwargs:
                raise ValueError(
                    "module__* parameters were given but module is an instance; "
                    "pass the module class instead."
                )
            # A copy: refitting starts from the same initial weights and the
            # caller's instance is never trained in place.
            self.module_ = copy.deepcopy(module)
        else:
            if self.loss == "ldam":
                # LDAM's cosine classifier, unless module__normed_head is set.
                try:
                    takes_head = "normed_head" in inspect.signature(module).parameters
                except (TypeError, ValueError):
                    takes_head = False
                if takes_head:
                    kwargs.setdefault("normed_head", True)
            kwargs = _fill_module_kwargs(
                module, kwargs, self.input_shape_, len(self.classes_)
            )
            self.module_ = module(**kwargs)
        self.channels_last_ = self._resolve_channels_last()
        if self.channels_last_:
            self.module_ = self.module_.to(memory_format=torch.channels_last)
        self.__dict__.pop("_crt_frozen", None)  # a new module: nothing frozen
        return self

    def _resolve_channels_last(self):
        """Whether the module and image batches go channels-last: ``True`` /
        ``False`` as given (images only); ``'auto'`` for a built-in
        convolutional module on images on the CPU, where it is faster
        (doc/user_guide/pitfalls.rst, "Training speed"). A module of one's
        own stays in the default layout under 'auto': a ``view`` of a
        channels-last tensor raises in code written for contiguous ones."""
        if len(self.input_shape_) != 3:
            return False
        if isinstance(self.channels_last, str):  # 'auto'
            return (
                isinstance(self.module_, (ConvNet, ResNetCifar))
                and torch.device(self.device).type == "cpu"
            )
        return bool(self.channels_last)

    def _uses_channels_last(self):
        # channels_last_ is set with the module; a net pickled before it
        # existed has only the bool option.
        return self.__dict__.get("channels_last_", self.channels_last is True)

    # ------------------------------------------------- classifier re-training
    def _head(self, what, instead, needs="parameters", fits=None):
        """The module's classifier head, its submodule named ``head`` (that of
        every built-in module), which ``what`` acts on; a ValueError naming
        ``needs`` and suggesting ``instead`` where there is none, or where
        ``fits(head)`` is false (default: the head has parameters);
        :func:`skremix._head.find_head`."""
        return find_head(self.module_, what, instead, needs=needs, fits=fits)

    def _crt_head(self):
        """The classifier head that ``rebalance='crt'`` re-trains."""
        return self._head(
            "rebalance='crt' re-initialises and re-trains", "use another rebalance"
        )

    # Whether the re-training phase starts from a re-initialised head (cRT)
    # or from the trained one (MiSLAS's second stage).
    _crt_resets_head = True

    def _crt_phase(self):
        """Classifier re-training (cRT, Kang et al. 2020), at each step of
        ``rebalance='crt'``: at the first re-training step of a fit, freeze
        every parameter of the module outside the head (``requires_grad``
        off, gradients dropped), re-initialise the head with its own
        ``reset_parameters`` and drop its optimizer state; before the
        re-training phase (plain epochs of a later ``partial_fit``), train
        every parameter again."""
        rebalance = self._active_rebalance()
        active = rebalance is not None and rebalance.retrains_head
        frozen = self.__dict__.get("_crt_frozen")
        if active and frozen is None:
            self.__dict__["_crt_frozen"] = crt_freeze(
                self.module_,
                self._crt_head(),
                self.optimizer_,
                reset_head=self._crt_resets_head,
            )
        elif not active and frozen is not None:
            self._crt_unfreeze()

    def _crt_unfreeze(self):
        """Let the parameters that cRT froze train again."""
        crt_unfreeze(self.module_, self.__dict__.pop("_crt_frozen", None) or ())

    # ------------------------------------------------------ tau-normalisation
    def _tau_norm_head(self):
        """The classifier head that ``tau_norm`` rescales: the module's
        ``head`` submodule, with a 2-D ``weight`` of one row per class (that
        of every built-in module), not LDAM's cosine head. ``tau_norm`` is
        validated here too: it can be set after ``fit``."""
        validate_parameter_constraints(
            {"tau_norm": BaseImbalancedClassifier._parameter_constraints["tau_norm"]},
            {"tau_norm": self.tau_norm},
            caller_name=type(self).__name__,
        )
        check_tau_norm(self)
        return tau_norm_head(self.module_, len(self.classes_), self.tau_norm)

    @contextmanager
    def _tau_normalised(self):
        """Kang et al.'s tau-normalised classifier for the duration of the
        block (prediction), in this thread only: the forward passes of
        :meth:`infer` run a view of ``module_`` whose head computes
        ``F.linear(x, W / ||W||**tau_norm)`` from the head's weight rows (a
        row of norm zero kept), without the bias, as in the paper's code
        (:func:`skremix._head.tau_normalised_module`). ``module_`` is only
        read: prediction from several threads at once stays exact. Nothing
        with ``tau_norm=None``."""
        tau = getattr(self, "tau_norm", None)
        if tau is None:
            yield
            return
        view = tau_normalised_module(self.module_, self._tau_norm_head(), tau)
        with predicting_through(self, view):
            yield

    # ------------------------------------------------- the loop's own schedule
    # The estimator's own hooks run at every notify, before any callback, and
    # no callbacks setting removes them: the schedules of ``rebalance`` and
    # ``lr_schedule`` live here, not in callbacks.

    # Override of skorch 1.4 NeuralNet.on_train_begin: the learning-rate
    # schedule's initial rates.
    def on_train_begin(self, net, X=None, y=None, **kwargs):
        """Remember each parameter group's rate, the schedule's initial rate.

        Parameters
        ----------
        net : skorch.NeuralNet
            This net.
        X : object, default=None
            The training inputs; unused.
        y : object, default=None
            The training labels; unused.
        **kwargs : dict
            Passed to skorch's ``on_train_begin``.
        """
        super().on_train_begin(net, X=X, y=y, **kwargs)
        self.__dict__["_base_lrs"] = [g["lr"] for g in self.optimizer_.param_groups]
        dp = _data_parallel.current(self)
        if dp is not None:
            # Each rank's own stream for the mixing and augmentation draws
            # (a checkpoint being resumed restores them after this).
            torch.manual_seed(dp.rank_seed())
            self.rng_ = np.random.default_rng(dp.rank_seed())
            self.__dict__["_quiet_logs"] = _data_parallel.quiet_logs(self, dp)
            if self.sync_batch_norm:
                self.__dict__["_global_bn"] = [
                    to_global_batch_norm(m)
                    for m in _data_parallel.trained_modules(self).values()
                ]

    # Override of skorch 1.4 NeuralNet.on_epoch_begin, extended: re-balancing
    # and the learning rate of this epoch.
    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """Start the epoch: its re-balancing and its learning rate.

        Sets ``rebalance_active_`` (recorded in the history as
        ``'rebalance'``) from ``rebalance`` and its start epoch, and every
        parameter group's rate from ``lr_schedule`` and ``lr_warmup``
        (recorded as ``'lr'`` unless the schedule is constant), epoch ``e``
        counted from the start of the ``fit`` / ``partial_fit`` call.

        Parameters
        ----------
        net : skorch.NeuralNet
            This net.
        dataset_train, dataset_valid : torch.utils.data.Dataset, default=None
            The epoch's data; unused.
        **kwargs : dict
            Passed to skorch's ``on_epoch_begin``.
        """
        super().on_epoch_begin(
            net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs
        )
        epoch = _schedule.call_epoch(self)
        plan = self.__dict__.get("_rebalance_plan")
        active = plan is not None and plan.active(epoch)
        self.rebalance_active_ = active
        self.history.record("rebalance", active)
        if not _schedule.is_constant_schedule(self.lr_schedule, self.lr_warmup):
            factor = _schedule.lr_factor(
                self.lr_schedule,
                epoch,
                self.max_epochs,
                getattr(self, "decay_epoch_", None),
                self.lr_warmup,
            )
            self.history.record("lr", self._scale_rates(factor))

    def _scale_rates(self, factor):
        """Set every parameter group's rate to ``factor`` times its initial
        rate (remembered by :meth:`on_train_begin`); return the first's."""
        groups = self.optimizer_.param_groups
        for group, base in zip(groups, self.__dict__["_base_lrs"], strict=True):
            group["lr"] = base * factor
        return groups[0]["lr"]

    # Override of skorch 1.4 NeuralNet.on_train_end: cRT's frozen features
    # train again after the fit, the optimizer's rates are restored.
    def on_train_end(self, net, X=None, y=None, **kwargs):
        """Unfreeze what cRT froze and restore the optimizer's initial rates.

        The feature layers that ``rebalance='crt'`` froze train again, and
        the optimizer is left at its initial rates, so that a later
        ``partial_fit`` or warm-started ``fit`` runs the schedule from its
        start.

        Parameters
        ----------
        net : skorch.NeuralNet
            This net.
        X : object, default=None
            The training inputs; unused.
        y : object, default=None
            The training labels; unused.
        **kwargs : dict
            Passed to skorch's ``on_train_end``.
        """
        self._crt_unfreeze()
        self._restore_batch_norm()
        _data_parallel.restore_logs(self.__dict__.pop("_quiet_logs", ()))
        if "_base_lrs" in self.__dict__ and not _schedule.is_constant_schedule(
            self.lr_schedule, self.lr_warmup
        ):
            self._scale_rates(1.0)
        self.__dict__.pop("_base_lrs", None)
        super().on_train_end(net, X=X, y=y, **kwargs)

    def _restore_batch_norm(self):
        """Put back the BatchNorm layers ``sync_batch_norm`` swapped."""
        for swapped in self.__dict__.pop("_global_bn", ()):
            restore_batch_norm(swapped)

    def _augment_batch(self, X):
        """The training augmentation of ``augment``, before any mixing."""
        if isinstance(self.augment, str):  # 'crop_flip', checked at fit
            return random_crop_flip(X)
        out = self.augment(X)
        if not isinstance(out, torch.Tensor) or len(out) != len(X):
            raise TypeError(
                "augment must return a tensor with one row per sample of the "
                f"batch ({len(X)}); it returned "
                f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}."
            )
        return out

    def _validate_fit_input(self, X, y, *, reset, classes=None):
        """Arrays and tensors (``_validation``) or a map-style dataset with
        its labels as ``y`` (``_datasets_input``), as ``(X, y)`` tensors."""
        if is_dataset_input(X):
            return validate_dataset(self, X, y, reset=reset, classes=classes)
        return validate_fit_data(self, X, y, reset=reset, classes=classes)

    def _standardize(self, x):
        """``(x - input_mean_) / input_std_`` over channels or features."""
        key = (x.device, x.dtype)
        cache = self.__dict__.setdefault("_input_scale_cache", {})
        if key not in cache:
            shape = (1, -1, 1, 1) if x.ndim == 4 else (1, -1)
            mean = torch.as_tensor(self.input_mean_).to(x.device, x.dtype)
            std = torch.as_tensor(self.input_std_).to(x.device, x.dtype)
            cache[key] = (mean.reshape(shape), std.reshape(shape))
        mean, std = cache[key]
        return (x - mean) / std

    def __getstate__(self):
        """Pickle the net without its device copies of the input statistics."""
        state = super().__getstate__()
        state.pop("_input_scale_cache", None)
        return state

    # Override of skorch 1.4 NeuralNet.infer, wrapped: standardized, bf16 autocast
    # and channels-last input.
    def infer(self, x, **fit_params):
        """Run the forward pass, with the input options applied.

        ``standardize``, then channels-last input and bf16 autocast when
        asked; used in training, validation and prediction alike.

        Parameters
        ----------
        x : torch.Tensor
            A batch of inputs.
        **fit_params : dict
            Passed to the module's ``forward``.

        Returns
        -------
        y_infer : torch.Tensor
            The module's output.
        """
        x = _loop.as_float(x)  # uint8 batches of skorch's own validation step
        if (
            self.standardize
            and isinstance(x, torch.Tensor)
            and "input_mean_" in self.__dict__
        ):
            x = self._standardize(x)
        if self._uses_channels_last() and isinstance(x, torch.Tensor) and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        forward = super().infer
        view = module_for(self)  # set by _tau_normalised in this context only
        if view is not None:

            def forward(x, **fit_params):
                # skorch 1.4's NeuralNet.infer, running the view, not module_.
                view.training = self.module_.training
                x = to_tensor(x, device=self.device)
                if isinstance(x, Mapping):
                    return view(**self._merge_x_and_fit_params(x, fit_params))
                return view(x, **fit_params)

        if self.precision != "bf16":
            return forward(x, **fit_params)
        device_type = torch.device(self.device).type
        with torch.autocast(device_type=device_type, dtype=torch.bfloat16):
            out = forward(x, **fit_params)
        return out.float() if isinstance(out, torch.Tensor) else out

    # Override of skorch 1.4 NeuralNet.get_params_for_optimizer: the default
    # optimizer's fastest implementation.
    def get_params_for_optimizer(self, prefix, named_parameters):
        """Return the optimizer's arguments; the default AdamW runs fused.

        When the optimizer is skremix's default (``torch.optim.AdamW``) and
        neither ``optimizer__fused`` nor ``optimizer__foreach`` is set, it is
        built with ``fused=True`` on the CPU and CUDA: one kernel for all
        parameters instead of one per tensor. Any other optimizer, or an
        implementation chosen by the user, is left as given.

        Parameters
        ----------
        prefix : str
            The optimizer's name, ``'optimizer'``.
        named_parameters : iterable of (str, torch.nn.Parameter)
            The learnable parameters of every module.

        Returns
        -------
        args : tuple
            Positional arguments of the optimizer (its parameter groups).
        kwargs : dict
            Keyword arguments of the optimizer.
        """
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        fusable = torch.device(self.device).type in ("cpu", "cuda")
        chosen = "fused" in kwargs or "foreach" in kwargs
        if prefix == "optimizer" and self.optimizer is torch.optim.AdamW:
            if fusable and not chosen:
                kwargs["fused"] = True
        return args, kwargs

    # Override of skorch 1.4 NeuralNet.initialize, extended: the module needs the
    # input shape and the classes.
    def initialize(self, X=None):
        """Build the module, criterion and optimizer for the input and classes.

        ``fit`` calls it once it has seen the data. To build a net for
        skorch's ``load_params`` without training it, set the ``classes``
        parameter and pass a sample of the inputs as ``X`` (for rows,
        ``module__n_features=d`` instead of ``X`` also works): the net is
        then fitted once ``load_params`` has loaded the module's parameters
        (see the user guide's "Saving and loading").

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, ...), default=None
            Inputs in the layout the net will predict on (one sample is
            enough; none is trained on): they set ``input_shape_`` and
            ``n_features_in_``. None keeps those of the last ``fit``.

        Returns
        -------
        self : object
            The initialized net.
        """
        if X is not None or not hasattr(self, "input_shape_"):
            self._describe_input(X)
        self.__dict__.pop("_params_loaded", None)
        super().initialize()
        settle_integer_inputs(self)
        return self

    def _describe_input(self, X):
        """Set the input shape and the classes without training data, for
        :meth:`initialize`: from a sample ``X`` or ``module__n_features``,
        and the ``classes`` parameter."""
        name = type(self).__name__
        way = (
            "call fit(X, y), or, to load parameters saved by save_params, set the "
            "classes parameter and call initialize(X) with a sample of the inputs "
            "(for rows, module__n_features=d also works); see the user guide's "
            "'Saving and loading'."
        )
        if self.classes is None:
            raise ValueError(
                f"{name} builds its module from the shape of the inputs and the "
                f"classes: {way}"
            )
        if self.standardize:
            raise ValueError(
                f"standardize=True learns input statistics at fit (input_mean_, "
                f"input_std_), which save_params does not save: pickle the fitted "
                f"{name} instead, or standardize in a pipeline step before it."
            )
        if X is None:
            n_features = self.get_params_for("module").get("n_features")
            if n_features is None:
                raise ValueError(
                    f"{name} needs the shape of the inputs to build its module: {way}"
                )
            X = np.zeros((1, int(n_features)), dtype=np.float32)
        check_params(self)
        # validate_data requires a y with reset: one label per sample, unused.
        validate_X(self, X, reset=True, y=np.zeros(_num_samples(X)))
        encode_labels(self, np.asarray(self.classes), reset=True)

    # Override of skorch 1.4 NeuralNet.save_params, wrapped: rank 0 writes
    # during data-parallel training.
    def save_params(self, *args, **kwargs):
        """Save the parameters, as skorch does (see its ``save_params``).

        During data-parallel training (a callback such as skorch's
        ``Checkpoint`` saving at an epoch's end) only rank 0 writes, and the
        other ranks wait until it has.

        Parameters
        ----------
        *args, **kwargs
            The arguments of skorch's ``save_params`` (``f_params``, ...).
        """
        dp = _data_parallel.current(self)
        if dp is None or dp.is_main:
            super().save_params(*args, **kwargs)
        if dp is not None:
            dp.barrier()

    # Override of skorch 1.4 NeuralNet.load_params, extended: loaded module
    # parameters make the net fitted.
    def load_params(
        self,
        f_params=None,
        f_optimizer=None,
        f_criterion=None,
        f_history=None,
        checkpoint=None,
        use_safetensors=False,
        **kwargs,
    ):
        """Load what ``save_params`` saved; the module's parameters make it fitted.

        skorch's ``load_params`` (``f_rsg=...`` loads RSG's generator); the
        net must be initialized first, by ``fit`` or by
        :meth:`initialize` with a sample of the inputs.

        Parameters
        ----------
        f_params, f_optimizer, f_criterion, f_history : str or file, default=None
            What skorch saved: the module's parameters, the optimizer's and
            criterion's state, the history.
        checkpoint : skorch.callbacks.Checkpoint, default=None
            Load the files of a checkpoint instead.
        use_safetensors : bool, default=False
            Whether the files are in the safetensors format.
        **kwargs : dict
            ``f_<name>`` for other modules, e.g. ``f_rsg`` for RSG's
            generator ``rsg_``.
        """
        super().load_params(
            f_params=f_params,
            f_optimizer=f_optimizer,
            f_criterion=f_criterion,
            f_history=f_history,
            checkpoint=checkpoint,
            use_safetensors=use_safetensors,
            **kwargs,
        )
        if f_params is not None or checkpoint is not None:
            self.__dict__["_params_loaded"] = True

    # Key of this method in a module's ``default_mix_layers`` dict.
    _mix_layer_key: str | None = None

    def _mix_layer_name(self):
        """The submodule hidden-layer methods act on: ``mix_layer``, else the
        module's placement for this method (``default_mix_layers``), else its
        ``default_mix_layer``."""
        name = self.mix_layer
        if name is None:
            per_method = getattr(self.module_, "default_mix_layers", None) or {}
            name = per_method.get(self._mix_layer_key)
        if name is None:
            name = getattr(self.module_, "default_mix_layer", None)
        if name is None:
            raise ValueError(
                f"{type(self.module_).__name__} declares no default_mix_layer: set "
                "mix_layer to the name of the submodule whose output is mixed "
                f"(one of {[n for n, _ in self.module_.named_modules() if n]})."
            )
        resolve_layer(self.module_, name)
        return name

    # Override of skorch 1.4 NeuralNet.get_split_datasets, extended: class
    # statistics of the training part.
    def get_split_datasets(self, X, y=None, **fit_params):
        """Split the data and measure the training part's class statistics."""
        dataset_train, dataset_valid = super().get_split_datasets(X, y, **fit_params)
        tensors = _loop.dataset_tensors(dataset_train)
        labels = dataset_labels(dataset_train)
        if tensors is not None and tensors[1] is not None:
            y_train = tensors[1]
        elif labels is not None:  # dataset input: the labels given as y
            y_train = labels
        else:  # any other Dataset: skorch extracts the training part's y
            _, y_train = data_from_dataset(dataset_train)
        counts = np.bincount(to_numpy(y_train), minlength=len(self.classes_))
        check_batch_of_one(self, int(counts.sum()))
        dp = _data_parallel.current(self)
        if dp is not None:
            dp.check_same_data(type(self).__name__, torch.as_tensor(y_train), len(X))
            if counts.sum() < 2 * dp.world_size:
                raise ValueError(
                    f"{type(self).__name__} needs at least 2 training samples per "
                    f"rank for data-parallel training on {dp.world_size} ranks; "
                    f"got {int(counts.sum())}."
                )
        counts = counts.astype(np.int64)
        earlier = getattr(self, "class_counts_", None)
        if self.__dict__.get("_accumulate_counts") and earlier is not None:
            # partial_fit: the counts of every call since the last fit, as
            # scikit-learn's partial_fit estimators keep them.
            counts = counts + earlier
        self.class_counts_ = counts
        self.class_weights_ = effective_number_weights(counts, self.rebalance_beta)
        self.imbalance_kind_ = imbalance_kind(counts)
        if self.standardize and "input_mean_" not in self.__dict__:
            self.input_mean_, self.input_std_ = _loop.input_statistics(
                dataset_train, self.input_shape_
            )
        self.__dict__.pop("_input_scale_cache", None)
        self.__dict__["_rebalance_plan"] = make_rebalance(
            self.rebalance, self.rebalance_start, self.max_epochs
        )
        self.plain_epochs_ = self.__dict__["_rebalance_plan"].start
        self.decay_epoch_ = self._epochs_before(self.rebalance_start)
        return dataset_train, dataset_valid

    def _epochs_before(self, start):
        """An epoch threshold of ``max_epochs`` (:func:`_schedule.epoch_threshold`)."""
        return _schedule.epoch_threshold(start, self.max_epochs)

    def _make_fit_state(self, device):
        """The :class:`~skremix.base.FitState` of this fit on ``device``; a
        method with per-fit tensors of its own overrides it."""
        margins = None
        if self.loss == "ldam":

            def margins(counts):
                return ldam_margins(counts, self.ldam_max_m)

        offsets = None
        if self.loss == "logit_adjusted":

            def offsets(counts):
                return logit_adjustment(counts, self.la_tau)

        return FitState.from_counts(
            self.class_counts_,
            self.class_weights_,
            device,
            ldam_margins=margins,
            logit_adjustment=offsets,
        )

    def fit_state(self, device):
        """Class statistics of the running fit, as tensors on ``device``.

        Built once per ``fit`` / ``partial_fit`` call and device, from the
        training part's class counts; valid only during training.

        Parameters
        ----------
        device : str or torch.device
            Device of the batch being trained on.

        Returns
        -------
        state : skremix.base.FitState
            ``counts``, ``weights``, ``ldam_margins`` and a method's own
            fields.
        """
        device = torch.device(device)
        # One state per device: with data_placement='host' on a GPU, batches
        # are drawn on the host and losses computed on the device.
        states = self.__dict__.setdefault("fit_state_", {})
        if device not in states:
            states[device] = self._make_fit_state(device)
        return states[device]

    # Override of skorch 1.4 NeuralNet.get_iterator: tensors in memory skip the
    # DataLoader (skremix._loop).
    def get_iterator(self, dataset, training=False):
        """Return batches of in-memory tensors, or skorch's DataLoader otherwise.

        Parameters
        ----------
        dataset : torch.utils.data.Dataset
            The training or validation part.
        training : bool, default=False
            Training batches are re-drawn every epoch (shuffled or
            re-sampled) and moved to the device once.

        Returns
        -------
        iterator : iterable of (X, y) batches
            With ``len`` the number of batches of one epoch.
        """
        iterator = self._batch_iterator(dataset, training)
        if training:  # read again by the BatchNorm recalibration
            self.__dict__["_train_iterator"] = iterator
        return iterator

    def _batch_iterator(self, dataset, training):
        """The iterator of :meth:`get_iterator`."""
        tensors = _loop.dataset_tensors(dataset)
        iterator = self.iterator_train if training else self.iterator_valid
        labels = dataset_labels(dataset) if training else None
        if iterator is not DataLoader or (tensors is None and labels is None):
            return super().get_iterator(dataset, training=training)
        if not training:
            return self._valid_iterator(dataset, tensors)
        if tensors is None:  # dataset input, with its labels
            options = self._train_batch_options(len(labels))
            return epoch_loader(self, dataset, labels, options)
        X, y = tensors
        options = self._train_batch_options(len(X))
        if options.loader:
            # Loading options (workers, collate_fn, ...): a DataLoader serves
            # the batches skremix draws.
            if self.__dict__.get("_sample_weight") is not None:
                raise ValueError(
                    "sample_weight needs skremix's in-memory batches, and "
                    f"iterator_train__{sorted(options.loader)[0]} asks for a "
                    "DataLoader: drop the loading options to train "
                    f"{type(self).__name__} with sample weights."
                )
            return epoch_loader(self, dataset, y, options)
        device = self.device
        self.data_placement_ = data_placement(self, X)
        if self.data_placement_ == "device":
            X, y = X.to(device), y.to(device)
            if self._uses_channels_last() and X.ndim == 4:
                X = X.contiguous(memory_format=torch.channels_last)
        weights = self._train_sample_weight(dataset)
        return _loop.TensorBatches(
            X,
            y,
            lambda: self._epoch_batches(y, options.batch_size),
            device,
            self._n_train_batches(len(X), options),
            pin=X.device.type == "cpu" and torch.device(device).type == "cuda",
            weights=None if weights is None else weights.to(y.device),
        )

    def _valid_iterator(self, dataset, tensors):
        """Validation and prediction batches: slices of the in-memory tensors
        (only ``iterator_valid__batch_size`` given), else skorch's DataLoader
        with every ``iterator_valid__*`` option."""
        params = self.get_params_for("iterator_valid")
        if set(params) - {"batch_size"}:
            return super().get_iterator(dataset, training=False)
        X, y = tensors
        n = len(X)
        batch_size = params.get("batch_size", self.batch_size)
        if batch_size == -1:
            batch_size = max(n, 1)
        return _loop.TensorBatches(
            X,
            y,
            lambda: (slice(a, min(a + batch_size, n)) for a in range(0, n, batch_size)),
            self.device,
            -(-n // batch_size),
        )

    def _train_batch_options(self, n):
        """The ``iterator_train__*`` options of this fit's training batches
        (:mod:`skremix._batches`), ``batch_size=-1`` resolved for ``n``
        samples; kept for the epoch's batch order."""
        options = _batches.batch_options(self)
        if options.batch_size == -1:
            options = replace(options, batch_size=max(n, 1))
        drawn = _batches.n_samples_drawn(options, n)
        if options.drop_last and drawn < options.batch_size:
            raise ValueError(
                f"iterator_train__drop_last=True with batch_size="
                f"{options.batch_size} drops every batch of an epoch of {drawn} "
                f"samples: {type(self).__name__} would not train. Use a smaller "
                "batch_size, or drop_last=False."
            )
        self.__dict__["_batch_options"] = options
        return options

    def _n_train_batches(self, n, options):
        """Batches per training epoch (of this rank), planned without
        drawing one."""
        dp = _data_parallel.current(self)
        drawn = _batches.n_samples_drawn(options, n)
        batch_size = options.batch_size
        if dp is not None:
            batch_size = dp.global_batch_size(batch_size)
        planned = _loop.chunks(range(drawn), batch_size, options.drop_last)
        if dp is None:
            return len(planned)
        return dp.n_batches(len(planned), len(planned[-1]) if planned else 0)

    def _epoch_batches(self, y, batch_size):
        """The index batches this process trains on in one epoch: the
        method's :meth:`_train_batches`; with ``data_parallel``, this rank's
        share of each global batch of ``batch_size * world_size``, drawn
        alike on every rank (:mod:`skremix._data_parallel`)."""
        dp = _data_parallel.current(self)
        if dp is None:
            return self._train_batches(y, batch_size)
        with dp.shared_draws(self, len(self.history)):
            batches = self._train_batches(y, dp.global_batch_size(batch_size))
        return dp.shard(batches)

    # Override of skorch 1.4 NeuralNet.get_dataset: dataset input gets its labels.
    def get_dataset(self, X, y=None):
        """Wrap dataset input with its labels; arrays as skorch does.

        Parameters
        ----------
        X : array-like, torch.Tensor or torch.utils.data.Dataset
            The inputs.
        y : torch.Tensor or None, default=None
            The encoded labels.

        Returns
        -------
        dataset : torch.utils.data.Dataset
            Yielding ``(sample, label)`` pairs.
        """
        if is_dataset_input(X):
            return LabelledDataset(X, y, self.input_shape_)
        return super().get_dataset(X, y)

    def _active_rebalance(self):
        """The fit's :class:`~skremix._rebalance.Rebalance` while it acts in
        this epoch (``rebalance_active_``, set by :meth:`on_epoch_begin`),
        else None."""
        plan = self.__dict__.get("_rebalance_plan")
        active = plan is not None and bool(self.__dict__.get("rebalance_active_"))
        return plan if active else None

    def _train_batches(self, y, batch_size):
        """Index batches of one training epoch, on the device of ``y``.

        The order of ``iterator_train__sampler`` when given, the data's
        order with ``iterator_train__shuffle=False``; otherwise that of
        ``rebalance`` in this epoch (:func:`skremix._rebalance.epoch_order`:
        shuffled, re-sampled by class weight, or class-balanced in cRT's
        re-training phase). Split into batches of ``batch_size``, the last
        dropped if partial with ``iterator_train__drop_last=True``.
        """
        options = self.__dict__.get("_batch_options") or _batches.BatchOptions(
            batch_size
        )
        if options.sampler is not None:
            order = _batches.sampler_order(options.sampler, len(y), y.device)
        elif not options.shuffle:
            order = torch.arange(len(y), device=y.device)
        else:
            plan = self.__dict__["_rebalance_plan"]
            active = bool(self.__dict__.get("rebalance_active_"))
            draws = active and plan.draws_batches
            state = self.fit_state(y.device) if draws else None
            order = epoch_order(plan, active, y, state)
        return _loop.chunks(order, batch_size, options.drop_last)

    def train_forward(self, X, y, sample_weight=None, **fit_params):
        """The forward pass of a training step: the hook a method overrides.

        Called by :meth:`train_step_single` with the module in train mode, on
        a batch already on the device; the loop computes the loss from the
        result (:func:`skremix.losses.batch_loss` with the class weights of
        ``rebalance`` and the margins of ``loss='ldam'``), adds
        ``extra_losses``, records them and ``records`` in the history, and
        runs the backward pass. During training, :meth:`fit_state` gives the
        class counts and ``rng_`` (a :class:`numpy.random.Generator` seeded
        from ``random_state``) the host randomness; torch's global generator
        is seeded too. The base (ERM) is a plain forward pass. A method that
        takes ``sample_weight`` returns the weights of its rows in the
        step; ``fit`` refuses sample weights for a method that does not.

        %(train_forward_params)s

        Returns
        -------
        step : skremix.base.TrainStep
            Logits, targets (indices or probabilities), extra losses,
            records and the rows' sample weights.
        """
        return TrainStep(self.infer(X, **fit_params), y, sample_weight=sample_weight)

    def _step_loss(self, Xi, yi, weights, fit_params):
        """The method's :meth:`train_forward` and its training loss (with
        the extra losses): ``(loss, step)``."""
        if weights is None:
            step = self.train_forward(Xi, yi, **fit_params)
        else:
            step = self.train_forward(Xi, yi, sample_weight=weights, **fit_params)
        if step.sample_weight is None:
            loss = self.get_loss(step.logits, step.targets, X=Xi, training=True)
        else:
            loss = self.get_loss(
                step.logits,
                step.targets,
                X=Xi,
                training=True,
                sample_weight=step.sample_weight,
            )
        for value in step.extra_losses.values():
            loss = loss + value
        return loss, step

    # Override of skorch 1.4 NeuralNet.train_step_single: the method hook
    # train_forward, extra losses and records.
    def train_step_single(self, batch, **fit_params):
        """Run the method's :meth:`train_forward`, the loss and its backward pass."""
        # skorch sets train mode on every module at every step; walking the
        # module tree is a visible part of a small network's step. Evaluation
        # (validation, a callback predicting) puts module_ in eval mode, so
        # its flag tells when the walk is needed.
        if not self.module_.training:
            self._set_training(True)
        if self.rebalance == "crt":
            self._crt_phase()
        Xi, yi = unpack_data(batch)
        Xi = _loop.as_float(Xi)  # uint8 batches from a DataLoader
        if self.augment is not None:
            Xi = self._augment_batch(Xi)
        weights = getattr(batch, "sample_weight", None)
        dp = _data_parallel.current(self)
        if dp is None:
            loss, step = self._step_loss(Xi, yi, weights, fit_params)
        else:
            # Through DistributedDataParallel; the mean over the global
            # batch, uneven shares included.
            loss, step = dp.forward(self, self._step_loss, Xi, yi, weights, fit_params)
        y_pred = step.logits
        for name, value in step.extra_losses.items():
            value = value.detach()
            self.history.record_batch(
                name, value if _loop.stays_on_device(value) else float(value)
            )
        for name, value in step.records.items():
            if isinstance(value, torch.Tensor):
                value = value.detach()
                if not _loop.stays_on_device(value):
                    value = value.item()
            self.history.record_batch(name, value)
        # Divergence is checked at the end of the epoch, on the recorded losses
        # (run_single_epoch): checking here would synchronise on a GPU.
        if dp is None:
            loss.backward()
        else:
            (loss * dp.loss_scale(get_len(yi))).backward()
        # The batch's own rows, the first len(yi) (a method appends the rows
        # it generates after them): skorch's caching scorers pair y_pred with
        # the batch's y.
        if isinstance(y_pred, torch.Tensor) and len(y_pred) > get_len(yi):
            y_pred = y_pred[: get_len(yi)]
        return {"loss": loss, "y_pred": y_pred}

    # Override of skorch 1.4 NeuralNet.run_single_epoch: batch records read once
    # per epoch.
    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """Run one epoch, reading the batch records back once at its end.

        skorch's epoch loop, except that on an accelerator the per-batch
        losses (and the methods' extra loss terms) are recorded in the
        history as device tensors and read back in one transfer at the end of
        the epoch, before ``on_epoch_end``: no host-device synchronisation per
        step. A callback reading ``train_loss`` of a batch in ``on_batch_end``
        gets a 0-d tensor there on CUDA; everything after the epoch sees
        floats. A non-finite training loss raises ``FloatingPointError`` at
        the end of its epoch, on every device (the steps in between are
        wasted; nothing is returned)."""
        if iterator is None:
            return
        batch_count = 0
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            loss = step["loss"].detach()
            self.history.record_batch(
                prefix + "_loss", loss if _loop.stays_on_device(loss) else loss.item()
            )
            self.history.record_batch(
                prefix + "_batch_size",
                get_len(batch[0])
                if isinstance(batch, (tuple, list))
                else get_len(batch),
            )
            self.notify("on_batch_end", batch=batch, training=training, **step)
            batch_count += 1
        _loop.read_batch_records(
            self.history, check_loss=prefix + "_loss" if training else None, lr=self.lr
        )
        dp = _data_parallel.current(self)
        if dp is not None and training:
            # Every rank: the global batches' records and the same running
            # statistics, before validation and the callbacks.
            dp.reduce_batch_records(self.history, prefix)
            average_running_stats(
                _data_parallel.trained_modules(self).values(), dp.world_size
            )
        self.history.record(prefix + "_batch_count", batch_count)

    # Override of skorch 1.4 NeuralNetClassifier.get_loss: soft targets, class
    # weights, LDAM.
    def get_loss(self, y_pred, y_true, X=None, training=False, sample_weight=None):
        """Mean over the batch of the per-sample cross-entropy.

        In training, soft targets are accepted and the class weights of
        ``rebalance='rw'`` / ``'drw'`` apply, times the rows'
        ``sample_weight`` when given: the weighted per-sample losses are
        divided by the batch size (not by the sum of the weights, as the
        reference DRW code does), the same normalisation for every method.
        With ``loss='ldam'`` the logits get the LDAM margins and scale in
        training, the scale alone at validation. ``loss='logit_adjusted'``
        shifts the logits by ``la_tau * log(pi)`` in training and
        ``loss='focal'`` takes the focal loss there; both validate with
        ``criterion`` of the logits.

        Parameters
        ----------
        y_pred : torch.Tensor of shape (B, C) or tuple
            Logits (a tuple's first element).
        y_true : torch.Tensor of shape (B,) or (B, C)
            Class indices, or probability rows in training.
        X : object, default=None
            The batch's inputs; unused.
        training : bool, default=False
            Training loss (class weights, LDAM margins, sample weights) or
            validation loss (``criterion``, by default the plain
            cross-entropy).
        sample_weight : torch.Tensor of shape (B,), default=None
            The rows' weights in training; None weights every row 1.

        Returns
        -------
        loss : torch.Tensor
            A scalar.
        """
        if isinstance(y_pred, tuple):
            y_pred = y_pred[0]
        y_true = y_true.to(y_pred.device)
        if not training:
            # The validation loss: ``criterion`` of the (LDAM-scaled) logits.
            scale = self.ldam_s if self.loss == "ldam" else 1.0
            return self.criterion_(scale * y_pred.float(), y_true.long())
        state = self.fit_state(y_pred.device)
        rebalance = self._active_rebalance()
        reweights = rebalance is not None and rebalance.reweights
        weight = state.weights if reweights else None
        return batch_loss(
            y_pred,
            y_true,
            weight,
            ldam_margins=state.ldam_margins,
            ldam_s=self.ldam_s,
            sample_weight=sample_weight,
            logit_adjustment=state.logit_adjustment,
            focal_gamma=self.focal_gamma if self.loss == "focal" else None,
        )

    # ------------------------------------------------------------- predicting
    # Override of skorch 1.4 NeuralNet.evaluation_step: small batches padded.
    def evaluation_step(self, batch, training=False):
        """Run inference on one batch, padding batches under 16 rows.

        Small batches are padded by repetition so that every row goes
        through the same float32 BLAS kernels whatever the batch size
        (predictions of a row do not depend on which rows it is predicted
        with). uint8 batches (from a DataLoader) are scaled to [0, 1]."""
        Xi, yi = unpack_data(batch)
        Xi = _loop.as_float(Xi)
        n = len(Xi) if isinstance(Xi, torch.Tensor) else 0
        if training or not 0 < n < _MIN_EVAL_ROWS:
            return super().evaluation_step((Xi, yi), training=training)
        reps = -(-_MIN_EVAL_ROWS // n)
        padded = Xi.repeat(reps, *([1] * (Xi.ndim - 1)))[:_MIN_EVAL_ROWS]
        out = super().evaluation_step((padded, yi), training=training)
        if isinstance(out, tuple):
            return tuple(o[:n] for o in out)
        return out[:n]

    # Override of skorch 1.4 NeuralNet._get_predict_nonlinearity: float64 softmax,
    # LDAM's scale, post-hoc logit adjustment (of the tau-normalised logits when
    # tau_norm is set: _predict_batches runs the forward passes under
    # _tau_normalised). The adjustments are functions of the fitted state.
    def _get_predict_nonlinearity(self):
        if (
            isinstance(self.predict_nonlinearity, str)
            and self.predict_nonlinearity == "auto"
        ):
            if getattr(self, "posthoc_tau", None) is not None:
                return self._posthoc_nonlinearity()
            if self.loss == "ldam":
                # The probabilities of the scaled logits LDAM trained.
                return lambda logits: _softmax(self.ldam_s * logits)
            return _softmax
        return super()._get_predict_nonlinearity()

    def _posthoc_nonlinearity(self):
        """The softmax of the logits minus ``posthoc_tau * log(pi)`` (Menon
        et al. 2021, Eq. 9), ``pi`` the priors of ``class_counts_``; LDAM's
        logits scaled by ``ldam_s`` first."""
        check_posthoc(self)
        scale = self.ldam_s if self.loss == "ldam" else 1.0
        adjust = posthoc_adjustment(self.class_counts_, self.posthoc_tau, scale)
        return lambda logits: _softmax(adjust(logits))

    # Override of skorch 1.4 NeuralNetClassifier.predict_proba, wrapped:
    # validation and a finiteness check.
    def predict_proba(self, X):
        """Class probabilities, one column per class in ``classes_`` order.

        The softmax of the logits, those of the tau-normalised head when
        ``tau_norm`` is set, adjusted by ``posthoc_tau`` when it is set.

        Parameters
        ----------
        X : array-like, torch.Tensor or Dataset
            Same layout as in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to one.
        """
        check_is_fitted(self)
        if is_dataset_input(X):
            X, _ = validate_dataset(self, X, reset=False)
        else:
            X = as_tensor(validate_X(self, X, reset=False))
        proba = self._predict_batches(X)
        if not np.all(np.isfinite(proba)):
            raise FloatingPointError(
                "The network outputs non-finite values: training diverged. "
                f"Refit with a lower lr (now {self.lr})."
            )
        return proba

    def _predict_batches(self, X):
        """skorch 1.4's ``NeuralNet.predict_proba`` loop, writing each batch's
        probabilities into one preallocated array of ``len(X)`` rows: keeping
        every batch's small output alive between the large temporaries of the
        next ones fragments the host heap, so resident memory grows with
        every batch. Parts of another total (skorch's caching scorers yield
        the training batches' outputs, whose rows a re-sampling method draws
        anew) are kept too: the array is cut, or the parts past it are
        concatenated to it."""
        nonlin = self._get_predict_nonlinearity()
        proba, filled, more = None, 0, []
        try:
            with self._tau_normalised():
                for part in self._predicted_parts(X, nonlin):
                    if proba is None:
                        shape = (len(X), *part.shape[1:])
                        proba = np.empty(shape, dtype=part.dtype)
                    if not more and filled + len(part) <= len(proba):
                        proba[filled : filled + len(part)] = part
                        filled += len(part)
                    else:
                        more.append(part)
        except torch.OutOfMemoryError as exc:
            raise out_of_memory_error(self, exc, X, "predicting") from exc
        if more:
            return np.concatenate([proba[:filled], *more])
        if proba is not None and filled < len(proba):
            return proba[:filled]
        return proba

    def _predicted_parts(self, X, nonlin):
        """Each batch's predicted probabilities, on the host."""
        for yp in self.forward_iter(X, training=False):
            yp = yp[0] if isinstance(yp, tuple) else yp
            yield to_numpy(nonlin(yp))

    def predict(self, X):
        """Predicted class labels, taken from ``classes_``.

        Parameters
        ----------
        X : array-like, torch.Tensor or Dataset
            Same layout as in :meth:`fit`.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The class of highest probability for each sample.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


# The name of the base before it was public; kept for imports of it.
_ImbalancedNetBase = BaseImbalancedClassifier
