r"""
One net trained on several processes (torchrun, Accelerate)
===========================================================

Every skremix classifier trains one net data-parallel over the processes of
a ``torch.distributed`` group: each process runs this same script on the
same data, draws its share of every global batch, and
``DistributedDataParallel`` averages the gradients. Launched on 2 processes
(gloo on CPUs; NCCL on GPUs, one per process)::

    torchrun --nproc_per_node=2 examples/train_data_parallel.py

or, through Hugging Face Accelerate (``pip install "skremix[hf]"``), with
the class mixing in :class:`skremix.hf.AccelerateMixin`::

    accelerate launch --multi_gpu --num_processes 2 \
        examples/train_data_parallel.py --accelerate

(``--multi_gpu`` is accelerate's multi-process launcher; on a machine
without GPUs the script creates ``Accelerator(cpu=True)``). Run as a plain
``python`` script, as here, it trains in one process. ``batch_size`` is per
process: on 2 processes each step trains on ``2 * 32`` samples. Rank 0
prints and writes the results; every rank holds the same fitted net, which
pickles and predicts on one CPU process afterwards like any other. See the
user guide's "Scaling out".
"""

import os
import sys

import numpy as np
import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split

from skremix import RemixClassifier
from skremix.datasets import make_imbalanced

use_accelerate = "--accelerate" in sys.argv
launched = int(os.environ.get("WORLD_SIZE", "1")) > 1

if use_accelerate:
    from accelerate import Accelerator

    from skremix.hf import AccelerateMixin

    class AcceleratedRemix(AccelerateMixin, RemixClassifier):
        """Remix under Hugging Face Accelerate."""

    # Creating the accelerator starts the process group of the launch.
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
elif launched:
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")

if launched and not torch.cuda.is_available():
    torch.set_num_threads(1)  # one core per process

# %%
# The same data on every process: digits with a long tail (ratio 10).
X, y = load_digits(return_X_y=True)
X, y = make_imbalanced(X, y, kind="long_tailed", ratio=10, random_state=0)
X = (X / 16).astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)

params = dict(max_epochs=20, batch_size=32, random_state=0)
if use_accelerate:
    clf = AcceleratedRemix(accelerator=accelerator, **params)
else:
    clf = RemixClassifier(**params)
clf.fit(X_train, y_train)

# %%
# Every rank predicts alike; rank 0 reports.
score = balanced_accuracy_score(y_test, clf.predict(X_test))
rank = dist.get_rank() if dist.is_initialized() else 0
if rank == 0:
    print(f"trained on {clf.world_size_} process(es)")
    print(f"test balanced accuracy: {score:.3f}")
    out = os.environ.get("SKREMIX_EXAMPLE_OUT")
    if out:  # the tests read the fitted net back in one process
        import pickle

        with open(out, "wb") as f:
            pickle.dump(clf, f)

if dist.is_initialized():
    dist.destroy_process_group()
    # A gloo worker thread that DistributedDataParallel keeps alive can abort
    # the interpreter's shutdown after the work is done (the user guide's
    # "Scaling out"): a launched rank leaves without it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
