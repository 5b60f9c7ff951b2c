"""The reliability diagram of a multi-class classifier, as a matplotlib
display in scikit-learn's ``*Display`` convention."""

from __future__ import annotations

from typing import Any

from skremix.metrics._calibration import (
    _labels_and_proba,
    calibration_bins,
    expected_calibration_error,
)

__all__ = ["ReliabilityDisplay"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is a test dep
        raise ImportError(
            "ReliabilityDisplay.plot requires matplotlib: pip install matplotlib."
        ) from exc
    return plt


class ReliabilityDisplay:
    """Top-label reliability diagram: accuracy against confidence, per bin.

    Where :class:`sklearn.calibration.CalibrationDisplay` draws one binary
    column, this draws the confidence of the predicted class of a
    multi-class classifier (``max_k p_ik``) against how often that class is
    the true one, the bins of :func:`expected_calibration_error`; points
    under the diagonal are over-confident. Build it with
    :meth:`from_estimator` or :meth:`from_predictions`.

    Parameters
    ----------
    mean_confidence : ndarray of shape (n_nonempty_bins,)
        Mean top-label confidence of each non-empty bin.
    accuracy : ndarray of shape (n_nonempty_bins,)
        Fraction of its predictions that are right.
    counts : ndarray of shape (n_nonempty_bins,)
        Number of samples in each bin.
    ece : float, default=None
        The top-label ECE of these bins, shown in the legend.
    estimator_name : str, default=None
        Name in the legend.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The reliability curve.
    ax_ : matplotlib Axes
        Axes of the diagram.
    figure_ : matplotlib Figure
        Figure of the diagram.

    See Also
    --------
    expected_calibration_error : The weighted gap of these bins.
    sklearn.calibration.CalibrationDisplay : The binary diagram.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skremix.metrics import ReliabilityDisplay
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=500).fit(X, y)
    >>> disp = ReliabilityDisplay.from_estimator(clf, X, y, n_bins=10)
    >>> bool(disp.counts.sum() == len(y))
    True
    """

    def __init__(
        self,
        *,
        mean_confidence: Any,
        accuracy: Any,
        counts: Any,
        ece: float | None = None,
        estimator_name: str | None = None,
    ):
        self.mean_confidence = mean_confidence
        self.accuracy = accuracy
        self.counts = counts
        self.ece = ece
        self.estimator_name = estimator_name

    def plot(self, *, ax=None, name=None, ref_line=True, **kwargs):
        """Draw the diagram.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        name : str, default=None
            Legend name; ``estimator_name`` when None.
        ref_line : bool, default=True
            Draw the diagonal of perfect calibration.
        **kwargs : dict
            Passed to ``ax.plot`` for the curve.

        Returns
        -------
        display : ReliabilityDisplay
            ``self``, with ``line_``, ``ax_`` and ``figure_``.
        """
        if ax is None:
            _, ax = _pyplot().subplots()
        name = self.estimator_name if name is None else name
        label = name
        if self.ece is not None:
            ece = f"ECE {100 * self.ece:.1f}%"
            label = ece if label is None else f"{label} ({ece})"
        style = {"marker": "s", "linestyle": "-", **kwargs}
        if label is not None:
            style.setdefault("label", label)
        if ref_line:
            ax.plot([0, 1], [0, 1], "k:", label="perfectly calibrated")
        (self.line_,) = ax.plot(self.mean_confidence, self.accuracy, **style)
        ax.set(
            xlabel="confidence (top-label probability)",
            ylabel="accuracy",
            xlim=(0, 1),
            ylim=(0, 1.02),
        )
        if label is not None or ref_line:
            ax.legend(loc="upper left")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_predictions(
        cls,
        y_true,
        y_proba,
        *,
        labels=None,
        n_bins=15,
        strategy="uniform",
        name=None,
        ref_line=True,
        ax=None,
        **kwargs,
    ):
        """Diagram of given labels and probabilities.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
            True labels.
        y_proba : array-like of shape (n_samples, n_classes)
            Predicted probabilities, columns in sorted ``labels`` order.
        labels : array-like of shape (n_classes,), default=None
            The classes of the columns; ``np.unique(y_true)`` when None.
        n_bins : int, default=15
            Number of bins.
        strategy : {'uniform', 'quantile'}, default='uniform'
            Equal-width or equal-mass bins.
        name : str, default=None
            Legend name.
        ref_line : bool, default=True
            Draw the diagonal.
        ax : matplotlib Axes, default=None
            Axes to draw on.
        **kwargs : dict
            Passed to ``ax.plot``.

        Returns
        -------
        display : ReliabilityDisplay
        """
        ece = expected_calibration_error(
            y_true, y_proba, labels=labels, n_bins=n_bins, strategy=strategy
        )
        y_true, y_proba, labels = _labels_and_proba(y_true, y_proba, labels)
        confidence = y_proba.max(axis=1)
        hits = labels[y_proba.argmax(axis=1)] == y_true
        mean_confidence, accuracy, counts = calibration_bins(
            confidence, hits, n_bins=n_bins, strategy=strategy
        )
        display = cls(
            mean_confidence=mean_confidence,
            accuracy=accuracy,
            counts=counts,
            ece=ece,
            estimator_name=name,
        )
        return display.plot(ax=ax, ref_line=ref_line, **kwargs)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        n_bins=15,
        strategy="uniform",
        name=None,
        ref_line=True,
        ax=None,
        **kwargs,
    ):
        """Diagram of a fitted classifier on ``X, y``.

        Parameters
        ----------
        estimator : fitted classifier
            With ``predict_proba`` and ``classes_``.
        X : array-like
            Evaluation samples.
        y : array-like of shape (n_samples,)
            Their labels.
        n_bins : int, default=15
            Number of bins.
        strategy : {'uniform', 'quantile'}, default='uniform'
            Equal-width or equal-mass bins.
        name : str, default=None
            Legend name; the estimator's class name when None.
        ref_line : bool, default=True
            Draw the diagonal.
        ax : matplotlib Axes, default=None
            Axes to draw on.
        **kwargs : dict
            Passed to ``ax.plot``.

        Returns
        -------
        display : ReliabilityDisplay
        """
        from skremix.metrics._scorers import _aligned_proba

        y_arr, proba, labels = _aligned_proba(estimator, X, y)
        name = type(estimator).__name__ if name is None else name
        return cls.from_predictions(
            y_arr,
            proba,
            labels=labels,
            n_bins=n_bins,
            strategy=strategy,
            name=name,
            ref_line=ref_line,
            ax=ax,
            **kwargs,
        )
