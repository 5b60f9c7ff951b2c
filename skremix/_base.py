"""The one skorch base shared by every skremix classifier.

It holds the scikit-learn contract (validation, label encoding, fitted
attributes), the default modules, device and seeding, class counts measured
on the data actually trained on, the deferred re-weighting / re-sampling of
Cao et al., and a fast in-memory batch loop. A method subclass overrides
only :meth:`_ImbalancedNetBase._train_forward` (and, for re-sampling
methods, :meth:`_ImbalancedNetBase._train_batches`).
"""

from __future__ import annotations

import copy
import inspect
import math
import numbers
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch import NeuralNetClassifier
from skorch.callbacks import EpochTimer, PassthroughScoring, PrintLog
from skorch.dataset import Dataset as SkorchDataset
from skorch.dataset import get_len, unpack_data
from skorch.utils import data_from_dataset, to_numpy
from torch.utils.data import DataLoader, Subset

from skremix.callbacks import LRSchedule, RebalanceSchedule, ValidBalancedAccuracy
from skremix.datasets import imbalance_kind
from skremix.mixing import (
    ldam_cross_entropy,
    ldam_logits,
    ldam_margins,
    resolve_layer,
    soft_cross_entropy,
)
from skremix.nn import default_module
from skremix.sampling import effective_number_weights

__all__: list[str] = []

_MIN_EVAL_ROWS = 16


