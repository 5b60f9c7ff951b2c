"""Checkpoints of a running fit that a new process resumes exactly."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from pathlib import Path

import torch
from skorch.callbacks import Callback

from skremix._data_parallel import current as _current_data_parallel
from skremix._schedule import call_epoch

__all__ = ["TrainingCheckpoint"]

_LATEST = "latest"


def _torch_parts(net):
    """Every module, criterion and optimizer the net holds (``module_``,
    ``criterion_``, ``optimizer_``, RSG's ``rsg_``, ...), by attribute name."""
    return {
        name: value
        for name, value in vars(net).items()
        if name.endswith("_")
        and isinstance(value, (torch.nn.Module, torch.optim.Optimizer))
    }


def _callback_states(net, skip):
    """The fitted attributes (``best_score_``, ...) of the net's callbacks:
    e.g. skorch's scoring callbacks compare each epoch with their best."""
    states = {}
    for name, callback in net.callbacks_:
        if callback is skip:
            continue
        fitted = {}
        for key, value in vars(callback).items():
            if key.endswith("_") and not key.startswith("_"):
                try:
                    pickle.dumps(value)
                except Exception:  # noqa: BLE001 - an unpicklable attribute stays
                    continue
                fitted[key] = value
        states[name] = fitted
    return states


def _random_states(net):
    """The random streams a resumed fit continues: torch's (CPU and CUDA)
    and the estimator's numpy generator."""
    return {
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": (
            torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        ),
        "numpy_rng": getattr(net, "rng_", None) and net.rng_.bit_generator.state,
    }


