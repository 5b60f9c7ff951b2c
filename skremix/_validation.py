"""Input and parameter validation of the skremix classifiers: functions
taking the estimator, as scikit-learn's ``validate_data`` does. Everything
here runs before any training."""

from __future__ import annotations

import copy
import inspect
import numbers
import warnings

import numpy as np
import torch
from sklearn.utils._param_validation import (
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _check_sample_weight, validate_data
from torch.utils.data import DataLoader

from skremix._batches import batch_options
from skremix._schedule import epoch_threshold, is_constant_schedule

__all__: list[str] = []


# skorch's parameters that skorch only ever calls or iterates: anything else
# fails deep inside fit ("'str' object is not callable").
_SKORCH_CONSTRAINTS = {
    "module": [callable, None],
    "criterion": [callable],
    "optimizer": [callable],
    "train_split": [callable, None],
    "iterator_train": [callable],
    "iterator_valid": [callable],
    "callbacks": [list, tuple, StrOptions({"disable"}), None],
}


def check_params(estimator):
    """Validate skremix's parameters (skorch's own check only looks at
    routed names), before any data is touched."""
    constraints = dict(_SKORCH_CONSTRAINTS)
    for klass in reversed(type(estimator).__mro__):
        constraints.update(getattr(klass, "_parameter_constraints", {}))
    validate_parameter_constraints(
        constraints,
        {name: getattr(estimator, name) for name in constraints},
        caller_name=type(estimator).__name__,
    )
    _check_no_accelerate(estimator)
    _check_lr_milestones(estimator)
    _check_loss_combinations(estimator)
    check_routed_options(estimator)
    raw = estimator.__dict__.get("device", "auto")
    if raw is None:
        # skorch's "leave the module where it is": skremix places the data
        # and each batch on the training device, so it needs one.
        raise ValueError(
            "device=None is not supported: skremix moves the data and each "
            "batch to the training device. Use device='auto', 'cpu', 'cuda' "
            "or a torch.device."
        )
    if not (isinstance(raw, str) and raw == "auto"):
        try:
            dev = torch.device(raw)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"device={raw!r} is not a valid torch device.") from exc
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device={raw!r} was requested but CUDA is not available "
                "(torch.cuda.is_available() is False); use device='auto' "
                "to train on a GPU when there is one and on the CPU otherwise."
            )


def _check_no_empty_axis(estimator, shape):
    """sklearn's wording for an axis of length 0; its own check fails on an
    empty DataFrame ("at least one array or dtype is required") and skips
    images and nested lists."""
    if shape is not None and len(shape) >= 2 and 0 in tuple(shape)[1:]:
        what = "sample" if shape[0] == 0 else "feature"
        raise ValueError(
            f"Found array with 0 {what}(s) (shape={tuple(shape)}) while a "
            f"minimum of 1 is required by {type(estimator).__name__}."
        )


