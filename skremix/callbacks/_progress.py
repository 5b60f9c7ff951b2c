"""Per-class training progress: the diagnostic of Ye et al. (2021)."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from skorch.callbacks import Callback
from skorch.dataset import unpack_data

__all__ = ["PerClassTrainingProgress"]


def _to_numpy(values):
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


class PerClassTrainingProgress(Callback):
    r"""Record per-class training accuracy and classification ratio each epoch.

    At the end of an epoch this callback classifies the clean training data
    (unmixed, unweighted, the part actually trained on when the net holds
    out a validation split) with the network in evaluation mode and records,
    in ``net.history``, one list per key with one value per class (aligned
    with ``net.classes_``, i.e. with the encoded labels ``0 .. C - 1``):

    - ``'<prefix>_acc'``: the per-class training accuracy (recall),
      :math:`\frac{1}{N_c} \sum_{n: y_n = c} \mathbb{1}[\hat y_n = c]`;
    - ``'<prefix>_ratio'``: the classification ratio of Ye et al. (Eq. 13),
      :math:`\frac{1}{N_c} \sum_{n} \mathbb{1}[\hat y_n = c]`: how many
      training samples are classified into class ``c`` relative to how many
      it has (above 1: the class attracts others' samples).

    A class without training samples gets ``nan`` in both. Works with any
    skorch classifier (skremix's or a plain
    :class:`skorch.NeuralNetClassifier`) whose training targets are the
    encoded class indices, as skorch's cross-entropy requires.

    Parameters
    ----------
    every : int, default=1
        Record on epochs ``every``, ``2 * every``, ... (epochs counted from
        1, as in the history); other epochs get no entry.
    prefix : str, default='train_class'
        History keys are ``prefix + '_acc'`` and ``prefix + '_ratio'``.

    Notes
    -----
    Cost: one inference pass over the training data per recorded epoch, in
    evaluation mode under ``torch.no_grad``, batched with the net's
    validation iterator (``iterator_valid__batch_size``); no backward pass,
    so roughly a third of a training epoch. Use ``every`` to record less
    often on large data. The training/evaluation mode of every module of the
    net is restored afterwards.

    Training accuracy comes from the network in evaluation mode (BatchNorm
    running statistics, no dropout) on the clean inputs: a method that mixes
    or weakens features in training is judged on what it will predict, as in
    the paper's Figures 1, 3 and 8.

    References
    ----------
    .. [1] H.-J. Ye, D.-C. Zhan, W.-L. Chao, "Procrustean Training for
       Imbalanced Deep Learning", ICCV 2021 (Figure 1 and Eq. 13).

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from skremix import MFWClassifier
    >>> from skremix.callbacks import PerClassTrainingProgress
    >>> X, y = make_classification(n_samples=200, weights=[0.9], random_state=0)
    >>> clf = MFWClassifier(
    ...     max_epochs=4, random_state=0,
    ...     callbacks=[("progress", PerClassTrainingProgress(every=2))],
    ... ).fit(X, y)
    >>> acc = clf.history[:, "train_class_acc"]  # epochs 2 and 4
    >>> len(acc), len(acc[-1])
    (2, 2)
    """

    def __init__(self, every=1, prefix="train_class"):
        self.every = every
        self.prefix = prefix

    def initialize(self):
        """Check ``every``, then (re-)set the callback as skorch does."""
        every = self.every
        if (
            isinstance(every, bool)
            or not isinstance(every, numbers.Integral)
            or every < 1
        ):
            raise ValueError(f"every must be an integer >= 1, got {every!r}.")
        return super().initialize()

    def on_epoch_end(self, net, dataset_train=None, **kwargs):
        """Record the per-class accuracy and ratio, every ``every`` epochs."""
        epoch = len(net.history)
        if dataset_train is None or epoch % self.every:
            return
        y_true, y_pred = self._predict_training_data(net, dataset_train)
        classes = getattr(net, "classes_", None)
        n_classes = len(classes) if classes is not None else int(y_true.max()) + 1
        n_classes = max(n_classes, int(max(y_true.max(), y_pred.max())) + 1)
        counts = np.bincount(y_true, minlength=n_classes).astype(float)
        correct = np.bincount(y_true[y_pred == y_true], minlength=n_classes)
        predicted = np.bincount(y_pred, minlength=n_classes)
        with np.errstate(divide="ignore", invalid="ignore"):
            acc = np.where(counts > 0, correct / counts, np.nan)
            ratio = np.where(counts > 0, predicted / counts, np.nan)
        net.history.record(self.prefix + "_acc", acc.tolist())
        net.history.record(self.prefix + "_ratio", ratio.tolist())

    @staticmethod
    def _predict_training_data(net, dataset):
        """One eval-mode pass: the encoded targets and argmax predictions."""
        modules = [
            getattr(net, name + "_", None) for name in net._modules + net._criteria
        ]
        modes = [(m, m.training) for m in modules if isinstance(m, torch.nn.Module)]
        y_true, y_pred = [], []
        try:
            with torch.no_grad():
                for batch in net.get_iterator(dataset, training=False):
                    _, yi = unpack_data(batch)
                    if yi is None:
                        raise ValueError(
                            "PerClassTrainingProgress needs the training targets: "
                            "the training dataset yields no y."
                        )
                    out = net.evaluation_step(batch, training=False)
                    if isinstance(out, tuple):
                        out = out[0]
                    y_pred.append(torch.argmax(out, dim=1).cpu().numpy())
                    y_true.append(_to_numpy(yi).reshape(-1))
        finally:
            for module, training in modes:
                module.train(training)
        return (
            np.concatenate(y_true).astype(np.int64),
            np.concatenate(y_pred).astype(np.int64),
        )
