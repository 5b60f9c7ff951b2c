"""Temperature scaling of a fitted classifier, for a balanced objective and a
deployment prior."""

from __future__ import annotations

from numbers import Real

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, column_or_1d

__all__ = ["TemperatureScaling"]

#: log of the smallest positive float64: where log(0) is clipped.
_LOG_TINY = float(np.log(np.finfo(np.float64).tiny))


def _final_step(estimator):
    return estimator[-1] if hasattr(estimator, "steps") else estimator


def _nll(log_p, codes, temperature, weights):
    """Weighted mean of -log softmax(log_p / T)[y]."""
    scaled = log_softmax(log_p / temperature, axis=1)
    return float(-np.sum(weights * scaled[np.arange(len(codes)), codes]))


class TemperatureScaling(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Temperature scaling of a fitted classifier, fitted on held-out data.

    Guo et al. (2017): the logits ``z`` of a fitted classifier divided by one
    temperature ``T``, chosen to minimise the negative log-likelihood of
    held-out labels; ``T > 1`` softens over-confident probabilities and no
    prediction's ranking changes. The logits are the logarithms of the
    estimator's ``predict_proba`` (equal to its logits up to a constant per
    row, which the softmax ignores), so any classifier with
    ``predict_proba`` can be scaled, a skremix one after its ``tau_norm``
    head, its LDAM scale and its ``posthoc_tau`` adjustment. Two long-tail
    additions:

    - ``objective='balanced'``: each class's held-out samples weigh the same
      in the log-likelihood (the mean over classes of the per-class mean),
      so that the temperature fits the rare classes as much as the frequent
      ones, as for a class-balanced test set;
    - ``test_prior``: prediction for a deployment prior ``q`` that is not
      the training prior ``pi``, by the logit-adjustment identity
      ``p_q(y | x) ∝ p(y | x) q(y) / pi(y)`` (Menon et al. 2021): the
      logits become ``z / T + log q - log pi``. ``test_prior='uniform'`` with
      ``temperature=1`` gives the probabilities of ``posthoc_tau=1``.

    The order is that of the list: the estimator's own prediction (head,
    scale, ``posthoc_tau``), then the temperature, then the prior shift.
    ``fit`` and the predictions never change the wrapped estimator.

    Parameters
    ----------
    estimator : fitted classifier
        With ``predict_proba`` and ``classes_`` (a pipeline too); it is not
        refitted.
    temperature : 'fit' or float, default='fit'
        'fit': chosen by ``fit`` on its data (bounded to ``bounds``); a
        float: that temperature, ``fit`` only checks the data.
    objective : {'nll', 'balanced'}, default='nll'
        What 'fit' minimises: the mean held-out negative log-likelihood, or
        its class-balanced mean.
    test_prior : None, 'uniform' or array-like of shape (n_classes,), default=None
        The deployment prior, in ``classes_`` order (normalised to sum to
        one); None keeps the training prior.
    train_prior : None or array-like of shape (n_classes,), default=None
        The training prior that ``test_prior`` replaces; None takes it from
        the estimator's ``class_counts_`` (a skremix classifier's, a
        pipeline's last step's).
    bounds : tuple of two floats, default=(0.05, 20.0)
        The range searched for the temperature.

    Attributes
    ----------
    temperature_ : float
        The temperature used.
    classes_ : ndarray of shape (n_classes,)
        The estimator's classes.
    log_prior_shift_ : ndarray of shape (n_classes,) or None
        ``log q - log pi`` added to the scaled logits, or None.
    n_features_in_ : int
        From the estimator, when it has it.

    See Also
    --------
    sklearn.calibration.CalibratedClassifierCV : Sigmoid, isotonic and (from
        scikit-learn 1.8) temperature calibration with cross-validation.
    skremix.metrics.expected_calibration_error : A calibration score.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skremix.calibration import TemperatureScaling
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(C=100, max_iter=2000).fit(X[::2], y[::2])
    >>> ts = TemperatureScaling(clf).fit(X[1::2], y[1::2])
    >>> ts.predict_proba(X[:2]).shape
    (2, 3)
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["predict_proba"])],
        "temperature": [StrOptions({"fit"}), Interval(Real, 0, None, closed="neither")],
        "objective": [StrOptions({"nll", "balanced"})],
        "test_prior": [None, StrOptions({"uniform"}), "array-like"],
        "train_prior": [None, "array-like"],
        "bounds": [tuple],
    }

    def __init__(
        self,
        estimator,
        *,
        temperature="fit",
        objective="nll",
        test_prior=None,
        train_prior=None,
        bounds=(0.05, 20.0),
    ):
        self.estimator = estimator
        self.temperature = temperature
        self.objective = objective
        self.test_prior = test_prior
        self.train_prior = train_prior
        self.bounds = bounds

    def _log_proba(self, X):
        proba = np.asarray(self.estimator.predict_proba(X), dtype=np.float64)
        with np.errstate(divide="ignore"):
            return np.maximum(np.log(proba), _LOG_TINY)

    def _prior(self, value, n_classes, name):
        prior = np.asarray(value, dtype=np.float64).ravel()
        if prior.shape != (n_classes,):
            raise ValueError(
                f"{name} has {prior.size} entries but the estimator has "
                f"{n_classes} classes."
            )
        if not np.all(np.isfinite(prior)) or np.any(prior <= 0):
            raise ValueError(f"{name} must be positive and finite; got {prior!r}.")
        return prior / prior.sum()

    def _check_priors(self, n_classes):
        if self.test_prior is None:
            return None
        final = _final_step(self.estimator)
        if getattr(final, "posthoc_tau", None) is not None:
            raise ValueError(
                "test_prior with an estimator whose posthoc_tau is set would "
                "shift the prior twice; set one of them (test_prior='uniform' "
                "with temperature=1 is posthoc_tau=1)."
            )
        if isinstance(self.test_prior, str):
            q = np.full(n_classes, 1.0 / n_classes)
        else:
            q = self._prior(self.test_prior, n_classes, "test_prior")
        if self.train_prior is not None:
            pi = self._prior(self.train_prior, n_classes, "train_prior")
        else:
            counts = getattr(final, "class_counts_", None)
            if counts is None:
                raise ValueError(
                    f"test_prior needs the training prior: {type(final).__name__} "
                    "has no class_counts_; pass train_prior."
                )
            pi = self._prior(counts, n_classes, "class_counts_")
        return np.log(q) - np.log(pi)

    def fit(self, X, y):
        """Choose the temperature on held-out data.

        Parameters
        ----------
        X : array-like
            Held-out samples, in the estimator's input layout.
        y : array-like of shape (n_samples,)
            Their labels, among the estimator's ``classes_``.

        Returns
        -------
        self : TemperatureScaling
            Fitted: ``temperature_``, ``classes_``, ``log_prior_shift_``.
        """
        self._validate_params()
        lo, hi = self.bounds
        if not (isinstance(lo, Real) and isinstance(hi, Real) and 0 < lo < hi):
            raise ValueError(
                f"bounds must be two floats 0 < low < high; got {self.bounds}."
            )
        check_is_fitted(self.estimator)
        classes = np.asarray(self.estimator.classes_)
        shift = self._check_priors(len(classes))
        y = column_or_1d(y)
        unknown = np.setdiff1d(np.unique(y), classes)
        if len(unknown):
            raise ValueError(
                f"y has labels {unknown!r} that the estimator does not know "
                f"(classes_ {classes!r})."
            )
        codes = np.searchsorted(classes, y)
        if self.temperature == "fit":
            log_p = self._log_proba(X)
            if len(log_p) != len(codes):
                raise ValueError(
                    f"X and y have inconsistent numbers of samples: "
                    f"[{len(log_p)}, {len(codes)}]."
                )
            if self.objective == "balanced":
                counts = np.bincount(codes, minlength=len(classes)).astype(np.float64)
                present = counts > 0
                weights = 1.0 / (counts[codes] * present.sum())
            else:
                weights = np.full(len(codes), 1.0 / len(codes))
            result = minimize_scalar(
                lambda log_t: _nll(log_p, codes, np.exp(log_t), weights),
                bounds=(np.log(lo), np.log(hi)),
                method="bounded",
                options={"xatol": 1e-6},
            )
            self.temperature_ = float(np.exp(result.x))
        else:
            self.temperature_ = float(self.temperature)
        self.classes_ = classes
        self.log_prior_shift_ = shift
        if hasattr(self.estimator, "n_features_in_"):
            self.n_features_in_ = self.estimator.n_features_in_
        return self

    def predict_proba(self, X):
        """Return the probabilities of the scaled (and prior-shifted) logits.

        Parameters
        ----------
        X : array-like
            Samples, in the estimator's input layout.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to one, columns in ``classes_`` order.
        """
        check_is_fitted(self, "temperature_")
        z = self._log_proba(X) / self.temperature_
        if self.log_prior_shift_ is not None:
            z = z + self.log_prior_shift_
        return np.exp(log_softmax(z, axis=1))

    def predict(self, X):
        """The class of highest scaled probability.

        Parameters
        ----------
        X : array-like
            Samples, in the estimator's input layout.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``; without ``test_prior`` those of the
            estimator (a temperature changes no ranking).
        """
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
