"""Training cost of each method against plain skorch and a hand-written loop.

In one process, interleaved (every repeat runs every method once, in turn),
the median fit time of:

- ``hand loop``: a minimal PyTorch loop over tensors already in memory
  (randperm, slice, forward, cross-entropy, backward, step): the practical limit;
- ``skorch ERM``: a plain ``skorch.NeuralNetClassifier`` with its default
  DataLoader over the same arrays;
- every skremix classifier (ERM, Remix, ReMix, MFW, RSG in its two phases),
  and skremix ERM with torch's fused AdamW kernel,

all with the same module, optimizer (AdamW), learning rate (constant),
epochs and batch size. Two cases: tabular (20k x 64, 10 classes, step
imbalance, MLP) and images (3 x 32 x 32, ResNet-32; a small N on CPU, 50k on
CUDA). Prints each time as a ratio to skorch ERM and to the hand loop, the peak
memory growth during the fit (RSS on CPU, ``max_memory_allocated`` on CUDA) and
predict throughput; then predicts 1M tabular rows in bounded memory.

``--rsg-baseline DIR`` also times RSG with the generator module of another
checkout (``DIR/skremix/nn/_rsg_*.py``, or ``_rsg.py`` of older commits; e.g. the
files of a commit from
``git archive <commit> | tar -x -C DIR``), interleaved with the current one:
the rows "RSG contrastive, baseline" and "RSG generating, baseline". Before /
after figures of a change to RSG made this way share the machine's load.

    python benchmarks/bench_cost.py [--device cpu|cuda] [--repeats 3] \
        [--tabular-repeats 9] [--quick] [--rsg-baseline DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import platform
import statistics
import sys
import threading
import time

import numpy as np
import torch
from skorch import NeuralNetClassifier

import skremix
from skremix import (
    ERMClassifier,
    MFWClassifier,
    ReMixClassifier,
    RemixClassifier,
    RSGClassifier,
)
from skremix.nn import MLP, ResNet32

# The hand loop and the data are bench_hand_loop's (this folder; gpu_check
# loads this file by path).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_hand_loop  # noqa: E402


class PeakRSS:
    """Peak resident memory growth of this process while the block runs."""

    def __init__(self, device):
        self.cuda = torch.device(device).type == "cuda"

    @staticmethod
    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return self
        self.base = self.peak = self.rss()
        self.running = True

        def sample():
            while self.running:
                self.peak = max(self.peak, self.rss())
                time.sleep(0.005)

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize()
            self.mib = (torch.cuda.max_memory_allocated() - self.base) / 2**20
            return
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.rss())
        self.mib = (self.peak - self.base) / 2**20


def baseline_rsg_classifier(path):
    """RSGClassifier whose generator is the ``RSG`` module of the checkout at
    ``path`` (its ``skremix/nn/_rsg_maths.py``, ``_rsg_autograd.py`` and
    ``_rsg_module.py``, or the single ``_rsg.py`` of older commits, which
    import only torch, numpy and each other); everything else is the current
    code.

    The baseline generator is built with the current one's settings and starts
    from its initial weights, so both time the same computation.
    """
    folder = os.path.join(path, "skremix", "nn")
    parts = ["_rsg_maths", "_rsg_autograd", "_rsg_module"]
    if not os.path.exists(os.path.join(folder, "_rsg_module.py")):
        parts = ["_rsg"]
    saved = {
        f"skremix.nn.{part}": sys.modules.get(f"skremix.nn.{part}") for part in parts
    }
    try:
        # Each baseline file imports the earlier ones by their skremix names:
        # point those names at the baseline while its files run.
        for part in parts:
            file = os.path.join(folder, part + ".py")
            spec = importlib.util.spec_from_file_location(f"_baseline{part}", file)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            sys.modules[f"skremix.nn.{part}"] = module
    finally:
        for name, current in saved.items():
            if current is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = current
    settings = inspect.signature(module.RSG).parameters

    class BaselineRSGClassifier(RSGClassifier):
        def initialize_module(self):
            super().initialize_module()
            current = self.rsg_
            baseline = module.RSG(**{name: getattr(current, name) for name in settings})
            baseline.load_state_dict(current.state_dict())
            self.rsg_ = baseline
            return self

    return BaselineRSGClassifier


def make_data(case, n, rng):
    """The step-imbalanced classes of ``bench_hand_loop.make_data``: 64
    features on ``'tabular'``, 3 x 32 x 32 images otherwise."""
    return bench_hand_loop.make_data(
        (64,) if case == "tabular" else (3, 32, 32), n, rng
    )


def run_case(case, args, rng):
    device = args.device
    if case == "tabular":
        n, epochs, batch_size = (5000 if args.quick else 20000), args.epochs, 128
        module_cls, module_kw = MLP, dict(n_features=64, n_classes=10)
    else:
        cpu_n = 256 if args.quick else 1024
        n = cpu_n if torch.device(device).type == "cpu" else 50000
        epochs, batch_size = 1, 128
        module_cls, module_kw = ResNet32, dict(in_channels=3, n_classes=10)
    X, y = make_data(case, n, rng)
    lr = 1e-3
    common = dict(
        max_epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer=torch.optim.AdamW,
        device=device,
    )
    skremix_common = dict(
        module=module_cls, lr_schedule="constant", random_state=0, **common
    )

    def skorch_erm():
        return NeuralNetClassifier(
            module_cls,
            **{f"module__{k}": v for k, v in module_kw.items()},
            criterion=torch.nn.CrossEntropyLoss,
            train_split=None,
            iterator_train__shuffle=True,
            verbose=0,
            **common,
        ).fit(X, y)

    methods = {
        "hand loop": lambda: bench_hand_loop.hand_loop(
            module_cls(**module_kw),
            lambda params: torch.optim.AdamW(params, lr=lr),
            X,
            y,
            epochs,
            batch_size,
            device,
        ),
        "skorch ERM": skorch_erm,
        "skremix ERM": lambda: ERMClassifier(**skremix_common).fit(X, y),
        "Remix": lambda: RemixClassifier(**skremix_common).fit(X, y),
        "Remix manifold": lambda: RemixClassifier(mix="manifold", **skremix_common).fit(
            X, y
        ),
        "ReMix": lambda: ReMixClassifier(**skremix_common).fit(X, y),
        "MFW": lambda: MFWClassifier(**skremix_common).fit(X, y),
        # RSG has two phases with different work: before generate_from the
        # contrastive module trains on B/2 pairs; from it on, new rare samples
        # are generated and appended (the batch grows) and the contrastive
        # module only scores them. Each is timed over the whole fit.
        "RSG contrastive": lambda: RSGClassifier(
            generate_from=epochs, **skremix_common
        ).fit(X, y),
        "RSG generating": lambda: RSGClassifier(generate_from=0, **skremix_common).fit(
            X, y
        ),
        **(
            {
                "RSG contrastive, baseline": lambda: args.baseline_rsg(
                    generate_from=epochs, **skremix_common
                ).fit(X, y),
                "RSG generating, baseline": lambda: args.baseline_rsg(
                    generate_from=0, **skremix_common
                ).fit(X, y),
            }
            if args.rsg_baseline
            else {}
        ),
        # The same ERM with torch's fused AdamW kernel (optimizer__fused=True):
        # an option of every classifier, not a default (see the README).
        "ERM fused AdamW": lambda: ERMClassifier(
            optimizer__fused=True, **skremix_common
        ).fit(X, y),
    }
    if case == "image":  # the speed options of every classifier
        if torch.device(device).type != "cpu" or args.bf16_on_cpu:
            # Without bfloat16 units a CPU emulates it: 13-15x slower on the
            # 2-core machine (results/cost/cpu_with_bf16.txt), and the slowest
            # row would set the length of the whole run.
            methods["ERM bf16"] = lambda: ERMClassifier(
                precision="bf16", **skremix_common
            ).fit(X, y)
        methods["ERM channels-last"] = lambda: ERMClassifier(
            channels_last=True, **skremix_common
        ).fit(X, y)
    if args.methods:
        keep = {"hand loop", "skorch ERM", *args.methods.split(",")}
        keep |= {f"{name}, baseline" for name in keep}  # with --rsg-baseline
        methods = {k: v for k, v in methods.items() if k in keep}
    times = {name: [] for name in methods}
    memory = {name: [] for name in methods}
    fitted = {}
    if not args.quick:  # warm-up: allocator, kernels, imports
        for fn in methods.values():
            fn()
    repeats = args.tabular_repeats if case == "tabular" else args.repeats
    for _ in range(repeats):
        for name, fn in methods.items():
            with PeakRSS(device) as mem:
                if torch.device(device).type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                fitted[name] = fn()
                if torch.device(device).type == "cuda":
                    torch.cuda.synchronize()
                times[name].append(time.perf_counter() - t0)
            memory[name].append(mem.mib)

    med = {name: statistics.median(t) for name, t in times.items()}
    print(
        f"\n== {case}: X {X.shape}, {epochs} epoch(s), batch {batch_size}, "
        f"{module_cls.__name__}, device {device}, median of {repeats} =="
    )
    width = max(18, *(len(name) for name in methods))
    print(
        f"{'method':<{width}s} {'fit s':>8s} {'/ skorch ERM':>13s} {'/ hand loop':>12s} "
        f"{'peak mem MiB':>13s}"
    )
    rows = []
    for name in methods:
        row = dict(
            case=case,
            method=name,
            fit_s=med[name],
            vs_skorch=med[name] / med["skorch ERM"],
            vs_hand=med[name] / med["hand loop"],
            peak_mib=max(memory[name]),
        )
        rows.append(row)
        print(
            f"{name:<{width}s} {row['fit_s']:8.2f} {row['vs_skorch']:13.2f} "
            f"{row['vs_hand']:12.2f} {row['peak_mib']:13.1f}"
        )

    # predict throughput on the training set, skorch vs skremix (same module kind)
    for name in ("skorch ERM", "skremix ERM", "RSG generating"):
        if name not in fitted:
            continue
        est = fitted[name]
        est.predict_proba(X[:256])
        t0 = time.perf_counter()
        est.predict_proba(X)
        dt = time.perf_counter() - t0
        print(f"predict_proba {name:<14s} {len(X) / dt:12.0f} rows/s")
        rows.append(dict(case=case, method=name, predict_rows_per_s=len(X) / dt))
    return rows, fitted.get("skremix ERM")


def predict_million(est, device):
    """Predict 1M tabular rows; memory grows with the output, not the net's
    activations over all rows at once."""
    n = 1_000_000
    X = np.random.default_rng(1).normal(size=(n, 64)).astype(np.float32)
    before = PeakRSS.rss() / 2**20
    with PeakRSS(device) as mem:
        t0 = time.perf_counter()
        proba = est.predict_proba(X)
        dt = time.perf_counter() - t0
    peak = before + mem.mib
    input_mib = X.nbytes / 2**20
    print(
        f"\npredict_proba on 1M x 64 rows: {dt:.1f}s ({n / dt:.0f} rows/s); process RSS "
        f"{before:.0f} MiB before, peak {peak:.0f} MiB (input {input_mib:.0f} MiB, "
        f"output {proba.nbytes / 2**20:.0f} MiB)"
    )
    return dict(
        case="predict_1M",
        seconds=dt,
        rss_before_mib=before,
        rss_peak_mib=peak,
        input_mib=input_mib,
        output_mib=proba.nbytes / 2**20,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument("--repeats", type=int, default=3, help="image-case repeats")
    parser.add_argument(
        "--tabular-repeats",
        type=int,
        default=9,
        help="tabular-case repeats (a fit takes about a second: "
        "more repeats steady the median)",
    )
    parser.add_argument("--epochs", type=int, default=3, help="tabular epochs")
    parser.add_argument("--cases", default="tabular,image")
    parser.add_argument("--methods", default="", help="comma-separated subset")
    parser.add_argument(
        "--bf16-on-cpu",
        action="store_true",
        help="also time precision='bf16' on the CPU",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, no warm-up")
    parser.add_argument("--json", default="", help="write the figures to this file")
    parser.add_argument(
        "--rsg-baseline",
        default="",
        metavar="DIR",
        help="also time RSG with the generator module of the checkout in DIR",
    )
    args = parser.parse_args()
    if args.rsg_baseline:
        args.baseline_rsg = baseline_rsg_classifier(args.rsg_baseline)
    info = dict(
        torch=torch.__version__,
        skremix=skremix.__version__,
        threads=torch.get_num_threads(),
        machine=platform.machine(),
        cpu_count=os.cpu_count(),
        device=args.device,
        gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        rsg_baseline=args.rsg_baseline or None,
    )
    print("config:", json.dumps(info))
    rng = np.random.default_rng(0)
    rows, erm = [], None
    for case in args.cases.split(","):
        case_rows, fitted_erm = run_case(case, args, rng)
        rows += case_rows
        if case == "tabular":
            erm = fitted_erm
    if erm is not None:
        rows.append(predict_million(erm, args.device))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(config=info, rows=rows), f, indent=2)


if __name__ == "__main__":
    main()