def validate_X(estimator, X, *, reset, y=None):
    """Validate and convert X (and y) the way sklearn does, for tabular
    rows ``(n, d)`` and images ``(n, h, w)`` / ``(n, c, h, w)``.

    An ``(n, h, w)`` array is taken as ``(n, 1, h, w)`` before sklearn sees
    it: the same images in either layout, and ``n_features_in_`` is the
    channel count of images. Integer ``X`` is cast to float32 (uint8 images
    kept as uint8), or kept for the module by ``integer_inputs``: when
    fitting under ``'auto'`` with a module that may embed, integers are
    kept as they are until the module is built
    (:func:`convert_integer_inputs`)."""
    if isinstance(X, torch.Tensor):
        X = _tensor_to_numpy(X, "X")
    if isinstance(y, torch.Tensor):
        y = _tensor_to_numpy(y, "y")
    if isinstance(X, (list, tuple)):
        # Nested lists of (h, w) images get their channel axis too; anything
        # else is left to sklearn's checks and messages.
        try:
            array = np.asarray(X)
        except (ValueError, TypeError):
            array = None
        if array is not None and array.ndim == 3 and array.dtype.kind in "biuf":
            X = array
    shape = getattr(X, "shape", None)
    _check_no_empty_axis(estimator, shape)
    images = shape is not None and len(shape) in (3, 4)
    if images and len(shape) == 4 and reset:
        check_channels_first(estimator, tuple(shape[1:]), f"X has shape {tuple(shape)}")
    if images and len(shape) == 3:
        X = X[:, None]  # a view: (n, h, w) are one-channel images
    # Fitting (reset, or partial_fit with labels) or predicting.
    mode = _integer_mode(estimator, fitting=reset or y is not None)
    # uint8 images stay uint8 (a quarter of the memory of float32); batches
    # are scaled to [0, 1] on their way to the network (_loop.as_float).
    keep_uint8 = mode != "keep" and images and getattr(X, "dtype", None) == np.uint8
    if not reset and images:
        sample = tuple(X.shape[1:])
        if sample != estimator.input_shape_:
            read = (
                " (an (n, h, w) X is one channel, (n, 1, h, w))"
                if len(shape) == 3
                else ""
            )
            raise ValueError(
                f"X has samples of shape {sample}{read}, but "
                f"{type(estimator).__name__} was fitted on shape "
                f"{estimator.input_shape_}."
            )
    if mode == "keep" or keep_uint8:
        dtype = None
    elif mode == "defer":
        dtype = _FLOAT_OR_INTEGER
    else:
        dtype = np.float32
    kw = dict(allow_nd=True, dtype=dtype, reset=reset)
    if y is None and not reset:
        X = validate_data(estimator, X, **kw)
    else:
        X, y = validate_data(estimator, X, y, **kw)
    if reset:
        estimator.__dict__["_integer_X"] = mode != "float" and _integer_input(
            X.dtype, X.ndim - 1
        )
        estimator.__dict__.pop("_integer_resolved", None)
    if mode == "keep":
        X = _as_indices(estimator, X)
    _check_no_empty_axis(estimator, X.shape)  # nested lists, once converted
    if X.ndim > 4:
        raise ValueError(
            f"Expected 2D (n_samples, n_features), 3D (n, height, width) or 4D "
            f"(n, channels, height, width) input, got array with {X.ndim} dims."
        )
    if X.ndim == 3:  # nested lists of images
        X = X[:, None]
    if reset:
        estimator.input_shape_ = tuple(X.shape[1:])
    elif tuple(X.shape[1:]) != estimator.input_shape_:
        if X.ndim == 2 or len(estimator.input_shape_) == 1:
            raise ValueError(
                f"X has {int(np.prod(X.shape[1:]))} features, but "
                f"{type(estimator).__name__} is expecting "
                f"{int(np.prod(estimator.input_shape_))} features as input."
            )
        raise ValueError(
            f"X has samples of shape {tuple(X.shape[1:])}, but "
            f"{type(estimator).__name__} was fitted on shape {estimator.input_shape_}."
        )
    # Read-only arrays and memmaps are used as they are: nothing writes to X.
    if not X.flags.c_contiguous:
        X = np.ascontiguousarray(X)
    return X if y is None else (X, y)


# Images whose last axis holds so few values look channels-last (grey, RGB,
# RGBA), unless their first axis does too. skremix-bench's data loading
# (bench/_data.py) moves the channels of such arrays itself.
_CHANNEL_COUNTS = (1, 3, 4)


def looks_channels_last(sample_shape):
    """Whether an image sample of shape ``(a, b, c)`` looks like ``(height,
    width, channels)``: its last axis of 1, 3 or 4 (grey, RGB, RGBA), its
    first axis not, and both first axes larger than 4 (an image's sides;
    a tiny sample such as ``(2, 1, 1)`` is taken as given)."""
    sample_shape = tuple(sample_shape)
    return (
        len(sample_shape) == 3
        and sample_shape[-1] in _CHANNEL_COUNTS
        and sample_shape[0] not in _CHANNEL_COUNTS
        and min(sample_shape[:2]) > 4
    )


def _infers_channels(estimator):
    """Whether the module's channel count would come from the data: the
    default module, or a module class taking ``in_channels``, without
    ``module__in_channels``."""
    if "in_channels" in estimator.get_params_for("module"):
        return False
    module = estimator.module
    if module is None:
        return True
    if isinstance(module, torch.nn.Module):
        return False
    try:
        return "in_channels" in inspect.signature(module).parameters
    except (TypeError, ValueError):
        return False


def check_channels_first(estimator, sample_shape, what, fix=None):
    """Refuse images that look channels-last (:func:`looks_channels_last`)
    where the module's channel count would be read from them: the module
    would be built for the height as channels and train without a word.
    A module instance, a class taking no ``in_channels`` or
    ``module__in_channels`` is taken at its word."""
    if not (looks_channels_last(sample_shape) and _infers_channels(estimator)):
        return
    c, h, w = sample_shape
    if fix is None:
        fix = (
            "Move the channels to axis 1: X.transpose(0, 3, 1, 2) (or "
            "np.moveaxis(X, -1, 1); for a tensor, X.permute(0, 3, 1, 2))."
        )
    raise ValueError(
        f"{what}, which looks channels-last, (height, width, channels) as PIL, "
        f"OpenCV and Keras give images: skremix reads images as (channels, "
        f"height, width), and {type(estimator).__name__} would build its module for "
        f"{c} channels of {h}x{w} images. {fix} If the samples really are "
        f"{c} channels of {h}x{w}, pass module__in_channels={c} (or a module "
        "instance): skremix then takes the layout as given."
    )


# What validate_X keeps of an X that may be ids, fitting under
# integer_inputs='auto' (check_array converts any other dtype to the first).
_FLOAT_OR_INTEGER = [
    np.float32,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
]


def _embeds(module):
    """Whether a module has an embedding layer (it may take indices)."""
    return any(
        isinstance(m, (torch.nn.Embedding, torch.nn.EmbeddingBag))
        for m in module.modules()
    )


