"""Fingerprint a fixed list of tiny fits, to check that a refactoring changes
no result bit for bit.

Usage::

    python benchmarks/check_bit_for_bit.py record OUT.json
    python benchmarks/check_bit_for_bit.py compare A.json B.json

``record`` runs every case and writes, per case and per fit call (a case
with ``partial_fit`` or a warm-started refit records after each call): the
sha256 of ``predict_proba(X_test)`` as float64 bytes, the sha256 of every
``module_`` state_dict tensor (sorted names; dtype, shape and raw bytes),
the history's per-epoch ``train_loss`` (float reprs) and ``class_counts_``.
A case that raises records the error's type and message as its fingerprint,
so that nothing is skipped silently. ``compare`` prints ``case | same`` or
``case | DIFFERENT`` (with the differing fields) and exits 1 on any
difference, or on a case present in only one file.

To fingerprint other code than the installed one, put it first on the path,
e.g. ``PYTHONPATH=/work/base python benchmarks/check_bit_for_bit.py record
baseline.json``; the run prints ``skremix.__file__`` and stores it in the
file. Single-threaded and on the CPU (``device='cpu'`` is not forced: the
classes' ``device='auto'`` default resolves to the CPU on a machine without
an accelerator; fingerprints from different devices are not comparable).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
import traceback

import numpy as np
import torch

torch.set_num_threads(1)

import skorch  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

# skremix is imported by ``record`` only (``_skremix``), so that ``compare``
# runs whatever state the working tree is in.
CLASS_NAMES = {
    "ERM": "ERMClassifier",
    "Remix": "RemixClassifier",
    "ReMix": "ReMixClassifier",
    "MFW": "MFWClassifier",
    "RSG": "RSGClassifier",
}


def _skremix():
    import skremix

    return skremix


# Shared by every case; a case's own parameters override them.
COMMON = {"max_epochs": 3, "random_state": 0, "batch_size": 32, "train_split": None}


# ------------------------------------------------------------------ data
def _rows():
    """300 imbalanced rows of 3 classes: 240 to train, 60 to test."""
    X, y = make_classification(
        n_samples=300,
        n_features=10,
        n_informative=6,
        n_redundant=2,
        n_classes=3,
        weights=[0.7, 0.2, 0.1],
        random_state=0,
    )
    X = X.astype(np.float32)
    return X[:240], y[:240], X[240:]


def _images():
    """Long-tailed 8x8 digits, 10 classes (about 300 images, 60 to 6 per
    class) to train, and 100 of the other images to test."""
    from skremix.datasets import load_digits_images, make_imbalanced

    X, y = load_digits_images()
    X_tr, y_tr, idx = make_imbalanced(
        X,
        y,
        kind="long_tailed",
        ratio=10,
        n_max=70,
        random_state=0,
        return_indices=True,
    )
    rest = np.setdiff1d(np.arange(len(y)), idx)
    test = np.random.RandomState(0).choice(rest, size=100, replace=False)
    return X_tr, y_tr, X[np.sort(test)]


_DATA = {}


def _data(name):
    """The (X_train, y_train, X_test) of 'rows' or 'images', made once."""
    if name not in _DATA:
        _DATA[name] = {"rows": _rows, "images": _images}[name]()
    return _DATA[name]


class PairDataset(Dataset):
    """A map-style dataset of ``(x, y)`` tensor pairs (labels also given as
    ``y`` to ``fit``, as skremix's dataset input asks)."""

    def __init__(self, X, y):
        self.X = torch.as_tensor(X)
        self.y = torch.as_tensor(y)

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], self.y[i]


# ------------------------------------------------------------------ cases
def _case(name, cls, data, params=None, calls=("fit",), **options):
    """One case: ``calls`` run in order on one estimator, fingerprinted
    after each. A call is 'fit', 'partial_fit', 'partial_fit_1of2' or
    'partial_fit_2of2' (the first / second half of the training data).
    ``options``: ``sample_weight=True`` (random positive weights) and
    ``dataset=True`` (X as a PairDataset)."""
    return {
        "name": name,
        "cls": cls,
        "data": data,
        "params": dict(params or {}),
        "calls": tuple(calls),
        **options,
    }


