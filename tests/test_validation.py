"""Input validation (skremix._validation) and the docstring helper, called
directly on an estimator."""

import numpy as np
import pytest

from skremix import ERMClassifier, ReMixClassifier
from skremix._docstrings import _SHARED_PARAMS_DOC, fill_doc
from skremix._validation import check_params, validate_fit_data, validate_X


def test_validate_x_shapes_dtypes_and_the_fitted_shape():
    est = ERMClassifier()
    images = np.full((4, 5, 6), 255, dtype=np.uint8)
    X, _ = validate_X(est, images, reset=True, y=[0, 1, 0, 1])
    # (n, h, w) gets a channel axis; uint8 images stay uint8 (a view, no copy):
    # batches are scaled to [0, 1] on their way to the network.
    assert X.shape == (4, 1, 5, 6) and X.dtype == np.uint8 and X.max() == 255
    assert np.shares_memory(X, images)
    floats, _ = validate_X(ERMClassifier(), images.astype(int), reset=True, y=[0] * 4)
    assert floats.dtype == np.float32 and floats.max() == 255.0  # not images
    # (n, h, w) are (n, 1, h, w) to sklearn too: n_features_in_ is the channels.
    assert est.input_shape_ == (1, 5, 6) and est.n_features_in_ == 1
    with pytest.raises(ValueError, match=r"samples of shape \(1, 6, 5\).*\(1, 5, 6\)"):
        validate_X(est, np.zeros((2, 6, 5)), reset=False)
    rows = ERMClassifier()
    validate_X(rows, np.zeros((3, 4)), reset=True, y=[0, 1, 0])
    with pytest.raises(
        ValueError, match="X has 5 features, but ERMClassifier is expecting 4"
    ):
        validate_X(rows, np.zeros((3, 5)), reset=False)
    with pytest.raises(ValueError, match="got array with 5 dims"):
        validate_X(ERMClassifier(), np.zeros((2, 1, 1, 1, 1)), reset=True, y=[0, 1])


def test_validate_x_uses_read_only_input_as_is_and_copies_only_views():
    X = np.arange(12, dtype=np.float32).reshape(3, 4)
    X.flags.writeable = False
    out, _ = validate_X(ERMClassifier(), X, reset=True, y=[0, 1, 0])
    assert np.shares_memory(out, X)  # nothing writes to X: no copy
    view, _ = validate_X(ERMClassifier(), X[:, ::2], reset=True, y=[0, 1, 0])
    assert view.flags.c_contiguous and not np.shares_memory(view, X)
    np.testing.assert_array_equal(view, X[:, ::2])


def test_validate_fit_data_encodes_labels_and_checks_them():
    est = ERMClassifier()
    X, y = validate_fit_data(est, np.zeros((4, 2)), ["b", "a", "b", "c"], reset=True)
    assert y.tolist() == [1, 0, 1, 2] and est.classes_.tolist() == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"labels \['d'\] not seen"):
        validate_fit_data(est, np.zeros((1, 2)), ["d"], reset=False)
    with pytest.raises(ValueError, match="only one class"):
        validate_fit_data(ERMClassifier(), np.zeros((3, 2)), [1, 1, 1], reset=True)
    with pytest.raises(ValueError, match="Multilabel"):
        validate_fit_data(ERMClassifier(), np.zeros((2, 2)), np.eye(2), reset=True)
    with pytest.raises(ValueError, match="Unknown label type"):
        validate_fit_data(ERMClassifier(), np.zeros((2, 2)), [0.5, 1.5], reset=True)


def test_check_params_names_the_parameter():
    with pytest.raises(ValueError, match="'lr' parameter of ERMClassifier must be"):
        check_params(ERMClassifier(lr=-1.0))
    with pytest.raises(ValueError, match="device='nope' is not a valid torch device"):
        check_params(ERMClassifier(device="nope"))
    check_params(ERMClassifier())  # the defaults are valid