def _is_integer_dtype(dtype):
    """An integer NumPy or torch dtype (bool is not one)."""
    if isinstance(dtype, torch.dtype):
        return not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool)
    return np.issubdtype(dtype, np.integer)


def _integer_input(dtype, sample_ndim):
    """Whether samples of ``dtype`` with ``sample_ndim`` dims can be indices:
    an integer dtype, except uint8 images ((h, w) or (c, h, w)), which are
    pixels."""
    uint8 = dtype in (np.uint8, torch.uint8)
    return _is_integer_dtype(dtype) and not (uint8 and sample_ndim in (2, 3))


def _integer_mode(estimator, fitting):
    """How :func:`validate_X` treats integer X: 'float', 'keep', or, fitting
    under 'auto' with a module that may embed, 'defer': integers kept as
    they are until the module is built (:func:`convert_integer_inputs`)."""
    mode = getattr(estimator, "integer_inputs", "float")
    if mode != "auto":
        return mode
    if not fitting:
        return resolve_integer_inputs(estimator)
    module = estimator.module
    if module is None or (isinstance(module, torch.nn.Module) and not _embeds(module)):
        return "float"  # the built-in modules embed nothing
    return "defer"


def resolve_integer_inputs(estimator):
    """What integer inputs are to the built module: 'keep' (int64 indices)
    or 'float' (numbers: float32, uint8 images scaled per batch).

    ``integer_inputs='float'`` and ``'keep'`` as given. ``'auto'`` is
    'keep' when the inputs of the last fit (or of ``initialize(X)``) have an
    integer dtype, uint8 images excepted, and ``module_`` has a
    ``torch.nn.Embedding`` or ``EmbeddingBag`` and runs on int64 input (a
    dry forward of zeros; a module that embeds something else, e.g.
    positions, and takes float images, does not); else 'float', which is
    also the answer before a module is built.
    """
    mode = getattr(estimator, "integer_inputs", "float")
    if mode != "auto":
        return mode
    resolved = estimator.__dict__.get("_integer_resolved")
    if resolved is not None:  # decided once the module was built
        return resolved
    module = estimator.__dict__.get("module_")
    if not estimator.__dict__.get("_integer_X") or not isinstance(
        module, torch.nn.Module
    ):
        return "float"
    module = getattr(module, "_orig_mod", module)  # torch.compile's wrapper
    if not _embeds(module):
        return "float"
    return "keep" if _index_forward_error(estimator, module) is None else "float"


def _index_forward_error(estimator, module):
    """The error of a forward pass of two int64 zero samples through
    ``module`` (eval mode, no gradients, its mode restored), None if it
    runs."""
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    zeros = torch.zeros((2, *estimator.input_shape_), dtype=torch.int64, device=device)
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad():
            module(zeros)
    except Exception as exc:  # any failure: the module does not take indices
        return exc
    finally:
        module.train(was_training)
    return None


def settle_integer_inputs(estimator):
    """Decide ``integer_inputs='auto'`` for the module just built, once, and
    keep the answer with the estimator (pickled with it): prediction then
    reads it and runs no dry forward pass, so that it writes nothing, not
    even the module's training mode."""
    estimator.__dict__.pop("_integer_resolved", None)
    if getattr(estimator, "integer_inputs", "float") == "auto":
        estimator.__dict__["_integer_resolved"] = resolve_integer_inputs(estimator)


def keeps_integers(estimator):
    """Whether integer inputs reach the module as int64 indices
    (:func:`resolve_integer_inputs` is 'keep')."""
    return resolve_integer_inputs(estimator) == "keep"


def ids_source(estimator):
    """What makes the inputs indices, for messages."""
    if getattr(estimator, "integer_inputs", "float") == "keep":
        return "integer_inputs='keep'"
    return "integer_inputs='auto' (integer X for a module that embeds it)"


def convert_integer_inputs(estimator, X):
    """The validated training input ``X`` (a tensor, or a dataset) as the
    built module takes it, once ``integer_inputs`` is resolved
    (:func:`resolve_integer_inputs`): indices as int64 (a dataset's samples
    converted one by one); under 'auto', integers kept by
    :func:`validate_X` for a module that takes numbers as float32, the cast
    of 'float' (uint8 images stay uint8). When 'auto' makes the inputs
    indices, the checks that refuse indices (:func:`check_input_params`,
    the method's ``_check_method_params``) run now that it is known."""
    keep = keeps_integers(estimator)
    if keep and getattr(estimator, "integer_inputs", "float") == "auto":
        check_input_params(estimator)
        estimator._check_method_params()
    if not isinstance(X, torch.Tensor):  # a dataset
        if not keep:
            return X
        # _datasets_input imports this module.
        from skremix._datasets_input import IndexSamples

        return X if isinstance(X, IndexSamples) else IndexSamples(X)
    if keep:
        return (
            X
            if X.dtype == torch.int64
            else as_tensor(_as_indices(estimator, X.numpy()))
        )
    if not _is_integer_dtype(X.dtype) or (X.dtype == torch.uint8 and X.ndim == 4):
        return X
    # As sklearn's check_array casts integers to float32 ('float'), bit for bit.
    return as_tensor(X.numpy().astype(np.float32))