def _cases():
    cases = []
    for data in ("rows", "images"):
        for cls in CLASS_NAMES:
            cases.append(_case(f"{cls}/{data}/defaults", cls, data))

    # ERMClassifier options, on rows unless they need images.
    for rebalance in ("rw", "rs", "drw", "drs", "crt"):
        params = {"rebalance": rebalance}
        if rebalance in ("drw", "drs", "crt"):
            params["rebalance_start"] = 1
        cases.append(_case(f"ERM/rows/rebalance={rebalance}", "ERM", "rows", params))
    cases.append(
        _case(
            "ERM/images/rebalance=crt",
            "ERM",
            "images",
            {"rebalance": "crt", "rebalance_start": 1},
        )
    )
    for loss in ("ldam", "logit_adjusted", "focal"):
        cases.append(_case(f"ERM/rows/loss={loss}", "ERM", "rows", {"loss": loss}))
    cases.append(
        _case(
            "ERM/rows/loss=ldam+rebalance=drw",
            "ERM",
            "rows",
            {"loss": "ldam", "rebalance": "drw", "rebalance_start": 1},
        )
    )
    for schedule in ("step", "cosine"):
        cases.append(
            _case(
                f"ERM/rows/lr_schedule={schedule}",
                "ERM",
                "rows",
                {"lr_schedule": schedule},
            )
        )
    # lr_warmup=1 multiplies epoch 0 by (0 + 1) / 1: the same as no warm-up
    # (its fingerprint equals the defaults'); 2 exercises the ramp.
    for warmup in (1, 2):
        cases.append(
            _case(f"ERM/rows/lr_warmup={warmup}", "ERM", "rows", {"lr_warmup": warmup})
        )
        cases.append(
            _case(
                f"ERM/rows/lr_schedule=cosine+lr_warmup={warmup}",
                "ERM",
                "rows",
                {"lr_schedule": "cosine", "lr_warmup": warmup},
            )
        )
    for data in ("rows", "images"):
        cases.append(
            _case(f"ERM/{data}/posthoc_tau=1.0", "ERM", data, {"posthoc_tau": 1.0})
        )
        cases.append(_case(f"ERM/{data}/tau_norm=1.0", "ERM", data, {"tau_norm": 1.0}))
    cases.append(
        _case("ERM/rows/standardize=True", "ERM", "rows", {"standardize": True})
    )
    cases.append(
        _case("ERM/images/standardize=True", "ERM", "images", {"standardize": True})
    )
    cases.append(
        _case("ERM/images/precise_bn=False", "ERM", "images", {"precise_bn": False})
    )
    cases.append(
        _case("ERM/images/augment=crop_flip", "ERM", "images", {"augment": "crop_flip"})
    )
    cases.append(_case("ERM/rows/sample_weight", "ERM", "rows", sample_weight=True))
    cases.append(_case("ERM/images/sample_weight", "ERM", "images", sample_weight=True))
    for data in ("rows", "images"):
        cases.append(
            _case(
                f"ERM/{data}/train_split=ValidSplit(4,stratified)",
                "ERM",
                data,
                {"train_split": skorch.dataset.ValidSplit(4, stratified=True)},
            )
        )

    # The mixing methods' own options.
    cases.append(_case("Remix/rows/mix=manifold", "Remix", "rows", {"mix": "manifold"}))
    cases.append(
        _case("Remix/images/mix=manifold", "Remix", "images", {"mix": "manifold"})
    )
    cases.append(_case("Remix/images/mix=cutmix", "Remix", "images", {"mix": "cutmix"}))
    cases.append(
        _case("Remix/rows/rebalance=drs", "Remix", "rows", {"rebalance": "drs"})
    )
    cases.append(
        _case(
            "ReMix/rows/balance=within_batch",
            "ReMix",
            "rows",
            {"balance": "within_batch"},
        )
    )
    cases.append(
        _case(
            "ReMix/images/balance=within_batch",
            "ReMix",
            "images",
            {"balance": "within_batch"},
        )
    )
    cases.append(_case("MFW/rows/rebalance=None", "MFW", "rows", {"rebalance": None}))
    cases.append(
        _case("MFW/images/rebalance=None", "MFW", "images", {"rebalance": None})
    )
    # Generation from the second epoch (the default 0.8 of 3 epochs is 2).
    cases.append(
        _case("RSG/images/generate_from=1", "RSG", "images", {"generate_from": 1})
    )

    # Dataset input.
    for cls in ("ERM", "Remix"):
        for data in ("rows", "images"):
            cases.append(_case(f"{cls}/{data}/dataset_input", cls, data, dataset=True))

    # partial_fit and warm starts: fingerprinted after every call.
    for cls, data in (("ERM", "rows"), ("Remix", "images")):
        cases.append(
            _case(
                f"{cls}/{data}/fit+partial_fit",
                cls,
                data,
                calls=("fit", "partial_fit"),
            )
        )
        cases.append(
            _case(
                f"{cls}/{data}/partial_fit_2_chunks",
                cls,
                data,
                calls=("partial_fit_1of2", "partial_fit_2of2"),
            )
        )
    cases.append(
        _case(
            "ERM/rows/warm_start=True_refit",
            "ERM",
            "rows",
            {"warm_start": True},
            calls=("fit", "fit"),
        )
    )
    cases.append(
        _case(
            "Remix/images/warm_start=True_refit",
            "Remix",
            "images",
            {"warm_start": True},
            calls=("fit", "fit"),
        )
    )
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    return cases


