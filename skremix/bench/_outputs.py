"""summary.json, results.png, reliability.png and probabilities.npz: the
run's configuration, data, method pipelines, versions and device beside the
summary; the test probabilities of every run."""

from __future__ import annotations

import os
import sys

import numpy as np

from skremix.bench._environment import device_info, versions
from skremix.bench._files import write_json
from skremix.bench._fitting import _make, _one_line
from skremix.bench._methods import method_info
from skremix.bench._plan import _ratio_text, _unit
from skremix.bench._plot import plot, plot_reliability, reliability_methods

#: The arguments that summary.json's config records as given.
_CONFIG_KEYS = (
    "dataset",
    "data",
    "label_column",
    "imbalance",
    "ratio",
    "eval",
    "folds",
    "epochs",
    "batch_size",
    "lr",
    "lr_schedule",
    "device",
    "threads",
    "n_jobs",
    "quick",
)


def _config(args, plan):
    """The run's settings for summary.json: the arguments as given, plus what
    was resolved from them."""
    config = {key: getattr(args, key) for key in _CONFIG_KEYS}
    config.update(
        {
            "dataset": None if args.data else plan.data.name,
            "device_resolved": plan.device,
            "seeds": plan.seeds,
            "test_per_class": plan.test_per_class,
            "optimizer": "AdamW",
            "methods": plan.methods,
        }
    )
    return config


def _data_info(plan):
    """The data entry of summary.json: shape, classes, counts, splits."""
    data = plan.data
    train_counts, test_counts = plan.first_split_counts()
    return {
        "name": data.name,
        "kind": data.kind,
        "input_shape": list(data.input_shape),
        "n_samples": int(len(data.y)),
        "classes": data.classes.tolist(),
        "train_counts_first_split": train_counts,
        "test_counts_first_split": test_counts,
        "n_splits": len(plan.splits),
    }


def _plot_title(args, data_name, rows):
    """Title of results.png: data, imbalance, epochs and the splits done."""
    n_done = len({(r["seed"], r["fold"]) for r in rows})
    return (
        f"{data_name}, {args.imbalance}{_ratio_text(args)}, {args.epochs} epochs, "
        f"{args.eval} ({n_done} {_unit(args.eval)[:-1]}"
        + ("s)" if n_done != 1 else ")")
    )


def _test_labels(plan, row):
    """The test labels (class indices) of a run's split."""
    split = next(
        s for s in plan.splits if (s.seed, s.fold) == (row["seed"], row["fold"])
    )
    return plan.data.y[split.test]


def _write_probabilities(path, plan, rows):
    """probabilities.npz: per results.csv row ``i`` that finished, its test
    labels ``y_true_<i>`` (class indices) and probabilities ``proba_<i>``
    (float32, one column per class of ``classes``), beside ``method``,
    ``seed`` and ``fold`` (-1 for holdout) per row."""
    arrays = {
        "classes": np.asarray(plan.data.classes).astype(str),
        "method": np.array([r["method"] for r in rows], dtype=str),
        "seed": np.array([r["seed"] for r in rows], dtype=np.int64),
        "fold": np.array(
            [-1 if r["fold"] is None else r["fold"] for r in rows], dtype=np.int64
        ),
    }
    for i, row in enumerate(rows):
        if row.get("proba") is not None:
            arrays[f"y_true_{i}"] = np.asarray(_test_labels(plan, row), dtype=np.int64)
            arrays[f"proba_{i}"] = row["proba"]
    np.savez_compressed(path, **arrays)


def _reliability_curves(plan, rows):
    """``{method: (y_true, proba)}`` of the methods of reliability.png, their
    runs pooled."""
    curves = {}
    done = [r for r in rows if r.get("proba") is not None]
    for name in reliability_methods(
        [m for m in plan.methods if any(r["method"] == m for r in done)]
    ):
        mine = [r for r in done if r["method"] == name]
        curves[name] = (
            np.concatenate([_test_labels(plan, r) for r in mine]),
            np.concatenate([r["proba"] for r in mine]).astype(np.float64),
        )
    return curves


def _write_outputs(args, out_dir, plan, rows, report, wall, complete, parallel=None):
    """Write summary.json, probabilities.npz and, unless --no-plot,
    results.png and reliability.png to ``out_dir`` (results.csv is written as
    the runs finish). Returns the file names written, results.csv included."""
    payload = {
        **report,
        "config": _config(args, plan),
        "data": _data_info(plan),
        "methods": {
            name: {
                **method_info(name),
                "pipeline": _describe(name, plan.data, args, plan.device),
            }
            for name in plan.methods
        },
        "versions": versions(),
        "device": {**device_info(plan.device), **(parallel or {})},
        "wall_time_s": wall,
        "complete": complete,
    }
    write_json(os.path.join(out_dir, "summary.json"), payload)
    _write_probabilities(os.path.join(out_dir, "probabilities.npz"), plan, rows)
    written = ["results.csv", "summary.json", "probabilities.npz"]
    if not args.no_plot:
        title = _plot_title(args, plan.data.name, rows)
        if plot(os.path.join(out_dir, "results.png"), report["summary"], title):
            written.append("results.png")
            if plot_reliability(
                os.path.join(out_dir, "reliability.png"),
                _reliability_curves(plan, rows),
                "reliability (top label, test predictions of every "
                f"{_unit(args.eval)[:-1]} pooled)\n{title}",
            ):
                written.append("reliability.png")
        else:
            print(
                "note: matplotlib is not installed: results.png skipped "
                "(pip install 'skremix[bench]')"
            )
    return written


def _public_name(cls):
    """The shortest importable path of a class: ``skremix.ERMClassifier``
    rather than its defining module ``skremix._erm.ERMClassifier``."""
    parts = cls.__module__.split(".")
    for i in range(1, len(parts) + 1):
        module = sys.modules.get(".".join(parts[:i]))
        if getattr(module, cls.__qualname__, None) is cls:
            return f"{module.__name__}.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _jsonable(value):
    """A JSON-friendly, address-free form of a parameter value."""
    if isinstance(value, type):
        return _public_name(value)
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return type(value).__name__


def _describe(name, data, args, device):
    """Each pipeline step of a method: its class and parameters."""
    try:
        pipe = _make(data, args, device, name)
    except Exception as exc:  # pragma: no cover - reported in the runs already
        return _one_line(exc)
    steps = []
    for step_name, step in pipe.steps:
        params = {
            k: _jsonable(v)
            for k, v in step.get_params(deep=False).items()
            if not k.startswith("_")
        }
        steps.append(
            {"step": step_name, "class": _jsonable(type(step)), "params": params}
        )
    return steps