_SHARED_PARAMS_DOC = """module : torch.nn.Module class or instance, default=None
        The network. None picks one from the shape of ``X`` at fit
        (:func:`skremix.nn.default_module`): an MLP for rows, a small ConvNet
        for images smaller than 32x32, a CIFAR ResNet-32 from 32x32 up.
        A class gets ``n_features`` / ``in_channels`` / ``n_classes`` /
        ``input_shape`` filled in when its constructor takes them;
        ``module__*`` parameters are passed to it, as in skorch.
    criterion : torch criterion class, default=torch.nn.CrossEntropyLoss
        Used for the validation loss only; the training loss is the
        per-sample (soft-label, class-weighted) cross-entropy of skremix.
    optimizer : torch optimizer class, default=torch.optim.AdamW
        ``optimizer__*`` parameters are passed to it.
    lr : float, default=1e-3
        Initial learning rate.
    lr_schedule : {'constant', 'step', 'cosine'}, default='constant'
        Per-epoch learning rate (:class:`skremix.callbacks.LRSchedule`).
        'constant' is skorch's behaviour, the measured default (see the user
        guide's quality matrix). 'step' is the papers' protocol: x0.1 from
        the deferred start ``rebalance_start`` (80% of the epochs), x0.01
        halfway from there to the end, with deferred re-balancing switched on
        at the first decay. 'cosine' anneals the rate to zero over
        ``max_epochs``. Each ``fit`` / ``partial_fit`` call runs the schedule
        from its start, and so does the deferred start.
    max_epochs : int, default=30
        Number of epochs of ``fit``.
    batch_size : int, default=64
        Mini-batch size (``-1``: the whole data set). A batch size larger
        than the data gives one batch per epoch.
    train_split : callable or None, default=None
        None trains on all the data, as sklearn estimators do. Pass e.g.
        ``skorch.dataset.ValidSplit(0.2, stratified=True)`` to hold out a
        validation part: its balanced accuracy is recorded as ``valid_bacc``
        and class counts are those of the training part.
    rebalance : {None, 'rw', 'rs', 'drw', 'drs'}, default=None
        Class re-balancing of Cao et al. (2019) with effective-number weights
        ``w_c = (1 - b) / (1 - b**N_c)`` scaled to sum to C: re-weighting
        (``'rw'``) or re-sampling (``'rs'``) from the first epoch, or deferred
        (``'drw'``, ``'drs'``) from ``rebalance_start``.
    rebalance_start : int or float, default=0.8
        Deferred start: an int is the number of plain epochs; a float in
        [0, 1) the fraction of ``max_epochs`` trained plain (0.8 = the papers'
        "after 80% of the epochs", the LR decay at epoch 160 of 200). Counted
        from the start of each ``fit`` / ``partial_fit`` call. Also the first
        decay of ``lr_schedule='step'``.
    rebalance_beta : float, default=0.9999
        ``b`` of the effective number.
    loss : {'ce', 'ldam'}, default='ce'
        Training loss. ``'ce'``: cross-entropy. ``'ldam'``: the
        label-distribution-aware margin loss of Cao et al. (2019): the margin
        ``m_c = ldam_max_m * (N_c / N_min)**-0.25`` is subtracted from the
        true-class logit and the logits are scaled by ``ldam_s`` before the
        cross-entropy; a soft target (mixing methods) gives the
        target-weighted sum of one LDAM term per class, each with its own
        class's margin (:func:`skremix.mixing.ldam_cross_entropy`, the
        two-term loss of Remix with LDAM). A module class that takes
        ``normed_head`` (every built-in one) gets ``normed_head=True``, the
        cosine classifier of LDAM, unless ``module__normed_head`` is set.
        No margin at validation and prediction, where the logits are scaled
        by ``ldam_s`` (validation loss, ``predict_proba``), as in training.
        With ``rebalance='drw'`` this is LDAM-DRW.
    ldam_max_m : float, default=0.5
        Largest LDAM margin (that of the rarest class); ``loss='ldam'`` only.
    ldam_s : float, default=30.0
        Logit scale of LDAM; ``loss='ldam'`` only.
    precision : {'fp32', 'bf16'}, default='fp32'
        'bf16' runs the module's forward passes (training and prediction)
        under ``torch.autocast`` with bfloat16; losses and probabilities stay
        float32. Pays off on GPUs with bf16 units (and some CPUs).
    channels_last : bool, default=False
        Images and the module in channels-last memory format (convolutions
        are faster in it on recent GPUs); no effect on tabular input.
    mix_layer : str or None, default=None
        Dotted name of the submodule whose output hidden-layer methods
        transform; None takes the module's ``default_mix_layer`` (after the
        second block or group of the built-in modules).
    random_state : int, RandomState instance or None, default=None
        Seeds weights, batches and mixing; two fits with the same int give
        the same probabilities. The caller's global RNG state is untouched.
    device : 'auto', str or torch.device, default='auto'
        'auto' trains on CUDA when a GPU is present and on the CPU otherwise.
    verbose : int, default=0
        skorch's per-epoch table when > 0.
    **kwargs
        Any other skorch parameter (``callbacks``, ``warm_start``,
        ``iterator_valid__batch_size``, ...)."""


def _params_doc(**defaults):
    """The shared parameter docs with a class's own defaults, e.g.
    ``_params_doc(rebalance="'drw'")`` for a class whose ``rebalance``
    defaults to ``'drw'``."""
    doc = _SHARED_PARAMS_DOC
    for name, value in defaults.items():
        head, sep, rest = doc.partition(f"\n    {name} : ")
        if not sep:
            raise KeyError(name)
        line, nl, tail = rest.partition("\n")
        kind = line.rsplit(", default=", 1)[0]
        doc = f"{head}{sep}{kind}, default={value}{nl}{tail}"
    return doc


_SHARED_ATTRIBUTES_DOC = """classes_ : ndarray of shape (n_classes,)
        The class labels, in the order of the ``predict_proba`` columns.
    class_counts_ : ndarray of shape (n_classes,)
        Per-class counts of the data actually trained on (after any
        validation split), aligned with ``classes_``.
    class_weights_ : ndarray of shape (n_classes,)
        Effective-number class weights of ``class_counts_`` (sum C).
    imbalance_kind_ : {'step', 'long_tailed'}
        Profile of ``class_counts_`` (:func:`skremix.datasets.imbalance_kind`);
        MFW's and RSG's 'auto' settings follow it.
    n_features_in_ : int
        Features of tabular input; for images the size of axis 1 of ``X``
        as passed (channels, or height for ``(n, h, w)`` input).
    input_shape_ : tuple
        Shape of one sample as the module sees it: ``(d,)`` or ``(c, h, w)``.
    module_ : torch.nn.Module
        The trained network.
    history_ : skorch.History
        Per-epoch losses, ``rebalance`` state and validation scores."""