# ------------------------------------------------------------------ fingerprints
def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tensor_sha(t: torch.Tensor) -> str:
    t = t.detach().cpu().contiguous()
    head = f"{t.dtype}|{tuple(t.shape)}|".encode()
    raw = t.reshape(-1).view(torch.uint8).numpy().tobytes()
    return _sha(head + raw)


def _error(exc: BaseException) -> dict:
    return {"error": f"{type(exc).__name__}: {exc}"}


def _proba(clf, X_test) -> dict:
    try:
        proba = np.ascontiguousarray(clf.predict_proba(X_test), dtype=np.float64)
    except Exception as exc:  # recorded, not skipped
        return _error(exc)
    return {"shape": list(proba.shape), "sha256": _sha(proba.tobytes())}


def _fingerprint(clf, X_test, dataset=False) -> dict:
    out = {"predict_proba": _proba(clf, X_test)}
    if dataset:  # also predicted from a dataset of the test samples
        labels = np.zeros(len(X_test), dtype=np.int64)
        out["predict_proba_dataset"] = _proba(clf, PairDataset(X_test, labels))
    state = clf.module_.state_dict()
    out["state_dict"] = {name: _tensor_sha(state[name]) for name in sorted(state)}
    out["train_loss"] = [repr(float(v)) for v in clf.history[:, "train_loss"]]
    out["class_counts"] = [int(c) for c in clf.class_counts_]
    return out


def _param_repr(value) -> str:
    """A repr without memory addresses (objects such as ValidSplit show
    their class and attributes)."""
    if " object at 0x" in repr(value):
        attrs = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(value).items()))
        return f"{type(value).__name__}({attrs})"
    return repr(value)


def _run_case(case) -> dict:
    X, y, X_test = _data(case["data"])
    params = {**COMMON, **case["params"]}
    # Independent of the cases before (the fits seed themselves from
    # random_state; this covers anything that reads the global RNGs).
    torch.manual_seed(0)
    np.random.seed(0)
    classes = np.unique(y)
    half = len(y) // 2
    calls = []
    try:
        clf = getattr(_skremix(), CLASS_NAMES[case["cls"]])(**params)
    except Exception as exc:  # recorded, not skipped
        calls.append({"call": "__init__", **_error(exc)})
        traceback.print_exc()
        case = {**case, "calls": ()}
    for call in case["calls"]:
        Xc, yc = X, y
        if call == "partial_fit_1of2":
            Xc, yc = X[:half], y[:half]
        elif call == "partial_fit_2of2":
            Xc, yc = X[half:], y[half:]
        kwargs = {}
        if case.get("sample_weight"):
            kwargs["sample_weight"] = np.random.RandomState(1).uniform(
                0.1, 3.0, size=len(yc)
            )
        if case.get("dataset"):
            Xc = PairDataset(Xc, yc)
        try:
            if call == "fit":
                clf.fit(Xc, yc, **kwargs)
            elif call == "partial_fit_1of2":
                clf.partial_fit(Xc, yc, classes=classes, **kwargs)
            else:
                clf.partial_fit(Xc, yc, **kwargs)
            fingerprint = _fingerprint(clf, X_test, dataset=case.get("dataset"))
            calls.append({"call": call, **fingerprint})
        except Exception as exc:  # recorded, not skipped
            calls.append({"call": call, **_error(exc)})
            traceback.print_exc()
            break
    return {
        "class": CLASS_NAMES[case["cls"]],
        "data": case["data"],
        "params": {k: _param_repr(v) for k, v in sorted(case["params"].items())},
        "calls": calls,
    }


