"""The classifier head and what skremix does to it, as functions of a
module and its head.

- Finding it: the module's submodule named ``head`` (:func:`find_head`).
- Classifier re-training (cRT, Kang et al. 2020): :func:`crt_freeze` and
  :func:`crt_unfreeze`, called by the training loop of ``rebalance='crt'``.
- The tau-normalised classifier (Kang et al. 2020, Sec. 4): at prediction the
  logits of a head whose class rows are ``w_i / ||w_i||**tau``, computed by
  a per-call view of the module (:func:`tau_normalised_module`), never by
  writing the head's tensors, so that a fitted net predicting from several
  threads at once stays unchanged.
- Post-hoc logit adjustment (Menon et al. 2021, Eq. 9):
  :func:`posthoc_adjustment`.

The estimator base (``_net.py``) keeps thin methods calling these. A view
reaches skorch's forward pass (``infer``) through :func:`predicting_through`,
a context variable: per thread and per asyncio task, set for one call and
reset after it, never stored on the estimator (nor pickled with it).
"""

from __future__ import annotations

import contextvars
import copy
from collections.abc import Callable, Iterable
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from skremix.losses import logit_adjustment
from skremix.nn import NormedLinear

__all__: list[str] = []

HEAD = "head"

# The forward hooks of a module, in the attributes torch keeps them in.
_FORWARD_HOOKS = (
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
)

# (estimator, module) of the prediction in progress in this context.
_PREDICTING: contextvars.ContextVar = contextvars.ContextVar(
    "skremix_predicting_through", default=None
)


def find_head(module, what, instead, needs="parameters", fits=None):
    """The module's classifier head: its submodule named ``head`` (that of
    every built-in module), which ``what`` acts on.

    Raises a ValueError naming ``needs`` and suggesting ``instead`` where
    there is none, or where ``fits(head)`` is false (default: the head has
    parameters).
    """
    head = getattr(module, HEAD, None)
    if not isinstance(head, torch.nn.Module) or not (
        next(head.parameters(), None) is not None if fits is None else fits(head)
    ):
        raise ValueError(
            f"{what} the classifier head, which it finds as the submodule "
            f"named '{HEAD}'; {type(module).__name__} has no '{HEAD}' "
            f"submodule with {needs}. Name the module's last (classifier) "
            f"layer '{HEAD}', or {instead}."
        )
    return head


# ----------------------------------------------------- classifier re-training
def crt_freeze(
    module: torch.nn.Module,
    head: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    reset_head: bool = True,
) -> list[str]:
    """Start classifier re-training: freeze the features, reset the head.

    Every parameter of ``module`` outside ``head`` that trains stops
    (``requires_grad`` off, its gradient dropped); with ``reset_head``
    (cRT) every layer of the head is re-initialised with its own
    ``reset_parameters`` (torch's global generator); without it (MiSLAS's
    second stage) the head goes on from its trained weights. Either way the
    head's state in ``optimizer`` is dropped.

    Returns
    -------
    names : list of str
        The names (in ``module.named_parameters()``) of the parameters
        frozen, for :func:`crt_unfreeze`.
    """
    in_head = {id(p) for p in head.parameters()}
    names = []
    for name, param in module.named_parameters():
        if id(param) not in in_head and param.requires_grad:
            param.requires_grad_(False)
            param.grad = None
            names.append(name)
    for layer in head.modules() if reset_head else ():
        reset = getattr(layer, "reset_parameters", None)
        if callable(reset):
            reset()
    if optimizer is not None:
        for param in head.parameters():
            optimizer.state.pop(param, None)
    return names


def crt_unfreeze(module: torch.nn.Module, names: Iterable[str]) -> None:
    """Let the parameters that :func:`crt_freeze` froze train again."""
    names = set(names)
    for name, param in module.named_parameters():
        if name in names:
            param.requires_grad_(True)


# -------------------------------------------------------- tau-normalisation
def tau_norm_head(module, n_classes, tau):
    """The head that ``tau_norm=tau`` rescales: the module's ``head``, with
    a 2-D ``weight`` of one row per class (as ``torch.nn.Linear``), not a
    :class:`~skremix.nn.NormedLinear` cosine classifier (already normalised:
    tau-normalisation would change nothing); a ValueError otherwise."""
    head = getattr(module, HEAD, None)
    if isinstance(head, NormedLinear):
        raise ValueError(
            f"tau_norm={tau!r} divides each class's weight vector "
            f"in the head by a power of its norm, and the head of "
            f"{type(module).__name__} is a NormedLinear cosine "
            "classifier (normed_head=True), which already divides every "
            "class weight vector by its norm: tau-normalisation would change "
            "nothing. Use module__normed_head=False, or tau_norm=None."
        )

    def fits(head):
        weight = getattr(head, "weight", None)
        return (
            isinstance(weight, torch.Tensor)
            and weight.ndim == 2
            and weight.shape[0] == n_classes
        )

    return find_head(
        module,
        f"tau_norm={tau!r} rescales the class rows of",
        "use tau_norm=None",
        needs=f"a 'weight' of shape (n_classes={n_classes}, n_features) as in "
        "torch.nn.Linear",
        fits=fits,
    )


