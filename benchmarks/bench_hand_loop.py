"""Fit time of every class against a hand-written PyTorch loop (issue 29).

The reference is the fastest honest alternative to skremix: a loop of one's
own over tensors already in memory (a shuffled index, tensor slicing,
``zero_grad(set_to_none=True)``, forward, cross-entropy, backward, step), on
the same data, the same module with the same initial weights (one seeded
instance, deep-copied by every fit) and the same optimizer. Three workloads:

- ``rows``: 20,000 x 64, 10 classes (step imbalance), MLP 64-256-256-10,
  SGD (lr 0.05), batch 128, 3 epochs;
- ``convnet``: 4,000 x 1 x 16 x 16, the default ConvNet, AdamW, batch 64,
  3 epochs;
- ``resnet32``: 2,000 x 3 x 32 x 32, ResNet-32, SGD with momentum 0.9,
  batch 128, 1 epoch.

Every fit runs in this one process, interleaved (each repeat runs every row
once, in turn, after one warm-up round); the figures are ratios to the hand
loop's fit time: of the medians, the median of each round's own ratio
(paired under the same load) and of the fastest runs. Rows: the hand loop
(and, on the image workloads, the same loop with the module and batches in
channels-last memory format), plain skorch, every class at its defaults,
and the speed options that issue 29 decides on (``precise_bn=False``,
``channels_last``). Ratios only: on a shared machine absolute seconds
drift, ratios of interleaved runs much less.

    python benchmarks/bench_hand_loop.py [--repeats 3]
        [--workloads rows,convnet,resnet32]
        [--device cpu|cuda] [--quick] [--json FILE]
    python benchmarks/bench_hand_loop.py --report FILE   # re-print a --json file

Results: benchmarks/results/cost/hand_loop_cpu.txt (doc/user_guide/pitfalls.rst,
"Training speed").
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from skorch import NeuralNetClassifier

import skremix
from skremix import (
    ERMClassifier,
    MFWClassifier,
    ReMixClassifier,
    RemixClassifier,
    RSGClassifier,
)
from skremix.datasets import imbalance_profile
from skremix.losses import soft_cross_entropy
from skremix.mixing import mixed_targets, remix_label_factor
from skremix.nn import MLP, ConvNet, ResNet32
from skremix.sampling import effective_number_weights

CLASSES = {
    "ERM": ERMClassifier,
    "Remix": RemixClassifier,
    "ReMix": ReMixClassifier,
    "MFW": MFWClassifier,
    "RSG": RSGClassifier,
}


def make_data(shape, n, rng, n_classes=10):
    """Step-imbalanced (ratio 10) Gaussian classes of the given sample shape."""
    counts = imbalance_profile(n // 6, n_classes, kind="step", ratio=10)
    counts = np.maximum((counts * n / counts.sum()).astype(int), 1)
    y = np.repeat(np.arange(n_classes), counts)
    d = int(np.prod(shape))
    centers = rng.normal(size=(n_classes, d)).astype(np.float32)
    X = centers[y] + rng.normal(size=(len(y), d)).astype(np.float32)
    return X.reshape(len(y), *shape), y


def hand_loop(module, optimizer, X, y, epochs, batch_size, device, channels_last=False):
    """The reference: a minimal training loop over tensors in memory."""
    model = copy.deepcopy(module).to(device)
    Xt = torch.as_tensor(X, device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        Xt = Xt.contiguous(memory_format=torch.channels_last)
    yt = torch.as_tensor(y, device=device)
    opt = optimizer(model.parameters())
    n = len(Xt)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, device=device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    return model


def hand_remix_loop(module, optimizer, X, y, epochs, batch_size, device):
    """The hand loop with RemixClassifier's default step written out: input
    mixup with one Beta(0.4, 0.4) draw a batch, the Remix label factor
    (kappa 3, tau 0.5), soft-target cross-entropy and deferred re-weighting
    (effective-number weights from the last epoch of three, as ``'drw'``
    starts at 0.8 of ``max_epochs``). It uses skremix's mixing functions, so
    the gap between it and ``Remix`` is the framework's, and the gap between
    it and the hand loop is the method's own work."""
    model = copy.deepcopy(module).to(device)
    Xt = torch.as_tensor(X, device=device)
    yt = torch.as_tensor(y, device=device)
    n_classes = int(yt.max()) + 1
    counts = torch.bincount(yt, minlength=n_classes).float()
    weights = torch.as_tensor(
        effective_number_weights(counts.cpu().numpy()),
        dtype=torch.float32,
        device=device,
    )
    rng = np.random.default_rng(0)
    opt = optimizer(model.parameters())
    n = len(Xt)
    model.train()
    for epoch in range(epochs):
        weight = weights if epoch >= int(0.8 * epochs) else None
        order = torch.randperm(n, device=device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            xb, yb = Xt[idx], yt[idx]
            lam = float(rng.beta(0.4, 0.4))
            perm = torch.randperm(len(xb), device=device)
            lam_y = remix_label_factor(lam, counts[yb], counts[yb[perm]])
            targets = mixed_targets(yb, perm, lam_y, n_classes)
            opt.zero_grad(set_to_none=True)
            logits = model(torch.lerp(xb[perm], xb, lam))
            loss = soft_cross_entropy(logits, targets, weight).mean()
            loss.backward()
            opt.step()
    return model


def workload(name, quick):
    """(X, y, module instance, optimizer class, its kwargs, epochs, batch size)."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    scale = 4 if quick else 1
    if name == "rows":
        X, y = make_data((64,), 20000 // scale, rng)
        module = MLP(64, 10, hidden_units=(256, 256))
        return X, y, module, torch.optim.SGD, dict(lr=0.05), 3, 128
    if name == "convnet":
        X, y = make_data((1, 16, 16), 4000 // scale, rng)
        module = ConvNet(in_channels=1, n_classes=10)
        return X, y, module, torch.optim.AdamW, dict(lr=1e-3), 3, 64
    if name == "resnet32":
        X, y = make_data((3, 32, 32), 2000 // scale, rng)
        module = ResNet32(in_channels=3, n_classes=10)
        return X, y, module, torch.optim.SGD, dict(lr=0.05, momentum=0.9), 1, 128
    raise ValueError(f"unknown workload {name!r}")


def rows_for(name, args):
    X, y, module, opt_cls, opt_kw, epochs, batch_size = workload(name, args.quick)
    device = args.device
    image = X.ndim == 4

    def optimizer(params):
        return opt_cls(params, **opt_kw)

    common = dict(
        max_epochs=epochs,
        batch_size=batch_size,
        optimizer=opt_cls,
        lr=opt_kw["lr"],
        **{f"optimizer__{k}": v for k, v in opt_kw.items() if k != "lr"},
        device=device,
    )

    def skremix_fit(cls, **options):
        return lambda: cls(module, random_state=0, **common, **options).fit(X, y)

    def skorch_fit():
        return NeuralNetClassifier(
            copy.deepcopy(module),
            criterion=torch.nn.CrossEntropyLoss,
            train_split=None,
            iterator_train__shuffle=True,
            verbose=0,
            **common,
        ).fit(X, y)

    rows = {
        "hand loop": lambda: hand_loop(
            module, optimizer, X, y, epochs, batch_size, device
        ),
    }
    if image:
        rows["hand loop, channels-last"] = lambda: hand_loop(
            module, optimizer, X, y, epochs, batch_size, device, channels_last=True
        )
    rows["hand loop, Remix step"] = lambda: hand_remix_loop(
        module, optimizer, X, y, epochs, batch_size, device
    )
    rows["skorch"] = skorch_fit
    for label, cls in CLASSES.items():
        rows[f"{label}"] = skremix_fit(cls)
    # The options issue 29 decides on, one at a time and together.
    for label in ("ERM", "Remix", "RSG"):
        rows[f"{label}, precise_bn=False"] = skremix_fit(
            CLASSES[label], precise_bn=False
        )
    if image:
        for label in CLASSES:
            rows[f"{label}, channels_last=True"] = skremix_fit(
                CLASSES[label], channels_last=True
            )
        rows["ERM, channels_last, precise_bn=False"] = skremix_fit(
            ERMClassifier, channels_last=True, precise_bn=False
        )
    if args.rows:
        keep = {"hand loop", *args.rows.split(";")}
        rows = {k: v for k, v in rows.items() if k in keep}
    return X, epochs, batch_size, type(module).__name__, rows


def timed(fn, device):
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def run(name, args):
    X, epochs, batch_size, module_name, rows = rows_for(name, args)
    times = {row: [] for row in rows}
    for fn in rows.values():  # warm-up: allocator, kernels, first-call costs
        fn()
    # A rows fit takes under a second, where one hiccup of a shared machine
    # moves a median of three: three times the repeats there.
    repeats = 3 * args.repeats if name == "rows" else args.repeats
    for _ in range(repeats):
        for row, fn in rows.items():
            times[row].append(timed(fn, args.device))
    print(
        f"\n== {name}: X {X.shape}, {module_name}, {epochs} epoch(s), batch "
        f"{batch_size}, device {args.device}, median of {repeats} =="
    )
    out = [dict(workload=name, row=row, times=t) for row, t in times.items()]
    table(out)
    return out


def table(out):
    """Print one workload's rows (``times`` of each, in round order) and add
    ``fit_s`` and ``vs_hand`` to them. Three ratios to the hand loop: of the
    medians; the median of each round's own ratio (the rounds are
    interleaved, so this pairs runs made under the same load); and of the
    fastest runs (the least disturbed)."""
    hand = next(r["times"] for r in out if r["row"] == "hand loop")
    width = max(len(r["row"]) for r in out)
    print(
        f"{'row':<{width}s} {'fit s':>8s} {'/ hand loop':>12s} {'paired':>8s} "
        f"{'fastest':>8s} {'spread':>8s}"
    )
    for r in out:
        t = r["times"]
        med = statistics.median(t)
        r["fit_s"] = med
        r["vs_hand"] = med / statistics.median(hand)
        r["vs_hand_paired"] = statistics.median(
            a / b for a, b in zip(t, hand, strict=True)
        )
        r["vs_hand_fastest"] = min(t) / min(hand)
        spread = (max(t) - min(t)) / med
        print(
            f"{r['row']:<{width}s} {med:8.2f} {r['vs_hand']:12.2f} "
            f"{r['vs_hand_paired']:8.2f} {r['vs_hand_fastest']:8.2f} {spread:8.2f}"
        )


def report(path):
    """Re-print the tables of a ``--json`` file."""
    with open(path) as f:
        saved = json.load(f)
    print("config:", json.dumps(saved["config"]))
    names = dict.fromkeys(r["workload"] for r in saved["rows"])
    for name in names:
        rows = [r for r in saved["rows"] if r["workload"] == name]
        print(f"\n== {name}: {len(rows[0]['times'])} rounds ==")
        table(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="repeats (three times as many on rows)"
    )
    parser.add_argument("--workloads", default="rows,convnet,resnet32")
    parser.add_argument(
        "--rows", default="", help="';'-separated subset of the rows to time"
    )
    parser.add_argument("--quick", action="store_true", help="a quarter of the data")
    parser.add_argument("--json", default="", help="write the figures to this file")
    parser.add_argument(
        "--report", default="", metavar="JSON", help="re-print a --json file's tables"
    )
    args = parser.parse_args()
    if args.report:
        return report(args.report)
    info = dict(
        torch=torch.__version__,
        skremix=skremix.__version__,
        threads=torch.get_num_threads(),
        omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
        machine=platform.machine(),
        cpu_count=os.cpu_count(),
        device=args.device,
        gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    )
    print("config:", json.dumps(info))
    out = []
    for name in args.workloads.split(","):
        out += run(name, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(config=info, rows=out), f, indent=2)


if __name__ == "__main__":
    main()