def record(path):
    skremix = _skremix()
    print(f"skremix.__file__ = {skremix.__file__}", flush=True)
    start = time.perf_counter()
    results = {}
    for case in _cases():
        t0 = time.perf_counter()
        results[case["name"]] = _run_case(case)
        errors = [c["error"] for c in results[case["name"]]["calls"] if "error" in c]
        status = f"ERROR {errors[0]}" if errors else "ok"
        print(
            f"{case['name']:<48} {time.perf_counter() - t0:6.2f}s  {status}", flush=True
        )
    total = time.perf_counter() - start
    meta = {
        "skremix_file": skremix.__file__,
        "skremix_version": skremix.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "skorch": skorch.__version__,
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "seconds": round(total, 1),
        "n_cases": len(results),
    }
    with open(path, "w") as f:
        json.dump({"meta": meta, "cases": results}, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{len(results)} cases in {total:.1f}s -> {path}")


def _diff(a, b) -> list[str]:
    """The fields of one case that differ between two records."""
    if a is None or b is None:
        return ["missing in " + ("A" if a is None else "B")]
    fields = []
    if a.get("params") != b.get("params"):
        fields.append("params")
    ca, cb = a["calls"], b["calls"]
    if len(ca) != len(cb):
        fields.append(f"number of calls {len(ca)} vs {len(cb)}")
    for i, (x, y) in enumerate(zip(ca, cb, strict=False)):
        for key in sorted(set(x) | set(y)):
            if x.get(key) == y.get(key):
                continue
            if key == "state_dict" and isinstance(x.get(key), dict):
                names = sorted(
                    n
                    for n in set(x[key]) | set(y.get(key) or {})
                    if x[key].get(n) != (y.get(key) or {}).get(n)
                )
                fields.append(f"call {i} state_dict[{', '.join(names)}]")
            else:
                fields.append(f"call {i} {key}")
    return fields


def compare(path_a, path_b) -> int:
    with open(path_a) as f:
        a = json.load(f)
    with open(path_b) as f:
        b = json.load(f)
    print(f"A: {path_a} ({a['meta']['skremix_file']})")
    print(f"B: {path_b} ({b['meta']['skremix_file']})")
    names = list(a["cases"]) + [n for n in b["cases"] if n not in a["cases"]]
    width = max(len(n) for n in names)
    n_diff = 0
    for name in names:
        fields = _diff(a["cases"].get(name), b["cases"].get(name))
        errs = [
            c["error"]
            for rec in (a["cases"].get(name), b["cases"].get(name))
            if rec
            for c in rec["calls"]
            if "error" in c
        ]
        note = f"  (error recorded: {errs[0]})" if errs else ""
        if fields:
            n_diff += 1
            print(f"{name:<{width}} | DIFFERENT: {'; '.join(fields)}{note}")
        else:
            print(f"{name:<{width}} | same{note}")
    print(f"{len(names)} cases, {n_diff} different")
    return 1 if n_diff else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("record", help="fit every case, write the fingerprints")
    p.add_argument("out")
    p = sub.add_parser("compare", help="compare two records, exit 1 on a difference")
    p.add_argument("a")
    p.add_argument("b")
    args = parser.parse_args(argv)
    if args.command == "record":
        record(args.out)
        return 0
    return compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())
