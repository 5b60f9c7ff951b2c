"""The registry of benchmarked methods: one name, one estimator recipe each.

Every recipe builds an :class:`imblearn.pipeline.Pipeline` whose last step is
a network classifier with the same module class, optimizer, learning rate,
epochs and batch size; only the training method differs. Tabular inputs are
standardised first (a ``StandardScaler`` fitted on the training part), so
that every method sees the same features.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from imblearn.over_sampling import SMOTE, RandomOverSampler
from imblearn.pipeline import Pipeline
from imblearn.under_sampling import RandomUnderSampler
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import StandardScaler

__all__ = ["ReshapeTransformer", "list_methods", "make_estimator", "method_info"]


class ReshapeTransformer(TransformerMixin, BaseEstimator):
    """Reshape every sample and cast, inside a pipeline.

    Samplers of imbalanced-learn take 2-D arrays only: images are flattened
    before the sampler (``shape=(-1,)``) and put back into ``(c, h, w)``
    after it. A module-level class, so fitted pipelines pickle.

    Parameters
    ----------
    shape : tuple of int or None, default=None
        Shape of one output sample; ``(-1,)`` flattens. None keeps the shape.
    dtype : str or numpy dtype, default="float32"
        Output dtype (float32 is what torch modules expect).

    Attributes
    ----------
    n_features_in_ : int
        Size of axis 1 of the input seen at ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from skremix.bench import ReshapeTransformer
    >>> X = np.zeros((5, 1, 8, 8))
    >>> flat = ReshapeTransformer((-1,)).fit_transform(X)
    >>> flat.shape, flat.dtype
    ((5, 64), dtype('float32'))
    >>> ReshapeTransformer((1, 8, 8)).fit_transform(flat).shape
    (5, 1, 8, 8)
    """

    def __init__(self, shape=None, dtype="float32"):
        self.shape = shape
        self.dtype = dtype

    def fit(self, X, y=None):
        """Record the input width; nothing is learned.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples.
        y : ignored
            Present for the pipeline API.

        Returns
        -------
        self : ReshapeTransformer
            The transformer itself.
        """
        X = np.asarray(X)
        self.n_features_in_ = int(X.shape[1]) if X.ndim > 1 else 1
        return self

    def transform(self, X):
        """Reshape each sample to ``shape`` and cast to ``dtype``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples.

        Returns
        -------
        X_out : ndarray of shape (n_samples, ...)
            The reshaped samples, of dtype ``dtype``.
        """
        X = np.asarray(X)
        if self.shape is not None:
            X = X.reshape(len(X), *self.shape)
        return np.ascontiguousarray(X, dtype=self.dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.requires_fit = False
        return tags


@dataclass(frozen=True)
class _Method:
    name: str
    description: str
    classifier: str | None  # skremix class it needs; None: plain skorch
    params: dict = field(default_factory=dict)
    sampler: str | None = None  # 'ros' / 'rus' / 'smote'


_METHODS = [
    _Method(
        "erm",
        "plain skorch NeuralNetClassifier, cross-entropy (the reference)",
        None,
    ),
    _Method(
        "rw",
        "ERM with effective-number class re-weighting (Cao et al.)",
        "ERMClassifier",
        {"rebalance": "rw"},
    ),
    _Method(
        "ros",
        "imblearn RandomOverSampler, then ERM",
        "ERMClassifier",
        sampler="ros",
    ),
    _Method(
        "rus",
        "imblearn RandomUnderSampler, then ERM",
        "ERMClassifier",
        sampler="rus",
    ),
    _Method(
        "smote",
        "imblearn SMOTE (on flattened images), then ERM",
        "ERMClassifier",
        sampler="smote",
    ),
    _Method(
        "mixup",
        "input Mixup: RemixClassifier(tau=0, alpha=1, rebalance=None)",
        "RemixClassifier",
        {"tau": 0.0, "alpha": 1.0, "rebalance": None},
    ),
    _Method(
        "remix",
        "RemixClassifier() at its defaults: Remix-DRW with alpha=0.4",
        "RemixClassifier",
    ),
    _Method(
        "remix_plain",
        "the paper's Remix row: alpha=1, no deferred re-weighting",
        "RemixClassifier",
        {"alpha": 1.0, "rebalance": None},
    ),
    _Method(
        "remix_drw",
        "the paper's Remix-DRW row: alpha=1, DRW from 80% of the epochs",
        "RemixClassifier",
        {"alpha": 1.0, "rebalance": "drw"},
    ),
    _Method(
        "remix_drs",
        "Remix + deferred re-sampling from 80% of the epochs",
        "RemixClassifier",
        {"rebalance": "drs"},
    ),
    _Method(
        "remix_ldam_drw",
        "Remix with the two-term LDAM loss + deferred re-weighting",
        "RemixClassifier",
        {"loss": "ldam", "rebalance": "drw"},
    ),
    _Method(
        "remix_sampling",
        "ReMixClassifier() at its defaults: global balance, alpha=0.3, step LR",
        "ReMixClassifier",
    ),
    _Method(
        "mfw",
        "MFWClassifier() at its defaults: MFW w/ DRW at the module's mix layer",
        "MFWClassifier",
    ),
    _Method(
        "mfw_plain",
        "MFW without deferred re-weighting (the paper's MFW row)",
        "MFWClassifier",
        {"rebalance": None},
    ),
    _Method(
        "rsg",
        "RSGClassifier() at its defaults: RSG + DRW, the paper's settings per profile",
        "RSGClassifier",
    ),
    _Method(
        "ldam_drw",
        "ERM with the LDAM loss + deferred re-weighting (LDAM-DRW)",
        "ERMClassifier",
        {"loss": "ldam", "rebalance": "drw"},
    ),
    _Method(
        "ldam_drw_rsg",
        "RSG with the LDAM loss + deferred re-weighting (LDAM-DRW-RSG)",
        "RSGClassifier",
        {"loss": "ldam", "rebalance": "drw"},
    ),
    _Method(
        "la",
        "ERM with the logit-adjusted loss, tau=1 (Menon et al.; Balanced Softmax)",
        "ERMClassifier",
        {"loss": "logit_adjusted"},
    ),
    _Method(
        "la_posthoc",
        "ERM with post-hoc logit adjustment of its predictions, tau=1 (Menon et al.)",
        "ERMClassifier",
        {"posthoc_tau": 1.0},
    ),
    _Method(
        "focal",
        "ERM with the focal loss, gamma=2 (Lin et al.)",
        "ERMClassifier",
        {"loss": "focal"},
    ),
    _Method(
        "crt",
        "ERM, then classifier re-training from 80% of the epochs (cRT, Kang et al.)",
        "ERMClassifier",
        {"rebalance": "crt"},
    ),
    _Method(
        "tau_norm",
        "ERM with a tau-normalised head at prediction, tau=1 (Kang et al.)",
        "ERMClassifier",
        {"tau_norm": 1.0},
    ),
    _Method(
        "remix_la",
        "Remix (alpha=0.4) with the logit-adjusted loss instead of DRW",
        "RemixClassifier",
        {"loss": "logit_adjusted", "rebalance": None},
    ),
    _Method(
        "mfw_la",
        "MFW with the logit-adjusted loss instead of DRW",
        "MFWClassifier",
        {"loss": "logit_adjusted", "rebalance": None},
    ),
]
_BY_NAME = {m.name: m for m in _METHODS}


def _skremix_class(name: str):
    """The skremix classifier class ``name`` (imported here: the package
    imports this module)."""
    import skremix

    return getattr(skremix, name)


#: The methods ``skremix-bench`` runs without ``--methods``: the plain
#: skorch reference, imbalanced-learn's three samplers, each paper's class at
#: its defaults, and the two strongest simple long-tail baselines of the
#: quality matrix, LDAM-DRW and the logit-adjusted loss (doc/quality.rst;
#: the main job's run time on 2 CPU cores is in doc/bench.rst). The other
#: variants run with ``--methods`` (or ``all``).
DEFAULT_METHODS = (
    "erm",
    "ros",
    "rus",
    "smote",
    "remix",
    "remix_sampling",
    "mfw",
    "rsg",
    "ldam_drw",
    "la",
)


def list_methods() -> list[str]:
    """List the benchmarked methods, in the order of the results table.

    Returns
    -------
    names : list of str
        Method names, as accepted by ``skremix-bench --methods``.

    See Also
    --------
    method_info : Description, classifier and parameters of each method.

    Examples
    --------
    >>> from skremix.bench import list_methods
    >>> list_methods()[:5]
    ['erm', 'rw', 'ros', 'rus', 'smote']
    >>> "remix_drw" in list_methods()
    True
    """
    return [m.name for m in _METHODS]


def method_info(name: str) -> dict[str, Any]:
    """Description, classifier class and fixed parameters of one method.

    Parameters
    ----------
    name : str
        A name from :func:`list_methods`.

    Returns
    -------
    info : dict
        ``name``, ``description``, ``classifier`` (the estimator's class
        name), ``params`` (the parameters set on it, besides the shared
        budget), ``sampler`` (the imbalanced-learn sampler before it, or
        None).

    Raises
    ------
    KeyError
        If ``name`` is not a method.

    Examples
    --------
    >>> from skremix.bench import method_info
    >>> info = method_info("remix_drw")
    >>> info["classifier"], info["params"]
    ('RemixClassifier', {'alpha': 1.0, 'rebalance': 'drw'})
    >>> method_info("erm")["classifier"]
    'skorch.NeuralNetClassifier'
    """
    if name not in _BY_NAME:
        raise KeyError(f"unknown method {name!r}; choose from {list_methods()}")
    m = _BY_NAME[name]
    sampler = {
        "ros": "RandomOverSampler",
        "rus": "RandomUnderSampler",
        "smote": "SMOTE",
    }
    return {
        "name": m.name,
        "description": m.description,
        "classifier": m.classifier or "skorch.NeuralNetClassifier",
        "params": dict(m.params),
        "sampler": sampler.get(m.sampler),
    }


def _module_sizes(module_cls, input_shape, n_classes):
    """The input and output sizes a built-in module's constructor takes, as a
    plain skorch user passes them (``module__n_features=...``)."""
    accepted = inspect.signature(module_cls).parameters
    sizes = {"n_classes": n_classes}
    if len(input_shape) == 1:
        sizes["n_features"] = input_shape[0]
    else:
        sizes["in_channels"] = input_shape[0]
        sizes["input_shape"] = tuple(input_shape)
    return {k: v for k, v in sizes.items() if k in accepted}


def _plain_skorch(input_shape, n_classes, max_epochs, batch_size, lr, device, schedule):
    """skorch's own NeuralNetClassifier with skremix's default module."""
    from skorch import NeuralNetClassifier
    from skorch.callbacks import LRScheduler

    from skremix.nn import default_module

    module = default_module(tuple(input_shape))
    module_kwargs = _module_sizes(module, tuple(input_shape), n_classes)
    callbacks = None
    if schedule == "step":
        # skremix's step schedule with the default rebalance_start=0.8: x0.1
        # from epoch int(0.8 T), x0.01 from halfway between it and the end.
        first = int(0.8 * max_epochs)
        second = first + -(-(max_epochs - first) // 2)
        milestones = [m for m in (first, second) if m < max_epochs]
        callbacks = [
            (
                "lr_scheduler",
                LRScheduler(
                    policy=torch.optim.lr_scheduler.MultiStepLR,
                    milestones=milestones,
                    gamma=0.1,
                ),
            )
        ]
    if schedule == "cosine":
        # skorch's stock scheduler, stepped per epoch: epoch e trains with
        # lr * (1 + cos(pi * e / max_epochs)) / 2, as skremix's cosine schedule.
        callbacks = [
            (
                "lr_scheduler",
                LRScheduler(
                    policy=torch.optim.lr_scheduler.CosineAnnealingLR, T_max=max_epochs
                ),
            )
        ]
    return NeuralNetClassifier(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW,
        lr=lr,
        max_epochs=max_epochs,
        batch_size=batch_size,
        iterator_train__shuffle=True,
        train_split=None,
        device=device,
        verbose=0,
        callbacks=callbacks,
        **{f"module__{k}": v for k, v in module_kwargs.items()},
    )


def make_estimator(
    name: str,
    *,
    input_shape: tuple[int, ...],
    n_classes: int,
    max_epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-3,
    lr_schedule: str | None = None,
    device: str = "cpu",
    random_state: int | None = 0,
    min_class_count: int | None = None,
) -> Pipeline:
    """Build the pipeline that the benchmark fits for one method.

    ``max_epochs``, ``batch_size``, ``lr``, ``lr_schedule`` and ``device`` are
    the training budget that every method shares; the optimizer is always
    AdamW and the network the skremix default module for ``input_shape``.

    Parameters
    ----------
    name : str
        A name from :func:`list_methods`.
    input_shape : tuple of int
        Shape of one sample: ``(n_features,)`` or ``(channels, height, width)``.
    n_classes : int
        Number of classes (labels must be encoded as ``0 .. n_classes - 1``:
        skorch's plain classifier predicts indices).
    max_epochs : int, default=30
        Training epochs.
    batch_size : int, default=64
        Mini-batch size.
    lr : float, default=1e-3
        Initial learning rate of AdamW.
    lr_schedule : {"constant", "step", "cosine"} or None, default=None
        Learning-rate schedule of every method (skremix's ``lr_schedule``);
        None keeps each classifier's default (constant, and step for
        ``ReMixClassifier``) and a constant rate for the plain skorch net.
        The plain skorch net gets skorch's ``LRScheduler`` with
        ``MultiStepLR`` ("step") or ``CosineAnnealingLR`` ("cosine"), the
        same per-epoch rates.
    device : str, default="cpu"
        Torch device of the network.
    random_state : int or None, default=0
        Seed of the sampler and of the skremix classifier. The plain skorch
        net has no seed parameter: the benchmark seeds torch around its fit.
    min_class_count : int or None, default=None
        Smallest training class count; SMOTE's ``k_neighbors`` is lowered
        to ``min_class_count - 1`` when that is below 5.

    Returns
    -------
    pipeline : imblearn.pipeline.Pipeline
        ``[scaler] -> [flatten -> sampler -> reshape] -> classifier``; the
        last step is named ``"net"``.

    Raises
    ------
    KeyError
        If ``name`` is not a method.
    ValueError
        If SMOTE cannot run (a class with a single training sample).

    Examples
    --------
    >>> from skremix.bench import make_estimator
    >>> pipe = make_estimator("smote", input_shape=(1, 8, 8), n_classes=10)
    >>> [step for step, _ in pipe.steps]
    ['flatten', 'sampler', 'reshape', 'net']
    >>> type(make_estimator("erm", input_shape=(4,), n_classes=2)[-1])
    <class 'skorch.classifier.NeuralNetClassifier'>
    """
    if name not in _BY_NAME:
        raise KeyError(f"unknown method {name!r}; choose from {list_methods()}")
    method = _BY_NAME[name]
    input_shape = tuple(int(d) for d in input_shape)
    tabular = len(input_shape) == 1
    steps: list[tuple[str, Any]] = []
    if tabular:
        steps.append(("scale", StandardScaler()))

    if method.sampler is not None:
        if method.sampler == "ros":
            sampler = RandomOverSampler(random_state=random_state)
        elif method.sampler == "rus":
            sampler = RandomUnderSampler(random_state=random_state)
        else:
            k = 5 if min_class_count is None else min(5, int(min_class_count) - 1)
            if k < 1:
                raise ValueError(
                    "SMOTE needs at least two training samples in every class "
                    f"(smallest class: {min_class_count})."
                )
            sampler = SMOTE(k_neighbors=k, random_state=random_state)
        if tabular:
            steps.append(("sampler", sampler))
        else:
            steps += [
                ("flatten", ReshapeTransformer((-1,))),
                ("sampler", sampler),
                ("reshape", ReshapeTransformer(input_shape)),
            ]

    if method.classifier is None:
        net = _plain_skorch(
            input_shape, n_classes, max_epochs, batch_size, lr, device, lr_schedule
        )
        # Plain skorch does not cast: float64 from a scaler would crash it.
        steps.append(("float32", ReshapeTransformer()))
    else:
        cls = _skremix_class(method.classifier)
        params = dict(method.params)
        if lr_schedule is not None:
            params["lr_schedule"] = lr_schedule
        net = cls(
            optimizer=torch.optim.AdamW,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=None,
            device=device,
            random_state=random_state,
            **params,
        )
    steps.append(("net", net))
    return Pipeline(steps)
