"""
The simple long-tail baselines beside Remix
===========================================

Before trusting one of the four papers' methods, compare it with the simple
baselines of long-tailed learning, which every skremix class offers as
parameters (:ref:`baselines`):

- the **logit-adjusted loss** of Menon et al. (2021), ``loss='logit_adjusted'``
  (Balanced Softmax at its default ``la_tau=1``), and its **post-hoc** form,
  ``posthoc_tau``, which adjusts a plainly trained net at prediction;
- the **focal loss** of Lin et al. (2017), ``loss='focal'``;
- **classifier re-training** (cRT) of Kang et al. (2020),
  ``rebalance='crt'``: the head alone re-trained on class-balanced batches
  after the features are learnt, and the same paper's **tau-normalised**
  head, ``tau_norm``, another adjustment made at prediction.

This example fits each of them, :class:`skremix.RemixClassifier` at its
defaults and Remix combined with the logit-adjusted loss, on sklearn's 8x8
digits with a long-tailed imbalance (ratio 50: digit 0 keeps all its
training samples, digit 9 a fiftieth), a few seeds each, and plots the
balanced accuracy on a class-balanced test set and the recall of each digit
against its number of training samples. Read the right-hand panel for where
a method's gain comes from: re-balancing by class (logit adjustment, cRT,
Remix's label rule with deferred re-weighting) moves recall towards the rare
digits, the focal loss re-weights by difficulty rather than by class, and
cRT's re-initialised head has only the last fifth of the epochs to learn
(``rebalance_start=0.8``), which a short budget may not fill.

A few seeds on one small data set is an illustration, not a measurement:
the quality matrix (:ref:`quality`) compares these columns paired by seed
with intervals on fifteen settings and three budgets. The figure is written
next to this script, or into the folder named by the ``SKREMIX_EXAMPLES_OUT``
environment variable. Runs in about 40 s of CPU time.
"""

# %%
# Data: long-tailed digits, a balanced test set
# ---------------------------------------------
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import balanced_accuracy_score, recall_score  # noqa: E402

from skremix import ERMClassifier, RemixClassifier  # noqa: E402
from skremix.datasets import (  # noqa: E402
    balanced_split,
    load_digits_images,
    make_imbalanced,
)

X, y = load_digits_images()
SEEDS, EPOCHS = (0, 1, 2), 20

# %%
# The columns: each baseline is a parameter of any skremix class
# ---------------------------------------------------------------
COLUMNS = {
    "ERM": lambda s: ERMClassifier(random_state=s),
    "logit-adjusted": lambda s: ERMClassifier(loss="logit_adjusted", random_state=s),
    "focal": lambda s: ERMClassifier(loss="focal", random_state=s),
    "cRT": lambda s: ERMClassifier(rebalance="crt", random_state=s),
    "Remix": lambda s: RemixClassifier(random_state=s),
    # Remix's label rule and mixing, re-balanced by the loss instead of DRW
    "Remix + LA": lambda s: RemixClassifier(
        loss="logit_adjusted", rebalance=None, random_state=s
    ),
}

# Two adjustments act at prediction only: they are set on the fitted ERM net
# (``set_params``), no second fit needed.
POSTHOC = {"post-hoc LA": {"posthoc_tau": 1.0}, "tau-norm": {"tau_norm": 1.0}}
NAMES = ["ERM", *POSTHOC, *list(COLUMNS)[1:]]

bacc = {name: [] for name in NAMES}
recall = {name: [] for name in NAMES}


def score(name, clf):
    pred = clf.predict(X_te)
    bacc[name].append(100 * balanced_accuracy_score(y_te, pred))
    recall[name].append(100 * recall_score(y_te, pred, average=None))


for seed in SEEDS:
    X_tr, X_te, y_tr, y_te = balanced_split(X, y, 30, random_state=seed)
    X_tr, y_tr = make_imbalanced(
        X_tr, y_tr, kind="long_tailed", ratio=50, random_state=seed
    )
    counts = np.bincount(y_tr, minlength=10)
    for name, make in COLUMNS.items():
        clf = make(seed).set_params(max_epochs=EPOCHS, verbose=0).fit(X_tr, y_tr)
        score(name, clf)
        if name == "ERM":
            for post, params in POSTHOC.items():
                score(post, clf.set_params(**params))
            clf.set_params(posthoc_tau=None, tau_norm=None)

print(f"training counts per digit (seed {SEEDS[-1]}): {counts.tolist()}")
for name in NAMES:
    gain = np.subtract(bacc[name], bacc["ERM"])
    print(
        f"{name:<15} balanced accuracy {np.mean(bacc[name]):5.1f}  "
        f"minus ERM, per seed: {', '.join(f'{g:+.1f}' for g in gain)}"
    )

# %%
# Balanced accuracy, and the recall of each digit against its frequency
# ---------------------------------------------------------------------
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.2))
names = NAMES
for i, name in enumerate(names):
    ax0.scatter(np.full(len(SEEDS), i), bacc[name], color="grey", s=12, zorder=2)
    ax0.bar(i, np.mean(bacc[name]), color=plt.cm.tab10(i), alpha=0.8)
ax0.set_xticks(range(len(names)), names, rotation=35, ha="right")
ax0.set_ylabel("balanced accuracy (%)")
ax0.set_ylim(min(min(v) for v in bacc.values()) - 5, 100)
ax0.set_title("bars: mean over seeds, dots: each seed")

order = np.argsort(-counts)
for i, name in enumerate(names):
    if name in ("ERM", "logit-adjusted", "focal", "cRT", "Remix + LA"):
        mean_recall = np.mean(recall[name], axis=0)[order]
        ax1.plot(counts[order], mean_recall, "o-", color=plt.cm.tab10(i), label=name)
ax1.set_xscale("log")
ax1.set_xlabel("training samples of the digit (log scale)")
ax1.set_ylabel("test recall of the digit (%), mean over seeds")
ax1.legend(fontsize=8)
ax1.set_title("long-tailed digits, ratio 50")
fig.tight_layout()

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
out = (
    Path(os.environ.get("SKREMIX_EXAMPLES_OUT", HERE)) / "plot_long_tail_baselines.png"
)
out.parent.mkdir(parents=True, exist_ok=True)
fig.savefig(out, dpi=100)
print("saved", out)