def tau_normalised_weight(weight: torch.Tensor, tau: float) -> torch.Tensor:
    """A new tensor of the rows ``w_i / ||w_i||**tau`` of ``weight``
    (computed in float64, returned in its dtype); a row of norm zero kept.

    Examples
    --------
    >>> import torch
    >>> tau_normalised_weight(torch.tensor([[3.0, 4.0], [0.0, 0.0]]), 1.0)
    tensor([[0.6000, 0.8000],
            [0.0000, 0.0000]])
    """
    with torch.no_grad():
        rows = weight.detach().double()
        norms = torch.linalg.vector_norm(rows, dim=1, keepdim=True)
        scale = torch.where(norms > 0, norms.pow(float(tau)), 1.0)
        return (rows / scale).to(weight.dtype)


class TauNormalisedHead(torch.nn.Module):
    """``F.linear(x, W / ||W||**tau)`` of a head's weight ``W``, without its
    bias, as in the paper's code (``feat @ pnorm(W, tau).T``).

    Built for one prediction: the normalised rows are a new tensor (the
    head's are only read), and the head's forward hooks run on it (their
    dicts are shared), so a hook on ``module.head`` sees its input as usual.
    """

    def __init__(self, head: torch.nn.Module, tau: float):
        super().__init__()
        self.tau = float(tau)
        self.weight = tau_normalised_weight(head.weight, tau)  # not a parameter
        self.bias = None
        self.training = head.training
        for name in _FORWARD_HOOKS:
            if name in vars(head):
                object.__setattr__(self, name, vars(head)[name])

    def forward(self, x):
        return F.linear(x, self.weight)


def tau_normalised_module(module, head, tau):
    """A view of ``module`` predicting with its head tau-normalised.

    A shallow copy of ``module`` (the original of a ``torch.compile``\\ d
    one) that shares every parameter, buffer, child and forward hook and
    whose own dict of children holds, in place of ``head``, a
    :class:`TauNormalisedHead`: nothing of ``module`` is written, and the
    view is dropped after the call that built it.
    """
    base = getattr(module, "_orig_mod", module)
    name = next((n for n, m in base._modules.items() if m is head), None)
    if name is None:
        raise ValueError(
            f"The head to tau-normalise is not a child of {type(base).__name__}."
        )
    view = copy.copy(base)
    # copy.copy shares the dict of children itself: the view gets its own.
    children = type(base._modules)(base._modules)
    children[name] = TauNormalisedHead(head, tau)
    object.__setattr__(view, "_modules", children)
    return view


@contextmanager
def predicting_through(owner, module):
    """For the duration of the block in this thread (or asyncio task), the
    forward passes of ``owner`` run ``module`` (:func:`module_for`)."""
    token = _PREDICTING.set((owner, module))
    try:
        yield
    finally:
        _PREDICTING.reset(token)


def module_for(owner):
    """The module :func:`predicting_through` set for ``owner`` in this
    context, or None (the estimator's own ``module_``)."""
    current = _PREDICTING.get()
    if current is None or current[0] is not owner:
        return None
    return current[1]


# ---------------------------------------------------- post-hoc adjustment
def posthoc_adjustment(
    class_counts, posthoc_tau: float, scale: float = 1.0
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The map of logits ``z`` to ``scale * z - posthoc_tau * log(pi)``, in
    float64 (Menon et al. 2021, Eq. 9), ``pi`` the priors of
    ``class_counts``; ``scale`` is LDAM's ``ldam_s`` (1 otherwise).

    Examples
    --------
    >>> import torch
    >>> adjust = posthoc_adjustment([3, 1], 1.0)
    >>> adjust(torch.zeros(1, 2)).exp()  # 1 / pi
    tensor([[1.3333, 4.0000]], dtype=torch.float64)
    """
    shift = logit_adjustment(class_counts, posthoc_tau).double()
    return lambda logits: scale * logits.double() - shift.to(logits.device)