def _softmax(logits):
    # Module level so that pickled nets keep working; float64 so that rows
    # sum to one to sklearn's tolerance.
    return torch.softmax(logits.double(), dim=-1)


class _TensorBatches:
    """Mini-batches of tensors already in memory, re-drawn at every epoch.

    Replaces a DataLoader over a map-style Dataset: no per-sample indexing,
    no collation, and for training the data is moved to the device once.
    """

    def __init__(self, X, y, batches, device, n_batches):
        self.X = X
        self.y = y
        self.batches = batches
        self.device = device
        self.n_batches = n_batches

    def __iter__(self):
        for idx in self.batches():
            Xb = self.X[idx]
            yb = None if self.y is None else self.y[idx]
            if Xb.device != torch.device(self.device):
                Xb = Xb.to(self.device, non_blocking=True)
                yb = None if yb is None else yb.to(self.device, non_blocking=True)
            yield Xb, yb

    def __len__(self):
        # The planned count: never re-draws an epoch (that would consume the
        # random state and change the fit).
        return self.n_batches


def _dataset_tensors(dataset):
    """(X, y) tensors behind a skorch Dataset or a Subset of one, else None."""
    if isinstance(dataset, Subset):
        inner = _dataset_tensors(dataset.dataset)
        if inner is None:
            return None
        X, y = inner
        idx = torch.as_tensor(np.asarray(dataset.indices), dtype=torch.long)
        return X[idx], (None if y is None else y[idx])
    if isinstance(dataset, SkorchDataset) and isinstance(dataset.X, torch.Tensor):
        y = dataset.y
        if y is not None and not isinstance(y, torch.Tensor):
            y = torch.as_tensor(np.asarray(y))
        return dataset.X, y
    return None


def _stays_on_device(value):
    """Whether a per-batch scalar is kept as a device tensor until the end of
    the epoch: on an accelerator, reading it (``loss.item()``) would make the
    host wait for the device at every step. On the CPU it is read at once."""
    return value.device.type != "cpu"


def _chunks(order, batch_size):
    """Split an index vector into batches; a trailing batch of one sample is
    merged into the previous one (BatchNorm cannot train on one sample)."""
    n = len(order)
    bounds = list(range(0, n, batch_size)) + [n]
    if batch_size > 1 and len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
        del bounds[-2]
    return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


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


