"""The parameter and attribute docs every skremix classifier shares, and the
helper that puts them into a class docstring.

A class docstring is a plain string with the markers ``%(shared_params)s``
and ``%(shared_attributes)s`` where the shared sections go; :func:`fill_doc`
substitutes them (with the class's own defaults) by plain replacement, so
the rest of the docstring, LaTeX included, is written as is: no doubled
braces, no f-string.
"""

from __future__ import annotations

import re

__all__: list[str] = []

_SHARED_PARAMS_DOC = """module : torch.nn.Module class or instance, default=None
        The network. None picks one from the shape of ``X`` at fit
        (:func:`skremix.nn.default_module`): an MLP for rows, a small ConvNet
        for images smaller than 32x32, a CIFAR ResNet-32 from 32x32 up.
        A class gets ``n_features`` / ``in_channels`` / ``n_classes`` /
        ``input_shape`` filled in when its constructor takes them;
        ``module__*`` parameters are passed to it, as in skorch.
    criterion : torch criterion class, default=torch.nn.CrossEntropyLoss
        The validation loss (``valid_loss``), called on the logits (LDAM's
        scaled by ``ldam_s``); ``criterion__*`` parameters are passed to
        it. The training loss is skremix's own (``loss``: per-sample,
        soft-label, class-weighted), so ``criterion__weight`` is refused:
        weight the classes with ``rebalance='rw'`` or the samples with
        ``sample_weight``.
    optimizer : torch optimizer class, default=torch.optim.AdamW
        ``optimizer__*`` parameters are passed to it.
    lr : float, default=1e-3
        Initial learning rate.
    lr_schedule : {'constant', 'step', 'cosine'} or sequence of (at, factor), \
default='constant'
        Per-epoch learning rate, set by the training loop itself (the
        factors: :meth:`skremix.callbacks.LRSchedule.factor`); a skorch
        ``LRScheduler`` callback is refused beside a schedule other than
        'constant' (or a warm-up), as both would set the rate.
        'constant' is skorch's behaviour. 'step': x0.1 from the deferred
        start ``rebalance_start`` (80% of the epochs), x0.01 halfway from
        there to the end, with deferred re-balancing switched on at the
        first decay. 'cosine' anneals the rate to zero over ``max_epochs``.
        A sequence of ``(at, factor)`` pairs multiplies the rate by the
        ``factor`` of the last milestone reached, ``at`` an epoch (int) or a
        fraction of ``max_epochs`` (float in [0, 1)): ``((0.8, 0.01), (0.9,
        1e-4))`` is the LDAM-DRW protocol. Each ``fit`` / ``partial_fit``
        call runs the schedule from its start, and so does the deferred
        start.
    lr_warmup : int, default=0
        Epochs of linear warm-up: epoch ``e < lr_warmup`` (0-based) trains
        at ``(e + 1) / lr_warmup`` of the schedule's rate (5 in the papers'
        CIFAR protocol).
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
    rebalance : {None, 'rw', 'rs', 'drw', 'drs', 'crt'}, default=None
        Class re-balancing of Cao et al. (2019) with effective-number weights
        ``w_c = (1 - b) / (1 - b**N_c)`` scaled to sum to C: re-weighting
        (``'rw'``) or re-sampling (``'rs'``) from the first epoch, or deferred
        (``'drw'``, ``'drs'``) from ``rebalance_start``. ``'rw'`` is also the
        class-balanced loss of Cui et al. (2019), whose weights these are.
        ``'crt'``: classifier re-training of Kang et al. (2020), deferred:
        from ``rebalance_start`` the module's parameters outside its
        ``head`` submodule are frozen, the head is re-initialised (its
        ``reset_parameters``, a fresh optimizer state) and trained alone on
        class-balanced batches (each draw a class uniformly, then one of its
        samples); the method's training step (mixing, ...) runs as before.
        BatchNorm layers of the frozen part keep normalising with batch
        statistics and updating their running statistics (buffers, not
        parameters), so that ``precise_bn`` gives prediction the statistics
        of the batches the head was trained on. After ``fit`` every
        parameter trains again (``partial_fit`` repeats the scheme per call).
        Needs at least one plain epoch, a module with a ``head`` submodule
        (every built-in one) and ``iterator_train`` left as DataLoader. See
        the user guide's "Long-tail baselines".
    rebalance_start : int or float, default=0.8
        Deferred start: an int is the number of plain epochs; a float in
        [0, 1) the fraction of ``max_epochs`` trained plain (0.8 = the papers'
        "after 80% of the epochs", the LR decay at epoch 160 of 200). Counted
        from the start of each ``fit`` / ``partial_fit`` call. Also the first
        decay of ``lr_schedule='step'``.
    rebalance_beta : float, default=0.9999
        ``b`` of the effective number. Read by ``rebalance`` 'rw', 'rs',
        'drw' and 'drs' only: another value is refused with any other
        ``rebalance`` of a built-in method (it would be ignored).
    loss : {'ce', 'ldam', 'logit_adjusted', 'focal'}, default='ce'
        Training loss. ``'ce'``: cross-entropy. ``'ldam'``: the
        label-distribution-aware margin loss of Cao et al. (2019): the margin
        ``m_c = ldam_max_m * (N_c / N_min)**-0.25`` is subtracted from the
        true-class logit and the logits are scaled by ``ldam_s`` before the
        cross-entropy; a soft target (mixing methods) gives the
        target-weighted sum of one LDAM term per class, each with its own
        class's margin (:func:`skremix.losses.ldam_cross_entropy`, the
        two-term loss of Remix with LDAM). A module class that takes
        ``normed_head`` (every built-in one) gets ``normed_head=True``, the
        cosine classifier of LDAM, unless ``module__normed_head`` is set.
        No margin at validation and prediction, where the logits are scaled
        by ``ldam_s`` (validation loss, ``predict_proba``), as in training.
        With ``rebalance='drw'`` this is LDAM-DRW.
        ``'logit_adjusted'``: the cross-entropy of the logits plus
        ``la_tau * log(pi_c)``, ``pi`` the training priors (Menon et al.
        2021, Eq. 10; at ``la_tau=1`` the Balanced Softmax of Ren et al.
        2020); soft targets stay as they are, and ``predict_proba`` is the
        softmax of the raw logits (:func:`skremix.losses.logit_adjustment`).
        ``'focal'``: the focal loss ``-(1 - p_y)**focal_gamma * log p_y`` of
        Lin et al. (2017), for a soft target ``t`` the target-weighted sum
        ``-sum_c t_c (1 - p_c)**focal_gamma log p_c``
        (:func:`skremix.losses.focal_loss`). Both validate with the plain
        cross-entropy. One loss at a time: LDAM's margins combine with
        neither (``posthoc_tau`` is defined for an LDAM net).
    ldam_max_m : float, default=0.5
        Largest LDAM margin (that of the rarest class); ``loss='ldam'`` only.
    ldam_s : float, default=30.0
        Logit scale of LDAM; ``loss='ldam'`` only.
    la_tau : float, default=1.0
        ``tau`` of the logit-adjusted loss, >= 0; ``loss='logit_adjusted'``
        only.
    focal_gamma : float, default=2.0
        Focusing parameter ``gamma`` of the focal loss, >= 0 (2 in the
        paper); ``loss='focal'`` only.
    posthoc_tau : float or None, default=None
        Post-hoc logit adjustment of Menon et al. (2021, Eq. 9) at
        prediction: ``predict_proba`` is the softmax of ``f(x) - posthoc_tau
        * log(pi)``, ``pi`` the priors of ``class_counts_`` (LDAM's logits
        scaled by ``ldam_s`` first), and ``predict`` its argmax. None (the
        default) leaves predictions as trained; training, the validation
        loss and ``valid_bacc`` never use it. It can be set after ``fit``
        (``set_params``), and is refused with ``loss='logit_adjusted'``,
        whose training already adjusts the logits.
    tau_norm : float or None, default=None
        The tau-normalised classifier of Kang et al. (2020, Sec. 4) at
        prediction: each class's weight row ``w_i`` of the module's ``head``
        is replaced by ``w_i / ||w_i||**tau_norm`` and the head's bias is
        left out, as in the paper's code, so that the logit of class ``i``
        is ``<w_i, g(x)> / ||w_i||**tau_norm``, ``g(x)`` the head's input.
        ``tau_norm=1`` gives unit-norm rows (a cosine classifier up to the
        norm of ``g(x)``); ``tau_norm=0`` leaves the rows as trained and
        only drops the bias (the same as None for a head without bias).
        Acts on ``predict_proba`` and ``predict`` only, the head's tensors
        put back untouched after each call; None (the default) leaves
        predictions as trained; training, the validation loss and
        ``valid_bacc`` never use it. It can be set after ``fit``
        (``set_params``) and composes with ``posthoc_tau``, which then
        adjusts the tau-normalised logits. Needs a ``head`` submodule with a
        ``weight`` of one row per class (every built-in module); refused
        with ``loss='ldam'`` and with a ``NormedLinear`` head, whose cosine
        classifier already normalises the rows.
    precision : {'fp32', 'bf16'}, default='fp32'
        'bf16' runs the module's forward passes (training and prediction)
        under ``torch.autocast`` with bfloat16; losses and probabilities stay
        float32. Pays off on GPUs with bf16 units (and some CPUs).
    channels_last : bool or 'auto', default='auto'
        Images and the module in channels-last memory format; no effect on
        tabular input. 'auto' turns it on for the built-in convolutional
        modules (:class:`~skremix.nn.ConvNet`, :class:`~skremix.nn.ResNetCifar`)
        on the CPU, where their convolutions and pooling are faster in it,
        and leaves a module of one's own, and CUDA, in the default layout
        (see the user guide's "Training speed"). The resolved choice is
        ``channels_last_``.
    augment : {'crop_flip'}, callable or None, default=None
        Training augmentation of each batch, on the device, before a method
        mixes it; never at validation or prediction. 'crop_flip' is the
        papers' CIFAR augmentation (:func:`skremix.augment.random_crop_flip`:
        a random crop of the image padded by 4 pixels, and a horizontal flip
        with probability 1/2, per sample; images only). A callable maps the
        batch tensor ``(B, ...)`` to an augmented one with ``B`` rows; draw
        its randomness from torch's generator (seeded from
        ``random_state``).
    standardize : bool, default=False
        Subtract the mean and divide by the standard deviation of the
        training inputs, per channel for images and per feature for rows
        (``input_mean_``, ``input_std_``; a constant channel is only
        centred), in training, validation and prediction. Computed on the
        training part (after any validation split, before augmentation) by
        every ``fit`` and by the first ``partial_fit``.
    integer_inputs : {'auto', 'float', 'keep'}, default='auto'
        What an integer ``X`` is. 'float': numbers, cast to float32 (uint8
        images, 3-d or 4-d, are scaled to [0, 1] per batch instead), for the
        built-in modules and any module taking floats. 'keep': indices
        (token ids, category codes) for a module that embeds them
        (``torch.nn.Embedding`` / ``EmbeddingBag``): ``X`` must have an
        integer dtype and reaches the module as int64, unscaled, in
        training, validation and prediction. 'auto': 'keep' when ``X`` (an
        array, tensor, DataFrame or dataset samples) has an integer dtype,
        uint8 images excepted, and the module built has an embedding layer
        and runs on int64 input (checked with a forward pass of zeros);
        'float' otherwise, so that the built-in modules, modules taking
        floats and float ``X`` train as with 'float'. With indices, mixing
        happens at a hidden layer only (``mix='manifold'`` of Remix, MFW,
        RSG); input mixing, ``standardize`` and the built-in modules are
        refused. See the user guide's "Text and other integer inputs".
    precise_bn : bool or int, default=8
        After the last epoch of each ``fit`` / ``partial_fit``, recompute the
        running mean and variance of every BatchNorm layer of the module with
        its final weights, as the plain average over the method's own
        training batches: the first ``n`` batches of one pass for an int
        ``n`` (as Detectron2's ``PreciseBN`` bounds its pass; 8 by default,
        chosen on the quality matrix, see ``doc/quality.rst``), the whole
        pass for True, none for False; the batches given clean (no mixing,
        augmentation or generated features, as in prediction), in train
        mode and without gradients ("precise BN"). The running statistics
        kept during training average earlier weights and, for the mixing
        methods, mixed inputs that a test input never resembles. No effect
        on a module without BatchNorm (the default MLP); costs a forward
        pass over ``n`` batches (or all of them). The user guide's pitfalls
        page says when to turn it off.
    data_placement : {'auto', 'device', 'host'}, default='auto'
        Where the training data lives during ``fit``. 'device': moved to
        the training device once, batches gathered there (fastest). 'host':
        each batch is gathered on the host and moved on its own, from
        pinned memory on CUDA (for data larger than the device's memory, or
        a ``np.memmap`` that should stay on disk). 'auto': 'device' on the
        CPU (no copy is made) and on a GPU where the data takes at most half
        of its free memory, else 'host'; the choice is ``data_placement_``.
        uint8 images stay uint8 on both paths (scaled to [0, 1] per batch).
        Batches are drawn where the data lives, so on a GPU the two paths
        draw different (equally seeded) batches.
    data_parallel : {'auto', True, False}, default='auto'
        Train one net data-parallel over the ranks of the default
        ``torch.distributed`` process group (a script launched with
        ``torchrun --nproc_per_node=N`` that calls
        ``torch.distributed.init_process_group()``, or
        :class:`skremix.hf.AccelerateMixin`): every rank passes the same
        data, and draws a disjoint share of each epoch's global batches of
        ``batch_size * world_size`` (``batch_size`` is per rank, as in
        PyTorch's DDP), class-balanced ones balanced globally; gradients
        are averaged by ``DistributedDataParallel``. 'auto': data-parallel
        when a process group of two or more ranks is initialised, else
        local; True: refused without a process group; False: one net per
        process (e.g. a different seed on each rank). See the user guide's
        "Scaling out".
    sync_batch_norm : bool, default=False
        With data-parallel training, BatchNorm layers normalise each batch
        by the statistics of the global batch (every rank's share), as in
        one process, instead of the rank's share; on CPUs and GPUs (one
        all-reduce per layer and step). Refused without data-parallel
        training.
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
        When > 0, skorch's per-epoch table is printed.
    **kwargs
        Any other skorch parameter (``callbacks``, ``warm_start``,
        ``optimizer__*``, ``iterator_valid__*``, ...). ``callbacks`` are
        extras: ``rebalance`` and ``lr_schedule`` are applied by the training
        loop, also with ``callbacks='disable'``. Of ``iterator_train__*``,
        ``batch_size``, ``shuffle=False`` (the data's order),
        ``drop_last=True`` and ``sampler`` (the indices of each epoch, e.g.
        a ``WeightedRandomSampler``) set the batch order skremix draws, and
        the loading options (``num_workers``, ``collate_fn``, ...) are given
        to a DataLoader serving those batches; ``batch_sampler`` and
        ``generator`` are refused, and so are a sampler or ``shuffle=False``
        where the method draws its own batches (``rebalance='rs'``,
        ``'drs'``, ``'crt'``, ReMix)."""


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
        validation split), aligned with ``classes_``: of the last ``fit``,
        plus those of every ``partial_fit`` call since (as scikit-learn's
        ``partial_fit`` estimators count), so that re-balancing, the
        methods' class rules and ``posthoc_tau`` see every chunk streamed
        so far.
    class_weights_ : ndarray of shape (n_classes,)
        Effective-number class weights of ``class_counts_`` (sum C).
    imbalance_kind_ : {'step', 'long_tailed'}
        Profile of ``class_counts_`` (:func:`skremix.datasets.imbalance_kind`);
        MFW's and RSG's 'auto' settings follow it.
    n_features_in_ : int
        Features of tabular input; for images the number of channels (1
        for ``(n, h, w)`` input).
    input_mean_, input_std_ : ndarray of shape (n_channels,) or (n_features,)
        Statistics of the training inputs; with ``standardize=True`` only.
    world_size_ : int
        Processes the last ``fit`` trained on (1 unless ``data_parallel``).
    data_placement_ : {'device', 'host'}
        Where the training data of the last ``fit`` lived.
    channels_last_ : bool
        Whether the module and its image batches are channels-last
        (``channels_last`` resolved).
    input_shape_ : tuple
        Shape of one sample as the module sees it: ``(d,)`` or ``(c, h, w)``.
    module_ : torch.nn.Module
        The trained network.
    history_ : skorch.History
        Per-epoch losses, ``rebalance`` state and validation scores."""


# The Parameters section of every ``train_forward`` (a method docstring:
# indented by eight spaces).
_TRAIN_FORWARD_PARAMS_DOC = """Parameters
        ----------
        X : torch.Tensor of shape (B, ...)
            The batch's inputs.
        y : torch.Tensor of shape (B,)
            The batch's class indices (0 to C - 1, in ``classes_`` order).
        sample_weight : torch.Tensor of shape (B,) or None, default=None
            The batch's sample weights, when ``fit`` was given some (never
            all ones); None otherwise.
        **fit_params : dict
            Passed to the module's ``forward``."""