class TrainingCheckpoint(Callback):
    """Save the whole state of a fit every ``every`` epochs; resume from it.

    The checkpoint holds what the rest of the fit depends on: the weights of
    every module (the network, RSG's generator), the optimizer's state
    (momenta, current learning rates), the history, the fitted state of the
    other callbacks (e.g. the best score of skorch's scoring callbacks), the
    epoch within the
    ``fit`` call (so the learning-rate schedule, deferred re-balancing and
    RSG's generation start continue where they were) and the random states
    of torch (CPU and CUDA) and of the estimator's numpy generator. A later
    ``fit`` with the same data and parameters and this callback pointing at
    the same folder loads it at the start of training and trains only the
    remaining epochs: with the same ``random_state`` the result equals an
    uninterrupted fit (bit for bit on the CPU).

    Writes are atomic: each checkpoint is written to a temporary folder,
    moved into place, and only then named by the ``latest`` file (itself
    replaced atomically); a crash while saving leaves the previous checkpoint
    in use. Older checkpoints are deleted after the new one is in place.

    Parameters
    ----------
    dirname : str or path-like
        Folder of the checkpoints (created if missing).
    every : int, default=1
        Save after every ``every``-th epoch of the call, and after its last.
    resume : bool, default=True
        Load the latest checkpoint at the start of training, if there is one.
        A checkpoint of a finished fit is not loaded (the fit starts anew).

    Attributes
    ----------
    resumed_from_ : int or None
        The epoch (within the call) the last fit resumed after, or None.

    See Also
    --------
    skorch.callbacks.Checkpoint : Skorch's checkpoint of the best epoch, for
        model selection rather than resumption.

    Notes
    -----
    With ``data_parallel`` training, rank 0 writes the checkpoints, with
    every rank's random streams, and the other ranks wait until each is in
    place; every rank loads the latest at the start (so ``dirname`` must be
    a folder every rank reaches: one machine, or a shared file system). A
    checkpoint resumes only on the same number of ranks (ValueError
    otherwise): the global batches and the streams depend on it.

    Bit-identical results need the same number of torch threads in the
    resuming process as in the interrupted one (``torch.set_num_threads``):
    reductions are split by thread, and their float sums differ in the last
    bits otherwise.

    On CUDA, the resumed fit restores the same random states, but
    non-deterministic kernels (cuDNN's default algorithms, atomics in
    scatter operations) can make the two fits differ in the last bits;
    ``torch.use_deterministic_algorithms(True)`` removes that. The data must
    be the same: the class counts and input statistics are computed again
    from it. A checkpoint is a pickle: load only checkpoints you wrote.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.datasets import make_classification
    >>> from skremix import RemixClassifier
    >>> from skremix.callbacks import TrainingCheckpoint
    >>> X, y = make_classification(n_samples=100, weights=[0.8], random_state=0)
    >>> folder = tempfile.mkdtemp()
    >>> clf = RemixClassifier(max_epochs=3, random_state=0,
    ...                       callbacks=[TrainingCheckpoint(folder)]).fit(X, y)
    >>> sorted(p.name for p in __import__("pathlib").Path(folder).iterdir())
    ['epoch-3', 'latest']
    """

    def __init__(self, dirname, every=1, resume=True):
        self.dirname = dirname
        self.every = every
        self.resume = resume

    # ------------------------------------------------------------------ save
    def on_epoch_end(self, net, **kwargs):
        """Save a checkpoint after every ``every``-th epoch and the last."""
        done = call_epoch(net) + 1
        if done % self.every == 0 or done == net.max_epochs:
            self.save(net)

    def save(self, net):
        """Write the net's state as the latest checkpoint, atomically.

        Parameters
        ----------
        net : skremix classifier
            The net being trained.
        """
        dp = _current_data_parallel(net)
        rng = _random_states(net)
        if dp is not None:
            # Every rank's own random streams, written by rank 0 alone.
            ranks = dp.gather(rng)
            if not dp.is_main:
                dp.barrier()
                return
        folder = Path(self.dirname)
        folder.mkdir(parents=True, exist_ok=True)
        done = call_epoch(net) + 1
        state = {
            "epoch": done,
            "max_epochs": net.max_epochs,
            "call_start_epoch": getattr(net, "call_start_epoch_", 0),
            "history": list(net.history),
            "parts": {n: p.state_dict() for n, p in _torch_parts(net).items()},
            **rng,
            "world_size": 1 if dp is None else dp.world_size,
            "rank_rng": None if dp is None else ranks,
            "callbacks": _callback_states(net, skip=self),
        }
        tmp = Path(tempfile.mkdtemp(dir=folder, prefix=".tmp-"))
        try:
            with open(tmp / "state.pt", "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            target = folder / f"epoch-{done}"
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        latest = folder / _LATEST
        fd, pointer = tempfile.mkstemp(dir=folder, prefix=".latest-")
        with os.fdopen(fd, "w") as f:
            f.write(target.name)
        os.replace(pointer, latest)
        for old in folder.glob("epoch-*"):
            if old.name != target.name:
                shutil.rmtree(old, ignore_errors=True)
        if dp is not None:
            dp.barrier()  # the other ranks go on once it is in place

    # ---------------------------------------------------------------- resume
    def latest(self):
        """Return the path of the latest complete checkpoint, or None.

        Returns
        -------
        path : pathlib.Path or None
            The ``state.pt`` file the ``latest`` pointer names.
        """
        pointer = Path(self.dirname) / _LATEST
        if not pointer.is_file():
            return None
        path = Path(self.dirname) / pointer.read_text().strip() / "state.pt"
        return path if path.is_file() else None

    def on_train_begin(self, net, **kwargs):
        """Load the latest checkpoint of an unfinished fit."""
        self.resumed_from_ = None
        path = self.latest() if self.resume else None
        if path is None:
            return
        # Not weights_only: the history holds numpy scalars. Load only
        # checkpoints you wrote (unpickling can run code).
        state = torch.load(
            path, map_location=torch.device(net.device), weights_only=False
        )
        if (
            state["epoch"] >= state["max_epochs"]
            or state["max_epochs"] != net.max_epochs
        ):
            return  # a finished fit, or another schedule: start anew
        dp = _current_data_parallel(net)
        world = 1 if dp is None else dp.world_size
        if state.get("world_size", 1) != world:
            raise ValueError(
                f"The checkpoint in {str(self.dirname)!r} was written by a fit on "
                f"{state.get('world_size', 1)} process(es); this fit runs on "
                f"{world}. Resume with the same number of ranks (the batches and "
                "random streams depend on it), or use another dirname."
            )
        parts = _torch_parts(net)
        missing = sorted(set(state["parts"]) ^ set(parts))
        if missing:
            raise ValueError(
                f"The checkpoint in {str(self.dirname)!r} does not match "
                f"{type(net).__name__}: it differs in {missing}. Resume with the "
                "estimator and parameters that wrote it, or use another dirname."
            )
        for name, part in parts.items():
            part.load_state_dict(state["parts"][name])
        for name, callback in net.callbacks_:
            callback.__dict__.update(state["callbacks"].get(name, {}))
        net.history.clear()
        net.history.extend(state["history"])
        net.call_start_epoch_ = state["call_start_epoch"]
        if dp is not None:
            state = {**state, **state["rank_rng"][dp.rank]}
        # map_location moved the saved states to the device: they are read
        # back from host memory.
        torch.set_rng_state(state["torch_rng"].cpu())
        if state["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
        if state["numpy_rng"] is not None and hasattr(net, "rng_"):
            net.rng_.bit_generator.state = state["numpy_rng"]
        self.resumed_from_ = state["epoch"]