def _as_indices(estimator, X):
    """An integer ``X`` as int64, when integer inputs are indices."""
    if not np.issubdtype(X.dtype, np.integer):
        raise ValueError(
            f"{ids_source(estimator)} takes X of an integer dtype (token ids, "
            f"category codes); got {X.dtype}. Pass integers, or use "
            f"integer_inputs='float' for numeric features."
        )
    return X.astype(np.int64, copy=False)


def sample_zeros(estimator, n, device):
    """``n`` all-zero inputs of the fitted shape, for dry forward passes:
    int64 (index 0) when integer inputs are indices
    (:func:`resolve_integer_inputs`), else float32."""
    dtype = torch.int64 if keeps_integers(estimator) else torch.float32
    return torch.zeros((n, *estimator.input_shape_), dtype=dtype, device=device)


def dry_forward(estimator, n=2, *, module=None, train=False):
    """The output of ``module`` (default ``module_``) on ``n`` zero samples of
    the fitted input shape, without gradients, in eval mode (or train mode
    with ``train``), its mode restored: the one dry forward pass of the
    checks and sizes made before training. A module that fails on the input
    dtype gets a message saying why (indices to a module taking floats,
    floats to one that embeds)."""
    module = estimator.module_ if module is None else module
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = module.training
    try:
        module.train(train)
        with torch.no_grad():
            return module(sample_zeros(estimator, n, device))
    except RuntimeError as exc:
        error = _dtype_error(estimator, module, exc)
        if error is None:
            raise
        raise error from exc
    finally:
        module.train(was_training)


def _dtype_error(estimator, module, exc):
    """The ValueError explaining a failed dry forward by the input dtype,
    or None."""
    name = type(estimator).__name__
    if keeps_integers(estimator):
        if estimator.module is None:
            return _builtin_takes_floats(estimator)
        return None
    if not _embeds(getattr(module, "_orig_mod", module)):
        return None
    mode = getattr(estimator, "integer_inputs", "float")
    if mode == "float":
        why = (
            "integer_inputs='float' casts integer X to float32; integer_inputs="
            "'auto' (the default) or 'keep' passes token ids and category codes "
            "as int64"
        )
    elif mode == "auto" and not estimator.__dict__.get("_integer_X"):
        why = (
            "X is not of an integer dtype (uint8 images are pixels), so "
            "integer_inputs='auto' passed it as float32: pass token ids and "
            "category codes as integers (e.g. X.astype(np.int64)), or use "
            "integer_inputs='keep'"
        )
    else:
        error = _index_forward_error(estimator, getattr(module, "_orig_mod", module))
        why = (
            "integer_inputs='auto' passes integer X as int64 only to a module "
            f"that runs on int64 input, and this one failed on it too ({error})"
        )
    return ValueError(
        f"The module of {name} embeds its input (it has an Embedding layer) but "
        f"received floats: {why}. The forward pass failed with: {exc}"
    )


def _builtin_takes_floats(estimator):
    """The refusal of indices for the built-in modules."""
    return ValueError(
        f"integer_inputs='keep' passes integer indices to the module, and the "
        f"built-in module {type(estimator).__name__} would build for shape "
        f"{estimator.input_shape_} takes floats: pass a module that embeds them "
        "(torch.nn.Embedding / EmbeddingBag), or use integer_inputs='float' (or "
        "'auto', the default) for numeric features."
    )


def _tensor_to_numpy(t, name):
    """A tensor as a NumPy array on the host: dtypes NumPy lacks (bfloat16,
    float8) as float32; sparse tensors refused in sklearn's words."""
    if t.layout != torch.strided:
        raise TypeError(
            f"Sparse data was passed for {name}, but dense data is required. "
            "Use '.to_dense()' to convert to a dense tensor."
        )
    t = t.detach().cpu()
    try:
        return t.numpy()
    except TypeError:
        if t.is_floating_point():
            return t.float().numpy()
        raise TypeError(
            f"{name} is a tensor of dtype {t.dtype}, which has no NumPy "
            "equivalent; convert it to a float or integer dtype."
        ) from None