_MARKER = re.compile(r"%\((\w+)\)s")


def fill_doc(**defaults):
    """Class decorator: fill the shared sections into the class docstring
    and the docstrings of the methods it defines.

    ``%(shared_params)s`` becomes the shared parameter entries, with the
    defaults given here in place of the base's (e.g.
    ``fill_doc(rebalance="'drw'")``), ``%(shared_attributes)s`` the shared
    attribute entries and ``%(train_forward_params)s`` the Parameters
    section of :meth:`train_forward`. Any other ``%(name)s`` marker is an
    error.
    """
    pieces = {
        "shared_params": _params_doc(**defaults),
        "shared_attributes": _SHARED_ATTRIBUTES_DOC,
        "train_forward_params": _TRAIN_FORWARD_PARAMS_DOC,
    }

    def fill(owner, doc):
        def substitute(match):
            name = match.group(1)
            if name not in pieces:
                raise KeyError(f"{owner}: unknown docstring marker {name!r}")
            return pieces[name]

        return _MARKER.sub(substitute, doc)

    def decorate(cls):
        cls.__doc__ = fill(cls.__name__, cls.__dict__.get("__doc__") or "")
        for name, member in vars(cls).items():
            if callable(member) and getattr(member, "__doc__", None):
                member.__doc__ = fill(f"{cls.__name__}.{name}", member.__doc__)
        return cls

    return decorate
