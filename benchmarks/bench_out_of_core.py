"""Fit and predict on a memmapped uint8 image set larger than the memory the
process may use.

The script caps its own anonymous memory (heap and private mappings) with
``RLIMIT_DATA`` at ``--limit-mib`` (default 1200 MiB), writes ``--n-images``
random 3x32x32 uint8 images (default 800,000: 2.3 GiB, about 2x the limit;
a float32 copy would be 9.2 GiB, 8x) to a ``.npy`` file, opens it with
``np.load(mmap_mode='r')`` and runs ``ERMClassifier.fit`` (one epoch) and
``predict_proba`` on all of it with a small convolutional network, under
``data_placement='device'`` and ``'host'``. It prints the time of each step,
the peak anonymous memory (``RssAnon``, sampled every 50 ms), the peak
resident set (``VmHWM``: it includes the file's pages in the page cache,
which the kernel can drop at will) and the limit. A copy of the data would
fail with ``MemoryError`` under the limit; the run shows none is made.

On a CPU both placements gather batches from the host (the host is the
device); on a GPU, 'device' would copy the whole set to GPU memory first
(it is refused by 'auto' when it takes more than half the free memory) and
'host' moves pinned batches one at a time.

Usage::

    python benchmarks/bench_out_of_core.py [--n-images N] [--limit-mib M]
        [--dir /tmp] [--device auto]

Committed output: ``benchmarks/results/out_of_core_cpu.txt``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path


def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # kB -> MiB
    return float("nan")


class _Peak:
    """The largest RssAnon seen while the block runs (sampled every 50 ms)."""

    def __enter__(self):
        self.peak = _status("RssAnon")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, _status("RssAnon"))

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _status("RssAnon"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-images", type=int, default=800_000)
    p.add_argument("--limit-mib", type=int, default=1200)
    p.add_argument("--dir", default=tempfile.gettempdir())
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)

    limit = args.limit_mib * 2**20
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))

    import numpy as np
    import torch
    from torch import nn

    from skremix import ERMClassifier

    torch.set_num_threads(os.cpu_count() or 1)

    class SmallConvNet(nn.Module):
        """Two cheap convolutions: the data path, not the network, is measured."""

        def __init__(self, in_channels=3, n_classes=10):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(in_channels, 8, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(8, 16, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
            )
            self.head = nn.Linear(16, n_classes)

        def forward(self, x):
            return self.head(self.features(x))

    path = Path(args.dir) / f"skremix_out_of_core_{os.getpid()}.npy"
    n = args.n_images
    shape = (n, 3, 32, 32)
    size = n * 3 * 32 * 32
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(
        f"RLIMIT_DATA {args.limit_mib} MiB; data {n} x 3x32x32 uint8 = "
        f"{size / 2**20:.0f} MiB on disk ({size / limit:.1f}x the limit; as "
        f"float32 {4 * size / 2**20:.0f} MiB, {4 * size / limit:.1f}x)"
    )
    try:
        start = time.perf_counter()
        X = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
        rng = np.random.default_rng(0)
        for a in range(0, n, 50_000):
            b = min(a + 50_000, n)
            X[a:b] = rng.integers(0, 256, size=(b - a, *shape[1:]), dtype=np.uint8)
        X.flush()
        del X
        y = np.arange(n) % 10
        print(f"wrote {path} in {time.perf_counter() - start:.0f} s")
        X = np.load(path, mmap_mode="r")
        print(f"after opening the memmap: RssAnon {_status('RssAnon'):.0f} MiB")
        for placement in ("device", "host"):
            clf = ERMClassifier(
                module=SmallConvNet,
                max_epochs=1,
                batch_size=512,
                data_placement=placement,
                device=args.device,
                random_state=0,
            )
            with _Peak() as fit_peak:
                start = time.perf_counter()
                clf.fit(X, y)
                fit_s = time.perf_counter() - start
            with _Peak() as pred_peak:
                start = time.perf_counter()
                proba = clf.predict_proba(X)
                pred_s = time.perf_counter() - start
            assert proba.shape == (n, 10) and np.isfinite(proba).all()
            print(
                f"data_placement={placement!r} (ran as {clf.data_placement_!r} on "
                f"{clf.device}): fit 1 epoch {fit_s:.0f} s "
                f"({n / fit_s:.0f} images/s), peak RssAnon {fit_peak.peak:.0f} MiB; "
                f"predict_proba {pred_s:.0f} s ({n / pred_s:.0f} images/s), "
                f"peak RssAnon {pred_peak.peak:.0f} MiB"
            )
            del proba
        print(
            f"peak resident set (VmHWM, with the file's cached pages) "
            f"{_status('VmHWM'):.0f} MiB; limit on anonymous memory "
            f"{args.limit_mib} MiB"
        )
    finally:
        path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