def as_tensor(X):
    """``torch.from_numpy`` without a copy, also of read-only arrays and
    memmaps (never written to: torch's warning about it does not apply)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The given NumPy array is not writable")
        return torch.from_numpy(X)


def check_target_type(y):
    """Refuse multilabel and multi-output targets (sklearn's wording);
    return ``y`` with a tensor as a NumPy array."""
    if isinstance(y, torch.Tensor):
        y = _tensor_to_numpy(y, "y")
    target_type = type_of_target(y, input_name="y")
    if target_type in (
        "multilabel-indicator",
        "multiclass-multioutput",
        "continuous-multioutput",
    ):
        raise ValueError("Multilabel and multioutput targets are not supported.")
    return y


def encode_labels(estimator, y, *, reset, classes=None):
    """Check class labels and encode them as ``0 .. C - 1`` in ``classes_``
    order (sklearn's checks and wording).

    With ``reset``, the classes are set (``classes_inferred_``): the
    ``classes`` parameter as given, else the ``classes`` argument of
    ``partial_fit``, else the labels of ``y``. ``y`` is a 1-d array or
    sequence of labels; a label not in ``classes_`` is an error.
    """
    y = np.asarray(y)
    check_classification_targets(y)
    y = y.ravel()
    if reset:
        if estimator.classes is not None:
            found = np.asarray(estimator.classes)
            if len(np.unique(found)) != len(found):
                raise ValueError(
                    "The 'classes' parameter contains duplicate labels: "
                    f"{found.tolist()}."
                )
        elif classes is not None:
            found = np.unique(np.asarray(classes))
        else:
            found = np.unique(y)
        if len(found) < 2:
            raise ValueError(
                "Classifier can't train when only one class is present: "
                f"y contains only {found.tolist()}."
            )
        estimator.classes_inferred_ = found
    # classes_ is in the order the user gave (the `classes` parameter need
    # not be sorted): each label's index in that order, found by searching
    # the sorted labels.
    known = np.asarray(estimator.classes_)
    order = np.argsort(known, kind="stable")
    try:
        pos = np.clip(np.searchsorted(known[order], y), 0, len(known) - 1)
        unknown = known[order][pos] != y
    except TypeError:  # labels that do not compare with classes_ (str / int)
        pos = np.zeros(len(y), dtype=np.intp)
        unknown = np.ones(len(y), dtype=bool)
    if np.any(unknown):
        raise ValueError(
            f"y contains labels {np.unique(y[unknown]).tolist()} not seen in "
            f"classes_ {known.tolist()}."
        )
    return torch.from_numpy(order[pos].astype(np.int64))


def validate_fit_data(estimator, X, y, *, reset, classes=None):
    """Validate array input and labels for training: ``(X, y)`` as tensors,
    ``y`` encoded (see :func:`encode_labels`)."""
    if y is not None:
        y = check_target_type(y)
    X, y = validate_X(estimator, X, reset=reset, y=y)
    return as_tensor(X), encode_labels(estimator, y, reset=reset, classes=classes)


def validate_sample_weight(estimator, sample_weight, X, y, *, fit):
    """Check ``sample_weight`` of ``fit`` / ``partial_fit`` (sklearn's
    checks and wording) against the validated ``X`` and encoded ``y``.

    Returns a float32 tensor of one weight per sample, or None for no
    weights and for all-ones weights (the unweighted training path, bit
    for bit). In ``fit``, weights that leave fewer than two classes with a
    non-zero weight are refused, as removing those samples would be.
    """
    if sample_weight is None:
        return None
    name = type(estimator).__name__
    if not isinstance(X, torch.Tensor):
        raise ValueError(
            f"sample_weight is not supported with a Dataset as X in {name}; "
            "pass the inputs as an array or tensor, or weight the classes "
            "with rebalance='rw' / 'drw'."
        )
    if isinstance(sample_weight, torch.Tensor):
        sample_weight = _tensor_to_numpy(sample_weight, "sample_weight")
    weights = _check_sample_weight(
        sample_weight, np.empty((len(y), 0)), dtype=np.float64, ensure_non_negative=True
    )
    if np.all(weights == 1.0):
        return None
    if not np.any(weights > 0):
        # sklearn's wording; its own check refuses this only from 1.7 on.
        raise ValueError("Sample weights must contain at least one non-zero number.")
    labels = y.numpy()
    if fit and len(np.unique(labels)) > 1 and len(np.unique(labels[weights > 0])) < 2:
        raise ValueError(
            "Classifier can't train when only one class has a non-zero "
            f"sample_weight: y's samples of weight > 0 are all of class "
            f"{estimator.classes_[labels[weights > 0][0]]!r}."
        )
    if "sample_weight" not in inspect.signature(estimator.train_forward).parameters:
        raise TypeError(
            f"{name}.train_forward takes no sample_weight, so {name} cannot "
            "train with sample weights: give train_forward a sample_weight=None "
            "parameter and return the weights of its rows in the TrainStep "
            "(see the user guide's 'Write your own method')."
        )
    iterator = estimator.iterator_train
    if iterator is not DataLoader:
        raise ValueError(
            f"sample_weight needs skremix's batch loop, which replaces the "
            f"DataLoader; {name} has iterator_train={iterator!r}. Leave "
            "iterator_train as DataLoader to train with sample weights."
        )
    return torch.from_numpy(weights.astype(np.float32))


def _check_loss_combinations(estimator):
    """Refuse the combinations of the loss and re-balancing parameters that
    make no sense, before any data is touched."""
    name = type(estimator).__name__
    if estimator.posthoc_tau is not None:
        check_posthoc(estimator, fitted=False)
    if getattr(estimator, "tau_norm", None) is not None:
        check_tau_norm(estimator)
    if estimator.rebalance == "crt":
        start = epoch_threshold(estimator.rebalance_start, estimator.max_epochs)
        if start == 0:
            raise ValueError(
                f"rebalance='crt' re-trains the head of features learnt in the "
                f"epochs before rebalance_start, and rebalance_start="
                f"{estimator.rebalance_start!r} with max_epochs="
                f"{estimator.max_epochs} leaves none: the head would be trained "
                f"on random features. Give {name} at least one plain epoch "
                "(rebalance_start >= 1, or a larger max_epochs)."
            )
    _check_own_batches(estimator)


def _check_own_batches(estimator):
    """Refuse an ``iterator_train`` of one's own where the batches must be
    drawn by skremix's batch loop (re-sampling, cRT, ReMix's class-balanced
    batches): that loop replaces the DataLoader, and a loader of one's own
    would train on plain shuffled batches without a word."""
    if estimator.iterator_train is DataLoader:
        return
    name = type(estimator).__name__
    if estimator.rebalance in ("rs", "drs", "crt"):
        what = f"rebalance={estimator.rebalance!r} draws class-balanced batches"
    elif getattr(estimator, "_balanced_batches", False):
        what = f"{name} draws class-balanced batches"
    else:
        return
    raise ValueError(
        f"{what} in skremix's batch loop, which replaces the DataLoader; {name} "
        f"has iterator_train={estimator.iterator_train!r}, whose batches would "
        "not be balanced. Leave iterator_train as DataLoader."
    )


def check_posthoc(estimator, fitted=True):
    """Checks of ``posthoc_tau``: not on a net trained with the logit-adjusted
    loss (the adjustment would be applied twice), and, when predicting, the
    class counts the priors come from."""
    name = type(estimator).__name__
    if estimator.loss == "logit_adjusted":
        raise ValueError(
            f"posthoc_tau={estimator.posthoc_tau!r} adjusts the predictions of a "
            f"net trained without logit adjustment, and this {name} trains with "
            "loss='logit_adjusted', which already builds the adjustment into "
            "the logits: applying both adjusts twice. Use one: posthoc_tau=None, "
            "or a loss other than 'logit_adjusted'."
        )
    if fitted and getattr(estimator, "class_counts_", None) is None:
        raise ValueError(
            f"posthoc_tau needs the training class priors, class_counts_, which "
            f"{name} learns at fit; a net built by initialize() and load_params "
            "has none: fit it, or predict with posthoc_tau=None."
        )


def check_tau_norm(estimator):
    """Check of ``tau_norm`` that needs no module: not with ``loss='ldam'``,
    whose cosine head already divides every class weight vector by its norm
    (the head itself is checked by ``BaseImbalancedClassifier._tau_norm_head``)."""
    if estimator.loss == "ldam":
        raise ValueError(
            f"tau_norm={estimator.tau_norm!r} divides each class's weight vector "
            f"in the head by a power of its norm, and this "
            f"{type(estimator).__name__} trains with loss='ldam', whose cosine "
            "classifier (skremix.nn.NormedLinear, the head of the built-in "
            "modules under LDAM) already divides every class weight vector by "
            "its norm: tau-normalisation would change nothing. Use "
            "tau_norm=None, or a loss other than 'ldam'."
        )


def _check_lr_milestones(estimator):
    """``lr_schedule`` given as ``(at, factor)`` milestones: each ``at`` an
    epoch (int >= 0) or a fraction of ``max_epochs`` (float in [0, 1)), each
    factor > 0, in increasing order of epoch."""
    schedule = estimator.lr_schedule
    if isinstance(schedule, str):
        return
    name = type(estimator).__name__
    starts = []
    for item in schedule:
        ok = isinstance(item, (tuple, list)) and len(item) == 2
        at, factor = item if ok else (None, None)
        at_ok = (
            isinstance(at, numbers.Integral) and not isinstance(at, bool) and at >= 0
        ) or (
            isinstance(at, numbers.Real)
            and not isinstance(at, numbers.Integral)
            and 0 <= at < 1
        )
        factor_ok = (
            isinstance(factor, numbers.Real)
            and not isinstance(factor, bool)
            and factor > 0
        )
        if not (ok and at_ok and factor_ok):
            raise ValueError(
                f"The 'lr_schedule' parameter of {name} must be 'constant', "
                "'step', 'cosine' or a sequence of (at, factor) pairs, at an "
                "epoch (int >= 0) or a fraction of max_epochs (float in [0, 1)) "
                f"and factor > 0; got the item {item!r}."
            )
        starts.append(epoch_threshold(at, estimator.max_epochs))
    if not starts:
        raise ValueError(
            f"The 'lr_schedule' parameter of {name} got no milestones; use "
            "'constant' for a constant rate."
        )
    if starts != sorted(starts):
        raise ValueError(
            f"The 'lr_schedule' milestones of {name} must be in increasing order "
            f"of epoch; they start at epochs {starts} of max_epochs="
            f"{estimator.max_epochs}."
        )


def check_input_params(estimator):
    """Checks of the base's parameters that need the data's shape
    (``input_shape_``), run after input validation and before training."""
    if keeps_integers(estimator):
        if estimator.standardize:
            raise ValueError(
                f"standardize=True cannot be used with {ids_source(estimator)}: "
                "indices (token ids, category codes) have no mean or scale. "
                "Use standardize=False."
            )
        if estimator.module is None:
            raise _builtin_takes_floats(estimator)
    if isinstance(estimator.augment, str) and len(estimator.input_shape_) != 3:
        raise ValueError(
            f"augment={estimator.augment!r} needs images of shape (n, h, w) or "
            f"(n, c, h, w); got samples of shape {estimator.input_shape_}. Pass "
            "augment=None, or a callable for tabular data."
        )


def check_data_parallel(estimator, dp):
    """Refuse, before any training, what data-parallel training cannot do
    (``dp`` the call's :class:`skremix._data_parallel.DataParallel`, None
    when training locally)."""
    name = type(estimator).__name__
    if dp is None:
        if estimator.sync_batch_norm:
            raise ValueError(
                f"sync_batch_norm=True synchronises BatchNorm statistics across "
                f"the ranks of data-parallel training, but {name} trains in one "
                "process here (no torch.distributed process group of two or more "
                "ranks, or data_parallel=False). Use sync_batch_norm=False, or "
                "launch with torchrun (see the user guide's 'Scaling out')."
            )
        return
    if estimator.iterator_train is not DataLoader:
        raise ValueError(
            f"data_parallel training shards the batches {name} draws itself; "
            f"iterator_train={estimator.iterator_train!r} draws its own, which "
            "cannot be split among the ranks. Leave iterator_train as DataLoader "
            "(iterator_train__sampler is sharded), or data_parallel=False."
        )
    if getattr(estimator, "compile", False):
        raise ValueError(
            f"compile=True is not supported with data_parallel training of {name}: "
            "use compile=False, or data_parallel=False."
        )
    backend = torch.distributed.get_backend()
    if backend == "nccl" and torch.device(estimator.device).type != "cuda":
        raise ValueError(
            f"The process group's backend is nccl, which needs CUDA tensors, but "
            f"{name} trains on {estimator.device!r}: use device='cuda' (or "
            "'auto' on a GPU machine), or init_process_group('gloo') for CPUs."
        )


def _check_no_accelerate(estimator):
    """skorch's ``AccelerateMixin`` replaces ``train_step_single`` without
    calling ``super()``: mixed into a skremix class, the method hook would
    never run and the net would silently train plain ERM."""
    for klass in type(estimator).__mro__:
        if klass.__name__ == "AccelerateMixin" and klass.__module__.startswith(
            "skorch"
        ):
            raise TypeError(
                f"{type(estimator).__name__} mixes in skorch's AccelerateMixin, "
                "whose train_step_single bypasses the method's train_forward: it "
                "would train plain ERM. Mix in skremix.hf.AccelerateMixin instead "
                "(the same use: Net(accelerator=Accelerator(), ...)), or launch "
                "the plain class with torchrun (see the user guide's 'Scaling "
                "out')."
            )


def check_module(estimator):
    """Checks of the built module before any training step: it gives one
    output per class (a dry forward of two zero samples in eval mode), the
    head that ``rebalance='crt'`` and ``tau_norm`` act on and the method's
    layers exist."""
    name = type(estimator).__name__
    out = dry_forward(estimator, 2)
    out = out[0] if isinstance(out, tuple) else out
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (
        2,
        len(estimator.classes_),
    ):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out)
        raise ValueError(
            f"The module of {name} must map a batch (B, ...) to one logit per "
            f"class, (B, {len(estimator.classes_)}); it gave {got} for B=2. Give it "
            f"n_classes={len(estimator.classes_)} outputs."
        )
    if getattr(estimator, "rebalance", None) == "crt":
        estimator._crt_head()
    if getattr(estimator, "tau_norm", None) is not None:
        estimator._tau_norm_head()
    estimator._check_method_layers()


def check_batch_of_one(estimator, n_train):
    """Refuse, before the first step, a training part whose batches can
    hold one sample when the module cannot train on one (BatchNorm on
    1x1 maps): checked with a train-mode forward of a copy."""
    batch = estimator.batch_size
    if estimator.iterator_train is DataLoader:
        batch = batch_options(estimator).batch_size  # iterator_train__batch_size
    batch = batch if batch != -1 else n_train
    if min(batch, n_train) != 1:
        return
    probe = copy.deepcopy(estimator.module_)  # a train step would change it
    try:
        dry_forward(estimator, 1, module=probe, train=True)
    except (ValueError, RuntimeError) as exc:
        raise ValueError(
            f"{type(estimator).__name__} cannot train on batches of one sample "
            f"with this module ({exc}); use batch_size >= 2 (now "
            f"{estimator.batch_size}) and at least 2 training samples "
            f"(now {n_train})."
        ) from None


def check_routed_options(estimator):
    """Refuse, before any data is touched, the routed options skremix would
    otherwise ignore or let fight: ``iterator_train__*`` it cannot honour
    (:mod:`skremix._batches`), class weights of the validation criterion,
    and a skorch ``LRScheduler`` beside ``lr_schedule``."""
    name = type(estimator).__name__
    if estimator.iterator_train is DataLoader:
        batch_options(estimator)
    _check_unused_options(estimator)
    if "weight" in estimator.get_params_for("criterion"):
        raise ValueError(
            f"criterion__weight would weight only the validation loss of {name}: "
            "criterion is the validation loss, and the training loss is "
            "skremix's own (the loss parameter). Weight the classes in training "
            "with rebalance='rw' (or 'drw'), or the samples with fit(..., "
            "sample_weight=...)."
        )
    if is_constant_schedule(estimator.lr_schedule, estimator.lr_warmup):
        return
    for callback in _callbacks_of(estimator):
        kind = callback if isinstance(callback, type) else type(callback)
        if kind.__name__ == "LRScheduler" and kind.__module__.startswith("skorch"):
            raise ValueError(
                f"{name} was given lr_schedule={estimator.lr_schedule!r} (lr_warmup="
                f"{estimator.lr_warmup}) and a skorch LRScheduler callback: both "
                "set the learning rate every epoch, and the optimizer would train "
                "with one while the history records the other. Use one: "
                "lr_schedule='constant' with lr_warmup=0 to let the LRScheduler "
                "drive the rate, or drop the LRScheduler."
            )


def _callbacks_of(estimator):
    """The callback objects of ``callbacks`` (a list of callbacks or of
    ``(name, callback)`` pairs); classes are instantiated by skorch, so
    they are checked as given."""
    callbacks = estimator.callbacks
    if not isinstance(callbacks, (list, tuple)):
        return []
    found = []
    for item in callbacks:
        callback = item[1] if isinstance(item, tuple) and len(item) == 2 else item
        found.append(callback)
    return found


# Default callbacks of earlier releases that carried rebalance and
# lr_schedule; the training loop applies both now.
_RETIRED_CALLBACKS = {
    "rebalance": "rebalance=None (no re-balancing)",
    "lr_schedule": "lr_schedule='constant' and lr_warmup=0",
}


#: The default ``rebalance_beta`` (the papers' 0.9999).
_DEFAULT_BETA = 0.9999


def _check_unused_options(estimator):
    """Refuse options the estimator would accept and never read: a
    ``mix_layer`` where the built-in training step acts on no hidden layer
    (ERM, ReMix, Remix with ``mix='input'`` / ``'cutmix'``; a method of
    one's own, with its own ``train_forward``, is taken at its word), and
    ``callbacks__*`` of the default callbacks that earlier releases had, and
    a ``rebalance_beta`` that no ``rebalance`` option reads."""
    name = type(estimator).__name__
    builtin = type(estimator).train_forward.__module__.startswith("skremix.")
    if estimator.mix_layer is not None and builtin and not estimator._hooks_layers():
        mix = getattr(estimator, "mix", None)
        how = f" with mix={mix!r}" if mix is not None else ""
        instead = (
            " Use mix='manifold' to mix at mix_layer, or mix_layer=None."
            if mix is not None
            else " Use mix_layer=None, or a method that acts on a hidden layer "
            "(RemixClassifier(mix='manifold'), MFWClassifier, RSGClassifier)."
        )
        raise ValueError(
            f"mix_layer={estimator.mix_layer!r} names a hidden layer, and "
            f"{name}{how} acts on none: it would be ignored.{instead}"
        )
    # rebalance_beta sets the effective-number class weights, which only the
    # re-weighting and re-sampling rebalance options read.
    beta = estimator.rebalance_beta
    uses_weights = estimator.rebalance in ("rw", "rs", "drw", "drs")
    if builtin and not uses_weights and beta != _DEFAULT_BETA:
        raise ValueError(
            f"rebalance_beta={beta!r} sets the effective-number class weights, "
            f"which {name} with rebalance={estimator.rebalance!r} never uses: "
            "they weight the loss or the sampling of rebalance='rw', 'rs', "
            "'drw' and 'drs' only. Set one of those, or leave rebalance_beta "
            f"at its default, {_DEFAULT_BETA}."
        )
    given = estimator.get_params_for("callbacks")
    for key, instead in _RETIRED_CALLBACKS.items():
        if any(k == key or k.startswith(key + "__") for k in given):
            raise ValueError(
                f"callbacks__{key} sets a default callback {name} no longer has: "
                f"its training loop applies {key} itself, whatever callbacks "
                f"are given. To switch it off, use {instead}."
            )