class _ImbalancedNetBase(NeuralNetClassifier):
    """Private skorch base of the skremix classifiers."""

    _parameter_constraints: dict = {
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [
            Interval(numbers.Integral, 1, None, closed="left"),
            Options(numbers.Integral, {-1}),
        ],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"constant", "step", "cosine"})],
        "rebalance": [StrOptions({"rw", "rs", "drw", "drs"}), None],
        "rebalance_start": [
            Interval(numbers.Integral, 0, None, closed="left"),
            Interval(numbers.Real, 0, 1, closed="left"),
        ],
        "rebalance_beta": [Interval(numbers.Real, 0, 1, closed="left")],
        "mix_layer": [str, None],
        "random_state": ["random_state"],
        "loss": [StrOptions({"ce", "ldam"})],
        "precision": [StrOptions({"fp32", "bf16"})],
        "channels_last": ["boolean"],
        "ldam_max_m": [Interval(numbers.Real, 0, None, closed="neither")],
        "ldam_s": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        module=None,
        *,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW,
        lr=1e-3,
        lr_schedule="constant",
        max_epochs=30,
        batch_size=64,
        train_split=None,
        rebalance=None,
        rebalance_start=0.8,
        rebalance_beta=0.9999,
        loss="ce",
        precision="fp32",
        channels_last=False,
        ldam_max_m=0.5,
        ldam_s=30.0,
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
        self.rebalance = rebalance
        self.rebalance_start = rebalance_start
        self.rebalance_beta = rebalance_beta
        self.loss = loss
        self.precision = precision
        self.channels_last = channels_last
        self.ldam_max_m = ldam_max_m
        self.ldam_s = ldam_s
        self.mix_layer = mix_layer
        self.random_state = random_state

    # ------------------------------------------------------------------ device
    # ``device='auto'`` stays the public parameter (get_params, clone, pickle)
    # while skorch's internals read the resolved device through this property.
    @property
    def device(self):
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
        params = super().get_params(deep=deep, **kwargs)
        params["device"] = self.__dict__.get("device", "auto")
        return params

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
            ("rebalance", RebalanceSchedule()),
            ("lr_schedule", LRSchedule()),
            ("print_log", PrintLog()),
        ]

    # ---------------------------------------------------------- sklearn tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    def __sklearn_is_fitted__(self):
        return bool(self.__dict__.get("initialized_")) and hasattr(
            self, "class_counts_"
        )

    # ------------------------------------------------------------- validation
    def _check_params(self):
        """Validate skremix's parameters (skorch's own check only looks at
        routed names), before any data is touched."""
        constraints = {}
        for klass in reversed(type(self).__mro__):
            constraints.update(getattr(klass, "_parameter_constraints", {}))
        validate_parameter_constraints(
            constraints,
            {name: getattr(self, name) for name in constraints},
            caller_name=type(self).__name__,
        )
        raw = self.__dict__.get("device", "auto")
        if raw is not None and not (isinstance(raw, str) and raw == "auto"):
            try:
                dev = torch.device(raw)
            except (RuntimeError, TypeError) as exc:
                raise ValueError(
                    f"device={raw!r} is not a valid torch device."
                ) from exc
            if dev.type == "cuda" and not torch.cuda.is_available():
                raise ValueError(
                    f"device={raw!r} was requested but CUDA is not available "
                    "(torch.cuda.is_available() is False); use device='auto' "
                    "to train on a GPU when there is one and on the CPU otherwise."
                )

    def _check_method_params(self):
        """Checks of a method that need the data (``input_shape_``), run after
        validation and before any training; constraints cover the rest."""

    def _validate_X(self, X, *, reset, y=None):
        """Validate and convert X (and y) the way sklearn does, for tabular
        rows ``(n, d)`` and images ``(n, h, w)`` / ``(n, c, h, w)``."""
        if isinstance(X, torch.Tensor):
            X = X.detach().cpu().numpy()
        if isinstance(y, torch.Tensor):
            y = y.detach().cpu().numpy()
        is_uint8 = getattr(X, "dtype", None) == np.uint8
        shape = getattr(X, "shape", None)
        if not reset and shape is not None and len(shape) in (3, 4):
            sample = tuple(shape[1:]) if len(shape) == 4 else (1, *shape[1:])
            if sample != self.input_shape_:
                raise ValueError(
                    f"X has samples of shape {sample}, but {type(self).__name__} "
                    f"was fitted on shape {self.input_shape_}."
                )
        kw = dict(allow_nd=True, dtype=np.float32, reset=reset)
        if y is None and not reset:
            X = validate_data(self, X, **kw)
        else:
            X, y = validate_data(self, X, y, **kw)
        if X.ndim > 4:
            raise ValueError(
                f"Expected 2D (n_samples, n_features), 3D (n, height, width) or 4D "
                f"(n, channels, height, width) input, got array with {X.ndim} dims."
            )
        if X.ndim == 3:
            X = X[:, None]
        if X.ndim == 4 and is_uint8:
            X = X / np.float32(255.0)
        if reset:
            self.input_shape_ = tuple(X.shape[1:])
        elif tuple(X.shape[1:]) != self.input_shape_:
            if X.ndim == 2 or len(self.input_shape_) == 1:
                raise ValueError(
                    f"X has {int(np.prod(X.shape[1:]))} features, but "
                    f"{type(self).__name__} is expecting "
                    f"{int(np.prod(self.input_shape_))} features as input."
                )
            raise ValueError(
                f"X has samples of shape {tuple(X.shape[1:])}, but "
                f"{type(self).__name__} was fitted on shape {self.input_shape_}."
            )
        if not X.flags.writeable or not X.flags.c_contiguous:
            X = np.ascontiguousarray(X).copy()
        return X if y is None else (X, y)

    def _validate_fit_data(self, X, y, *, reset, classes=None):
        if y is not None:
            y_arr = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else y
            target_type = type_of_target(y_arr, input_name="y")
            if target_type in (
                "multilabel-indicator",
                "multiclass-multioutput",
                "continuous-multioutput",
            ):
                raise ValueError(
                    "Multilabel and multioutput targets are not supported."
                )
        X, y = self._validate_X(X, reset=reset, y=y)
        check_classification_targets(y)
        if reset:
            if self.classes is not None:
                classes = np.asarray(self.classes)
            elif classes is not None:
                classes = np.unique(np.asarray(classes))
            else:
                classes = np.unique(y)
            if len(classes) < 2:
                raise ValueError(
                    "Classifier can't train when only one class is present: "
                    f"y contains only {classes.tolist()}."
                )
            self.classes_inferred_ = classes
        classes = self.classes_
        y_enc = np.searchsorted(classes, y)
        y_enc = np.clip(y_enc, 0, len(classes) - 1)
        unknown = classes[y_enc] != y
        if np.any(unknown):
            raise ValueError(
                f"y contains labels {np.unique(y[unknown]).tolist()} not seen in "
                f"classes_ {classes.tolist()}."
            )
        return torch.from_numpy(X), torch.from_numpy(y_enc.astype(np.int64))

    def check_data(self, X, y=None):
        # Validation happens in fit/partial_fit before skorch sees the data.
        pass

    # ---------------------------------------------------------------- seeding
    @contextmanager
    def _seeded(self):
        """Seed torch from random_state inside a forked RNG: reproducible
        fits that leave the caller's global RNG state untouched."""
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
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
    def fit(self, X, y, **fit_params):
        """Initialize and train the network on all of ``X`` and ``y``.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features), \
(n_samples, height, width) or (n_samples, channels, height, width)
            Tabular rows or images. uint8 images are scaled to [0, 1].
        y : array-like of shape (n_samples,)
            Class labels of any type.
        **fit_params : dict
            Passed to the module's ``forward``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._check_params()
        X, y = self._validate_fit_data(X, y, reset=True)
        self._check_method_params()
        with self._seeded():
            if not self.warm_start or not self.initialized_:
                self.initialize()
            self._run_training(X, y, fit_params)
        return self

    def partial_fit(self, X, y, classes=None, **fit_params):
        """Train for ``max_epochs`` more epochs without re-initializing.

        Parameters
        ----------
        X : array-like or torch.Tensor
            As in :meth:`fit`.
        y : array-like of shape (n_samples,)
            Labels; on later calls they must be among ``classes_``.
        classes : array-like, default=None
            All labels, required on the first call when ``y`` lacks some.
        **fit_params : dict
            Passed to the module's ``forward``.

        Returns
        -------
        self : object
        """
        first = not self.__sklearn_is_fitted__()
        self._check_params()
        X, y = self._validate_fit_data(
            X, y, reset=first, classes=classes if first else None
        )
        self._check_method_params()
        with self._seeded():
            if not self.initialized_:
                self.initialize()
            self._run_training(X, y, fit_params)
        return self

    def _run_training(self, X, y, fit_params):
        """The body of skorch's ``NeuralNet.partial_fit`` (skorch 1.4), through
        public API only: ``on_train_begin``, ``fit_loop`` (a
        ``KeyboardInterrupt`` ends training early and keeps the net, as in
        skorch), ``on_train_end``. The module is initialised by the caller."""
        # Schedules count epochs from the start of this call (call_epoch).
        self.call_start_epoch_ = len(self.history)
        try:
            self.notify("on_train_begin", X=X, y=y)
            try:
                self.fit_loop(X, y, **fit_params)
            except KeyboardInterrupt:
                pass
            self.notify("on_train_end", X=X, y=y)
        finally:
            self.__dict__.pop("train_cache_", None)
            self.__dict__.pop("rng_", None)

    def initialize_module(self):
        """Build ``module_``: the user's module or a default one for the input
        shape, with input and output sizes filled in."""
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
        if self.channels_last and len(self.input_shape_) == 3:
            self.module_ = self.module_.to(memory_format=torch.channels_last)
        return self

    def infer(self, x, **fit_params):
        """Forward pass; bf16 autocast and channels-last input when asked."""
        if self.channels_last and isinstance(x, torch.Tensor) and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.precision != "bf16":
            return super().infer(x, **fit_params)
        device_type = torch.device(self.device).type
        with torch.autocast(device_type=device_type, dtype=torch.bfloat16):
            out = super().infer(x, **fit_params)
        return out.float() if isinstance(out, torch.Tensor) else out

    def initialize(self):
        if not hasattr(self, "input_shape_"):
            raise ValueError(
                f"{type(self).__name__} builds its module from the training data: "
                "call fit(X, y) instead of initialize()."
            )
        return super().initialize()

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

    def get_split_datasets(self, X, y=None, **fit_params):
        dataset_train, dataset_valid = super().get_split_datasets(X, y, **fit_params)
        tensors = _dataset_tensors(dataset_train)
        if tensors is not None and tensors[1] is not None:
            y_train = tensors[1]
        else:  # any other Dataset: skorch extracts the training part's y
            _, y_train = data_from_dataset(dataset_train)
        counts = np.bincount(to_numpy(y_train), minlength=len(self.classes_))
        self.class_counts_ = counts.astype(np.int64)
        self.class_weights_ = effective_number_weights(counts, self.rebalance_beta)
        self.imbalance_kind_ = imbalance_kind(counts)
        self.plain_epochs_ = self._resolve_start()
        self.decay_epoch_ = self._epochs_before(self.rebalance_start)
        return dataset_train, dataset_valid

    def _epochs_before(self, start):
        """An epoch threshold given as an int (epochs) or a float in [0, 1)
        (fraction of ``max_epochs``), as a number of epochs."""
        if isinstance(start, numbers.Integral):
            return int(start)
        return int(start * self.max_epochs)

    def _resolve_start(self):
        """Number of epochs before deferred re-balancing starts."""
        if self.rebalance in ("rw", "rs", None):
            return 0
        return self._epochs_before(self.rebalance_start)

    def _train_cache(self, device):
        """Device tensors of the class statistics, built once per fit."""
        cache = self.__dict__.get("train_cache_")
        if cache is None or cache["device"] != device:
            cache = {
                "device": device,
                "counts": torch.as_tensor(self.class_counts_, device=device),
                "weights": torch.as_tensor(
                    self.class_weights_, dtype=torch.float32, device=device
                ),
            }
            self.train_cache_ = cache
        return cache

    def get_iterator(self, dataset, training=False):
        tensors = _dataset_tensors(dataset)
        iterator = self.iterator_train if training else self.iterator_valid
        if tensors is None or iterator is not DataLoader:
            return super().get_iterator(dataset, training=training)
        X, y = tensors
        params = self.get_params_for("iterator_train" if training else "iterator_valid")
        batch_size = params.get("batch_size", self.batch_size)
        if batch_size == -1:
            batch_size = max(len(X), 1)
        if training:
            device = self.device
            X, y = X.to(device), y.to(device)
            if self.channels_last and X.ndim == 4:
                X = X.contiguous(memory_format=torch.channels_last)
            return _TensorBatches(
                X,
                y,
                lambda: self._train_batches(y, batch_size),
                device,
                len(_chunks(range(len(X)), batch_size)),
            )
        n = len(X)
        return _TensorBatches(
            X,
            y,
            lambda: (slice(a, min(a + batch_size, n)) for a in range(0, n, batch_size)),
            self.device,
            -(-n // batch_size),
        )

    def _rebalance_active(self, kind):
        return self.rebalance in kind and bool(self.__dict__.get("rebalance_active_"))

    def _train_batches(self, y, batch_size):
        """Index batches of one training epoch, on the device of ``y``.

        Shuffled; with re-sampling active (``'rs'``, or ``'drs'`` after the
        deferred start) ``len(y)`` draws with replacement, each sample with
        probability proportional to its class weight.
        """
        n = len(y)
        if self._rebalance_active(("rs", "drs")):
            weights = self._train_cache(y.device)["weights"][y]
            order = torch.multinomial(weights, n, replacement=True)
        else:
            order = torch.randperm(n, device=y.device)
        return _chunks(order, batch_size)

    def _train_forward(self, X, y, **fit_params):
        """Forward pass of a training step: ``(logits, targets, extra_losses)``.

        ``targets`` are class indices ``(B,)`` or probabilities ``(B, C)``;
        ``extra_losses`` is a dict of scalar tensors added to the loss.
        Methods override this hook only.
        """
        return self.infer(X, **fit_params), y, {}

    def train_step_single(self, batch, **fit_params):
        # skorch sets train mode on every module at every step; walking the
        # module tree costs about 5% of a small network's step. Evaluation
        # (validation, a callback predicting) puts module_ in eval mode, so
        # its flag tells when the walk is needed.
        if not self.module_.training:
            self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred, targets, extra = self._train_forward(Xi, yi, **fit_params)
        loss = self.get_loss(y_pred, targets, X=Xi, training=True)
        for name, value in extra.items():
            loss = loss + value
            value = value.detach()
            self.history.record_batch(
                name, value if _stays_on_device(value) else float(value)
            )
        # Divergence is checked at the end of the epoch, on the recorded losses
        # (run_single_epoch): checking here would synchronise on a GPU.
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """skorch's epoch loop, except that on an accelerator the per-batch
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
                prefix + "_loss", loss if _stays_on_device(loss) else loss.item()
            )
            self.history.record_batch(
                prefix + "_batch_size",
                get_len(batch[0])
                if isinstance(batch, (tuple, list))
                else get_len(batch),
            )
            self.notify("on_batch_end", batch=batch, training=training, **step)
            batch_count += 1
        self._read_batch_records(check_loss=prefix + "_loss" if training else None)
        self.history.record(prefix + "_batch_count", batch_count)

    def _read_batch_records(self, check_loss=None):
        """Replace the device tensors among this epoch's batch records by
        floats, in one device-to-host copy; then raise if a ``check_loss``
        value is not finite."""
        rows = self.history[-1]["batches"]
        cells = [
            (row, key)
            for row in rows
            for key, value in row.items()
            if isinstance(value, torch.Tensor)
        ]
        if cells:
            values = torch.stack(
                [row[key].reshape(()).to(torch.float64) for row, key in cells]
            ).tolist()
            for (row, key), value in zip(cells, values, strict=True):
                row[key] = value
        for i, row in enumerate(rows if check_loss else []):
            value = row.get(check_loss)
            if value is not None and not math.isfinite(value):
                raise FloatingPointError(
                    f"Training diverged: the loss became {value} in epoch "
                    f"{len(self.history)}, batch {i}. Lower lr (now {self.lr}) "
                    "or check the inputs for extreme values."
                )

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Mean over the batch of the per-sample cross-entropy.

        In training, soft targets are accepted and the class weights of
        ``rebalance='rw'`` / ``'drw'`` apply: the weighted per-sample losses
        are divided by the batch size (not by the sum of the weights, as the
        reference DRW code does), the same normalisation for every method.
        With ``loss='ldam'`` the logits get the LDAM margins and scale in
        training, the scale alone at validation.
        """
        if isinstance(y_pred, tuple):
            y_pred = y_pred[0]
        y_true = y_true.to(y_pred.device)
        if not training:
            scale = self.ldam_s if self.loss == "ldam" else 1.0
            return F.cross_entropy(scale * y_pred.float(), y_true.long())
        weight = None
        if self._rebalance_active(("rw", "drw")):
            weight = self._train_cache(y_pred.device)["weights"]
        if self.loss == "ldam":
            cache = self._train_cache(y_pred.device)
            if "ldam_margins" not in cache:
                cache["ldam_margins"] = ldam_margins(cache["counts"], self.ldam_max_m)
            if y_true.ndim == 2:
                # Soft targets: one LDAM term per target class, each with its
                # own margin (the two-term Remix-LDAM loss).
                return ldam_cross_entropy(
                    y_pred, y_true, cache["ldam_margins"], self.ldam_s, weight
                ).mean()
            y_pred = ldam_logits(y_pred, y_true, cache["ldam_margins"], self.ldam_s)
        if y_true.ndim == 1:  # class indices: the fused kernel, same values
            if weight is None:
                return F.cross_entropy(y_pred.float(), y_true.long())
            return F.cross_entropy(
                y_pred.float(), y_true.long(), weight=weight, reduction="none"
            ).mean()
        return soft_cross_entropy(y_pred, y_true, weight).mean()

    # ------------------------------------------------------------- predicting
    def evaluation_step(self, batch, training=False):
        """Inference on one batch; batches under 16 rows are padded by
        repetition so that every row goes through the same float32 BLAS
        kernels whatever the batch size (predictions of a row do not depend
        on which rows it is predicted with)."""
        Xi, yi = unpack_data(batch)
        n = len(Xi) if isinstance(Xi, torch.Tensor) else 0
        if training or not 0 < n < _MIN_EVAL_ROWS:
            return super().evaluation_step(batch, training=training)
        reps = -(-_MIN_EVAL_ROWS // n)
        padded = Xi.repeat(reps, *([1] * (Xi.ndim - 1)))[:_MIN_EVAL_ROWS]
        out = super().evaluation_step((padded, yi), training=training)
        if isinstance(out, tuple):
            return tuple(o[:n] for o in out)
        return out[:n]

    def _get_predict_nonlinearity(self):
        if (
            isinstance(self.predict_nonlinearity, str)
            and self.predict_nonlinearity == "auto"
        ):
            if self.loss == "ldam":
                # The probabilities of the scaled logits LDAM trained.
                return lambda logits: _softmax(self.ldam_s * logits)
            return _softmax
        return super()._get_predict_nonlinearity()

    def predict_proba(self, X):
        """Class probabilities, one column per class in ``classes_`` order.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Same layout as in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to one.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        proba = super().predict_proba(torch.from_numpy(X))
        if not np.all(np.isfinite(proba)):
            raise FloatingPointError(
                "The network outputs non-finite values: training diverged. "
                f"Refit with a lower lr (now {self.lr})."
            )
        return proba

    def predict(self, X):
        """Predicted class labels, taken from ``classes_``.

        Parameters
        ----------
        X : array-like or torch.Tensor
            Same layout as in :meth:`fit`.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
