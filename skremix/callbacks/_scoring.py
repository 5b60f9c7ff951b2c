"""Validation scoring from the predictions the validation steps already made."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score
from skorch.callbacks import Callback

__all__ = ["ValidBalancedAccuracy"]


class ValidBalancedAccuracy(Callback):
    """Record the balanced accuracy of the validation split each epoch.

    Reads the logits each validation step returns (no second inference pass)
    and the integer-encoded targets of the batch; records ``name`` in the
    history, plus ``'<name>_best'``. Does nothing when the net has no
    validation split (``train_split=None``).

    Parameters
    ----------
    name : str, default='valid_bacc'
        History key.

    Examples
    --------
    >>> from skremix.callbacks import ValidBalancedAccuracy
    >>> ValidBalancedAccuracy().name
    'valid_bacc'
    """

    def __init__(self, name="valid_bacc"):
        self.name = name

    def on_epoch_begin(self, net, **kwargs):
        """Start collecting the epoch's validation predictions."""
        self.y_true_, self.y_pred_ = [], []

    def on_batch_end(self, net, batch=None, training=False, y_pred=None, **kwargs):
        """Keep the predicted and true classes of a validation batch.

        Parameters
        ----------
        net : skorch.NeuralNet
            The net being trained.
        batch : tuple, default=None
            The batch, ``(X, y)`` with integer-encoded ``y``.
        training : bool, default=False
            Whether it is a training batch; those are skipped.
        y_pred : torch.Tensor or tuple, default=None
            What the validation step returned: the logits, or a tuple whose
            first element they are.
        **kwargs
            Other arguments of the hook, ignored.
        """
        if training or y_pred is None or batch is None:
            return
        if isinstance(y_pred, tuple):
            y_pred = y_pred[0]
        self.y_pred_.append(torch.argmax(y_pred, dim=1).cpu().numpy())
        self.y_true_.append(torch.as_tensor(batch[1]).cpu().numpy())

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        """Record the epoch's balanced accuracy and whether it is the best."""
        if dataset_valid is None or not self.y_pred_:
            return
        score = balanced_accuracy_score(
            np.concatenate(self.y_true_), np.concatenate(self.y_pred_)
        )
        previous = [row[self.name] for row in net.history[:-1] if self.name in row]
        net.history.record(self.name, score)
        net.history.record(self.name + "_best", not previous or score > max(previous))
