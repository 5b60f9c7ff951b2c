"""``compile=True`` (skorch's ``torch.compile`` of the module) against eager.

For ERM and Remix (input mixing: no forward hooks, so compiling is allowed;
MFW, RSG and manifold mixing refuse it) on 20,000 x 64 rows (MLP) and
4,000 16x16 images (ConvNet), fits ``--epochs`` epochs eagerly and compiled
(inductor) and prints the first epoch (which pays the compilation), the
mean of the later epochs, the fit's wall time and the largest difference of
the predicted probabilities. One torch thread.

    python benchmarks/bench_compile.py [--epochs 4]

Committed output: ``benchmarks/results/compile_cpu.txt``.
"""

import argparse
import time

import numpy as np
import torch
from bench_optimizer import synthetic_cases

from skremix import ERMClassifier, RemixClassifier


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=4)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cases = synthetic_cases()
    print(f"torch {torch.__version__}, 1 thread, {args.epochs} epochs")
    for case, (X, y) in cases.items():
        for cls in (ERMClassifier, RemixClassifier):
            probas = {}
            for compiled in (False, True):
                clf = cls(max_epochs=args.epochs, random_state=0, compile=compiled)
                start = time.perf_counter()
                clf.fit(X, y)
                wall = time.perf_counter() - start
                durs = clf.history[:, "dur"]
                probas[compiled] = clf.predict_proba(X)
                print(
                    f"{case}, {cls.__name__}, "
                    f"{'compiled' if compiled else 'eager   '}: first epoch "
                    f"{durs[0]:.2f} s, later epochs {np.mean(durs[1:]):.2f} s, "
                    f"fit {wall:.1f} s",
                    flush=True,
                )
            diff = np.abs(probas[True] - probas[False]).max()
            print(f"  max |proba(compiled) - proba(eager)| = {diff:.1e}")


if __name__ == "__main__":
    main()
