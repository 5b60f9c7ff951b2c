"""Hugging Face Accelerate for skremix classifiers: ``AccelerateMixin``.

skorch's own ``skorch.hf.AccelerateMixin`` cannot serve a skremix class:

- its ``train_step_single`` runs ``infer`` and ``get_loss`` itself, so the
  method's ``train_forward`` (the mixing, feature weakening or generation,
  the extra losses) would never run and the net would train plain ERM;
- it hands the criterion to ``accelerator.prepare``, which wraps a module
  without trainable parameters in DistributedDataParallel and fails on
  several processes ("DistributedDataParallel is not needed when a module
  doesn't have any parameter that requires a gradient"), even for skorch's
  ``NeuralNetClassifier`` (skorch 1.4.0, accelerate 1.16, 2 CPU processes);
- it wraps only ``module_`` in DDP, not RSG's generator, and shards the
  batches with accelerate's loader, which knows nothing of class-balanced
  batches, DRW or the class counts.

So skremix keeps one engine: the :mod:`torch.distributed` data-parallel
training of every class (``data_parallel``, :mod:`skremix._data_parallel`).
This mixin lets an ``accelerate.Accelerator`` drive it, with skorch's usage
(``class Net(AccelerateMixin, RemixClassifier)``,
``Net(accelerator=Accelerator(), ...)``): the accelerator starts the process
group (under ``accelerate launch`` or ``torchrun``) and gives each process
its device; skremix shards, steps and synchronises as without it.
"""

from __future__ import annotations

from sklearn.base import _clone_parametrized

__all__ = ["AccelerateMixin"]


class AccelerateMixin:
    """Mix into a skremix classifier to train it under an Accelerator.

    ``class Net(AccelerateMixin, RemixClassifier): pass`` then
    ``Net(accelerator=Accelerator(), ...)``; launch the script with
    ``accelerate launch --multi_gpu --num_processes N script.py`` (or
    ``torchrun --nproc_per_node=N script.py``). On CPUs, create the
    accelerator with ``Accelerator(cpu=True)``: accelerate then starts a
    gloo process group; without it accelerate sees no distributed setup on
    a machine without GPUs. Why skorch's mixin of the same name is not used:
    this module's docstring.

    What the accelerator sets: the process group (so that
    ``data_parallel='auto'`` trains data-parallel over its processes) and,
    with ``device='auto'``, the device of each process
    (``accelerator.device``). Everything else is the estimator's own:
    ``precision='bf16'`` is skremix's autocast; an accelerator with
    ``mixed_precision='fp16'`` or ``'fp8'``, with ``mixed_precision='bf16'``
    beside ``precision='fp32'``, or with ``gradient_accumulation_steps > 1``
    is refused before training rather than ignored.

    Parameters
    ----------
    *args
        The classifier's positional parameters (``module``).
    accelerator : accelerate.Accelerator
        The accelerator of this process.
    **kwargs
        The classifier's parameters.

    Notes
    -----
    ``clone`` (and so ``GridSearchCV``) keeps the same accelerator object;
    a pickled net is saved without it (``accelerator`` is None after
    loading, and the net predicts on the loading process's device like any
    other).

    Examples
    --------
    >>> from accelerate import Accelerator  # doctest: +SKIP
    >>> from skremix import RemixClassifier
    >>> from skremix.hf import AccelerateMixin
    >>> class AcceleratedRemix(AccelerateMixin, RemixClassifier):
    ...     '''Remix trained under Hugging Face Accelerate.'''
    >>> clf = AcceleratedRemix(accelerator=Accelerator(cpu=True))  # doctest: +SKIP
    """

    def __init__(self, *args, accelerator, **kwargs):
        super().__init__(*args, **kwargs)
        self.accelerator = accelerator

    @property
    def device(self):
        """The accelerator's device for ``device='auto'``, else as given."""
        raw = self.__dict__.get("device", "auto")
        accelerator = self.__dict__.get("accelerator")
        if isinstance(raw, str) and raw == "auto" and accelerator is not None:
            device = accelerator.device
            return "cpu" if device.type == "cpu" else str(device)
        return super().device

    @device.setter
    def device(self, value):
        self.__dict__["device"] = value

    def _check_accelerator(self):
        accelerator = self.accelerator
        if accelerator is None:
            return
        name = type(self).__name__
        mixed = str(getattr(accelerator, "mixed_precision", "no"))
        if mixed in ("fp16", "fp8"):
            raise ValueError(
                f"{name} does not train with Accelerator(mixed_precision={mixed!r}): "
                "skremix has no loss scaling. Use mixed_precision='no', or 'bf16' "
                "with precision='bf16'."
            )
        if mixed == "bf16" and self.precision != "bf16":
            raise ValueError(
                f"Accelerator(mixed_precision='bf16') asks for bf16, but {name} has "
                f"precision={self.precision!r}: set precision='bf16' (skremix's own "
                "autocast), or mixed_precision='no'."
            )
        steps = int(getattr(accelerator, "gradient_accumulation_steps", 1))
        if steps > 1:
            raise ValueError(
                f"{name} does not accumulate gradients: "
                f"Accelerator(gradient_accumulation_steps={steps}) would be ignored. "
                "Use gradient_accumulation_steps=1 and a larger batch_size (per "
                "process) instead."
            )

    def fit(self, X, y, **fit_params):
        """Check the accelerator, then fit as the classifier does.

        Parameters
        ----------
        X, y : array-like or Dataset
            As in the classifier's ``fit``.
        **fit_params : dict
            As in the classifier's ``fit`` (``sample_weight``, ...).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._check_accelerator()
        return super().fit(X, y, **fit_params)

    def partial_fit(self, X, y, classes=None, **fit_params):
        """Check the accelerator, then train further as the classifier does.

        Parameters
        ----------
        X, y : array-like or Dataset
            As in the classifier's ``partial_fit``.
        classes : array-like, default=None
            As in the classifier's ``partial_fit``.
        **fit_params : dict
            As in the classifier's ``partial_fit``.

        Returns
        -------
        self : object
            The estimator, trained further.
        """
        self._check_accelerator()
        return super().partial_fit(X, y, classes=classes, **fit_params)

    def __sklearn_clone__(self):
        # An Accelerator is process state, not a parameter to copy: the
        # clone shares it.
        accelerator = self.__dict__.get("accelerator")
        self.__dict__["accelerator"] = None
        try:
            clone = _clone_parametrized(self)
        finally:
            self.__dict__["accelerator"] = accelerator
        clone.accelerator = accelerator
        return clone

    def __getstate__(self):
        state = super().__getstate__()
        state["accelerator"] = None
        return state
