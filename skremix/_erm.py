"""ERMClassifier: plain training on the shared base, the reference point."""

from __future__ import annotations

from skremix._docstrings import fill_doc
from skremix._net import BaseImbalancedClassifier

__all__ = ["ERMClassifier"]


@fill_doc()
class ERMClassifier(BaseImbalancedClassifier):
    """Empirical risk minimisation: the same network and loop, no mixing.

    The baseline every method is compared with, sharing everything but the
    method: input handling, default modules, batches, seeding and the
    re-balancing options. ``rebalance='rw'`` is class re-weighting,
    ``rebalance='drs'`` deferred re-sampling, and ``loss='ldam'`` with
    ``rebalance='drw'`` LDAM-DRW.

    Parameters
    ----------
    %(shared_params)s

    Attributes
    ----------
    %(shared_attributes)s

    See Also
    --------
    RemixClassifier : Rebalanced Mixup.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from skremix import ERMClassifier
    >>> X, y = make_classification(n_samples=200, weights=[0.9], random_state=0)
    >>> clf = ERMClassifier(rebalance="drw", max_epochs=5, random_state=0).fit(X, y)
    >>> clf.history[:, "rebalance"]
    [False, False, False, False, True]
    """