def test_fill_doc_substitutes_markers_and_keeps_braces():
    @fill_doc(rebalance="'drw'")
    class Documented:
        r"""Title with :math:`\frac{a}{b}` braces.

        Parameters
        ----------
        %(shared_params)s

        Attributes
        ----------
        %(shared_attributes)s
        """

        def train_forward(self, X, y):
            """Step.

            %(train_forward_params)s
            """

    doc = Documented.__doc__
    method_doc = Documented.train_forward.__doc__
    assert method_doc.startswith("Step.") and "%(" not in method_doc
    assert "        y : torch.Tensor of shape (B,)\n" in method_doc
    assert r":math:`\frac{a}{b}`" in doc and "%(" not in doc
    assert "rebalance : {None, 'rw', 'rs', 'drw', 'drs', 'crt'}, default='drw'" in doc
    assert _SHARED_PARAMS_DOC.split("\n", 1)[0] in doc
    assert "class_counts_ : ndarray" in doc
    with pytest.raises(KeyError, match="unknown docstring marker 'oops'"):
        fill_doc()(type("Bad", (), {"__doc__": "%(oops)s"}))

    def method(self):
        """%(oops)s"""

    with pytest.raises(KeyError, match=r"Bad.method: unknown docstring marker"):
        fill_doc()(type("Bad", (), {"method": method}))
    with pytest.raises(KeyError):
        fill_doc(no_such_param="1")


def test_accelerate_mixin_is_refused_before_training():
    from skorch.hf import AccelerateMixin

    from skremix import RemixClassifier

    class Accelerated(AccelerateMixin, RemixClassifier):
        pass

    clf = Accelerated(accelerator=object(), max_epochs=1)
    with pytest.raises(TypeError, match="AccelerateMixin.*would train plain ERM"):
        clf.fit(np.zeros((20, 3)), np.arange(20) % 2)
    assert not clf.initialized_


def test_classes_parameter_in_any_order_encodes_labels_in_that_order():
    # classes_ keeps the user's order; each label is its index there
    # (a search of the unsorted labels refused valid ones as "not seen").
    est = ERMClassifier(classes=["dog", "cat", "emu"])
    _, y = validate_fit_data(est, np.zeros((3, 2)), ["cat", "dog", "cat"], reset=True)
    assert y.tolist() == [1, 0, 1]
    clf = ERMClassifier(classes=[2, 0, 1], max_epochs=1, random_state=0)
    proba = clf.fit(np.eye(3), [0, 1, 2]).predict_proba(np.eye(3))
    assert proba.shape == (3, 3) and set(clf.predict(np.eye(3))) <= {0, 1, 2}
    with pytest.raises(ValueError, match="'classes' parameter contains duplicate"):
        validate_fit_data(
            ERMClassifier(classes=["a", "b", "a"]),
            np.zeros((2, 2)),
            ["a", "b"],
            reset=True,
        )


def test_labels_of_another_type_than_classes_are_not_seen():
    # str labels (object array) against int classes: numpy's search raised
    # "'<' not supported between instances of 'int' and 'str'" before.
    y = np.array(["a", "b"], dtype=object)
    with pytest.raises(ValueError, match=r"labels \['a', 'b'\] not seen in classes_"):
        validate_fit_data(
            ERMClassifier(classes=[0, 1]), np.zeros((2, 2)), y, reset=True
        )


def test_skorch_parameters_it_calls_must_be_callables():
    # "'str' object is not callable" from deep inside fit before.
    for name, value in [
        ("optimizer", "adam"),
        ("criterion", "ce"),
        ("module", "mlp"),
        ("train_split", 0.2),
        ("iterator_train", None),
        ("callbacks", "progress"),
    ]:
        with pytest.raises(ValueError, match=f"'{name}' parameter of ERMClassifier"):
            check_params(ERMClassifier(**{name: value}))
    check_params(ERMClassifier(callbacks="disable", train_split=None))


def test_device_none_is_refused():
    # skorch's "leave it where it is" failed in the batch loop (torch.device(None)).
    with pytest.raises(ValueError, match="device=None is not supported"):
        check_params(ERMClassifier(device=None))


def test_tensors_without_a_numpy_dtype_and_sparse_tensors():
    import torch

    X = torch.arange(6.0).reshape(3, 2).to(torch.bfloat16)
    out, _ = validate_X(ERMClassifier(), X, reset=True, y=[0, 1, 0])
    assert out.dtype == np.float32 and out.tolist() == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(TypeError, match="Sparse data was passed for X"):
        validate_X(ERMClassifier(), X.float().to_sparse(), reset=True, y=[0, 1, 0])


