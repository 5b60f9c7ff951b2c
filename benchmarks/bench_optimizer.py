"""The default optimizer: fused AdamW against torch's for-loop AdamW.

Fits ``ERMClassifier`` (default module) for 3 epochs on 20,000 x 64 rows
(MLP) and 4,000 16x16 images (ConvNet), interleaving the two implementations
in one process, 5 times each, and prints the median fit time of each and
their ratio, plus the optimizer step alone on the default modules. One torch
thread (the estimators' small networks run fastest so).

    python benchmarks/bench_optimizer.py

Committed output: ``benchmarks/results/optimizer_cpu.txt``.
"""

import statistics
import time

import numpy as np
import torch

from skremix import ERMClassifier
from skremix.nn import MLP, ConvNet, ResNet32


def synthetic_cases():
    """The two timed data sets (also of ``bench_compile.py``): 20,000 rows of
    64 features and 4,000 uint8 16x16 images, 10 random labels."""
    rng = np.random.default_rng(0)
    return {
        "rows 20000x64 (MLP)": (
            rng.normal(size=(20000, 64)).astype(np.float32),
            rng.integers(0, 10, 20000),
        ),
        "images 4000x1x16x16 (ConvNet)": (
            rng.integers(0, 256, size=(4000, 1, 16, 16), dtype=np.uint8),
            rng.integers(0, 10, 4000),
        ),
    }


def _fits():
    cases = synthetic_cases()
    impls = {"for-loop": {"optimizer__foreach": False}, "fused (default)": {}}
    for case, (X, y) in cases.items():
        times = {name: [] for name in impls}
        for _ in range(5):
            for name, kw in impls.items():
                start = time.perf_counter()
                ERMClassifier(max_epochs=3, random_state=0, **kw).fit(X, y)
                times[name].append(time.perf_counter() - start)
        med = {name: statistics.median(t) for name, t in times.items()}
        print(
            f"fit, {case}: for-loop {med['for-loop']:.2f} s, fused "
            f"{med['fused (default)']:.2f} s, ratio "
            f"{med['fused (default)'] / med['for-loop']:.2f}"
        )


def _steps():
    modules = {
        "MLP(64, 10)": MLP(n_features=64, n_classes=10),
        "ConvNet(1, 10)": ConvNet(in_channels=1, n_classes=10),
        "ResNet32(10)": ResNet32(n_classes=10),
    }
    for name, module in modules.items():
        params = list(module.parameters())
        for p in params:
            p.grad = torch.randn_like(p)
        best = {}
        for _ in range(5):
            for impl, kw in {
                "for-loop": {"foreach": False},
                "fused": {"fused": True},
            }.items():
                opt = torch.optim.AdamW(params, lr=1e-3, **kw)
                for _ in range(5):
                    opt.step()
                start = time.perf_counter()
                for _ in range(200):
                    opt.step()
                step = (time.perf_counter() - start) / 200 * 1e6
                best[impl] = min(best.get(impl, step), step)
        print(
            f"optimizer step, {name} ({len(params)} tensors): for-loop "
            f"{best['for-loop']:.0f} us, fused {best['fused']:.0f} us"
        )


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread")
    _steps()
    _fits()