def test_no_features_in_sklearn_words_for_frames_and_images():
    import pandas as pd

    # An empty DataFrame failed in sklearn with "at least one array or dtype
    # is required"; images with a side of 0 reached the network.
    for X in [pd.DataFrame(np.zeros((3, 0))), np.zeros((3, 2, 0))]:
        with pytest.raises(ValueError, match=r"Found array with 0 feature\(s\)"):
            validate_X(ERMClassifier(), X, reset=True, y=[0, 1, 0])
    with pytest.raises(ValueError, match=r"Found array with 0 sample\(s\)"):
        validate_X(ERMClassifier(), pd.DataFrame(), reset=True, y=[])


def test_a_side_of_zero_in_nested_lists_is_refused():
    X = np.zeros((2, 2, 0)).tolist()  # images with no columns, as lists
    with pytest.raises(ValueError, match=r"Found array with 0 feature\(s\)"):
        ERMClassifier(max_epochs=1).fit(X, [0, 1])


def test_checks_of_the_built_module_before_training():
    import torch

    from skremix import MFWClassifier, RemixClassifier

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)).astype(np.float32), np.arange(40) % 2
    # A module with the wrong number of outputs.
    clf = ERMClassifier(module=torch.nn.Linear(3, 5), max_epochs=1)
    with pytest.raises(ValueError, match=r"one logit per class, \(B, 2\); it gave"):
        clf.fit(X, y)
    assert len(clf.history) == 0
    # An unknown layer, also among Manifold Mixup's candidates never drawn.
    with pytest.raises(ValueError, match="mix_layer='nope' is not a submodule"):
        MFWClassifier(max_epochs=1, mix_layer="nope").fit(X, y)
    remix = RemixClassifier(mix="manifold", mix_layer=["blocks.0", "nope"])
    with pytest.raises(ValueError, match="mix_layer='nope'"):
        remix.fit(X, y)
    # One-sample batches where BatchNorm cannot train on them (1x1 maps).
    tiny = ERMClassifier(max_epochs=1, batch_size=1)
    with pytest.raises(ValueError, match="batches of one sample.*batch_size >= 2"):
        tiny.fit(rng.normal(size=(4, 1, 1)), [0, 1, 0, 1])
    assert len(tiny.history) == 0  # before the first epoch
    ERMClassifier(max_epochs=1, batch_size=1).fit(X[:6], y[:6])  # rows: fine


def test_a_warm_started_refit_is_checked_against_the_fitted_data():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)).astype(np.float32), np.arange(40) % 2
    clf = ERMClassifier(warm_start=True, max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but ERMClassifier"):
        clf.fit(X[:, :2], y)
    with pytest.raises(ValueError, match=r"labels \[2\] not seen"):
        clf.fit(X, np.arange(40) % 3)
    clf.fit(X, y)  # the same data continues training
    assert len(clf.history) == 2


@pytest.mark.parametrize(
    "cls, params",
    [
        (ERMClassifier, {}),  # rebalance=None
        (ERMClassifier, {"rebalance": "crt", "max_epochs": 2}),  # cRT: 1 / N_c
        (ReMixClassifier, {}),  # its own class-balanced batches
    ],
)
def test_a_rebalance_beta_no_option_reads_is_refused(cls, params):
    """rebalance_beta sets the effective-number weights, read by 'rw',
    'rs', 'drw' and 'drs' only: elsewhere a non-default value would be
    silently ignored, so it is refused before training, naming both."""
    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    y = np.array([0] * 30 + [1] * 10)
    clf = cls(**{"max_epochs": 1, "rebalance_beta": 0.9, **params})
    with pytest.raises(ValueError, match=r"rebalance_beta=0\.9 .* never uses"):
        clf.fit(X, y)
    assert not clf.history_  # refused before any epoch
    # With an option that reads it, the same value trains, and its weights
    # are the effective-number ones of beta 0.9: (1 - b) / (1 - b**N_c),
    # normalised to sum to the number of classes.
    fitted = cls(max_epochs=1, rebalance_beta=0.9, rebalance="rw").fit(X, y)
    raw = np.array([(1 - 0.9) / (1 - 0.9**30), (1 - 0.9) / (1 - 0.9**10)])
    np.testing.assert_allclose(fitted.class_weights_, 2 * raw / raw.sum(), rtol=1e-6)
