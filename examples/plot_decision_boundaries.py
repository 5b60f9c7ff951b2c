"""Decision boundaries on imbalanced 2-D data: ERM, SMOTE, Remix, ReMix, MFW
==========================================================================

Three toy problems (two moons, blobs, circles) with the second class made
ten times rarer than the first. Every method trains the same MLP with the
same budget; only the training method changes. The background shows the
predicted probability of the rare class, the black line where it is 0.5,
and each panel's title the balanced accuracy on a balanced test set.

ERM draws the boundary tight around the rare class; SMOTE, Remix, ReMix and
MFW push it outward, each in its own way. The circles show where input
mixing can fail, though not at Remix's defaults: without re-weighting
(``RemixClassifier(alpha=1.0, rebalance=None)``, the paper's plain Remix),
majority points from opposite sides of the ring mix into the centre, where
the rare class lives, and are labelled majority (both partners are
majority, so Remix's rule does not apply); the rare class is drowned out
("manifold intrusion") and the balanced accuracy falls to 0.50 (plain
Mixup, ``tau=0``, fails the same way, and so does ``alpha=0.3``). The
defaults' deferred re-weighting (``rebalance='drw'``) gives the rare class
back in the last epochs (0.92 in the figure), and ``mix='manifold'``, which
mixes hidden features, recovers without it (0.91). ReMix balances its
batches, so that most mixed pairs involve the rare class; MFW mixes hidden
features and keeps the labels. Methods whose class is not in the installed
skremix are skipped.
"""

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from imblearn.over_sampling import SMOTE  # noqa: E402
from imblearn.pipeline import make_pipeline  # noqa: E402
from sklearn.datasets import make_blobs, make_circles, make_moons  # noqa: E402
from sklearn.metrics import balanced_accuracy_score  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import skremix  # noqa: E402
from skremix.datasets import balanced_split, make_imbalanced  # noqa: E402

# The figure goes next to this script, or into the folder SKREMIX_EXAMPLES_OUT
# names (sphinx-gallery runs the examples from their folder, without __file__).
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
OUT = Path(os.environ.get("SKREMIX_EXAMPLES_OUT", HERE))
OUT.mkdir(parents=True, exist_ok=True)
# Small networks run fastest on one CPU thread (and leave the other cores free).
torch.set_num_threads(1)

# %%
# The data: 400 majority and 40 minority training points per problem, and a
# balanced test set of 150 points per class.


def datasets(seed=0):
    n = 550  # per class before splitting
    yield "two moons", make_moons(2 * n, noise=0.25, random_state=seed)
    yield (
        "blobs",
        make_blobs(
            2 * n, centers=[[0, 0], [1.8, 1.8]], cluster_std=1.0, random_state=seed
        ),
    )
    yield "circles", make_circles(2 * n, noise=0.15, factor=0.5, random_state=seed)


# %%
# The methods: one shared budget, the default MLP (three hidden layers of 128
# units), AdamW. The features are standardised first.

BUDGET = dict(max_epochs=40, batch_size=64, lr=5e-3, random_state=0)


def methods():
    def get(name):
        return getattr(skremix, name, None)

    candidates = {
        "ERM": lambda: make_pipeline(StandardScaler(), get("ERMClassifier")(**BUDGET)),
        "SMOTE": lambda: make_pipeline(
            StandardScaler(), SMOTE(random_state=0), get("ERMClassifier")(**BUDGET)
        ),
        "Remix": lambda: make_pipeline(
            StandardScaler(), get("RemixClassifier")(**BUDGET)
        ),
        "ReMix": lambda: make_pipeline(
            StandardScaler(), get("ReMixClassifier")(**BUDGET)
        ),
        "MFW": lambda: make_pipeline(StandardScaler(), get("MFWClassifier")(**BUDGET)),
    }
    needs = {
        "ERM": "ERMClassifier",
        "SMOTE": "ERMClassifier",
        "Remix": "RemixClassifier",
        "ReMix": "ReMixClassifier",
        "MFW": "MFWClassifier",
    }
    out = {}
    for label, make in candidates.items():
        if get(needs[label]) is None:
            print(f"skipping {label}: skremix.{needs[label]} is not available")
            continue
        out[label] = make
    return out


# %%
# Fit everything and draw one row per problem, one column per method.

problems = list(datasets())
chosen = methods()
fig, axes = plt.subplots(
    len(problems),
    len(chosen),
    figsize=(2.6 * len(chosen), 2.6 * len(problems)),
    squeeze=False,
    layout="constrained",
)
for row, (title, (X, y)) in enumerate(problems):
    X = X.astype(np.float32)
    X_tr, X_te, y_tr, y_te = balanced_split(X, y, 150, random_state=0)
    X_tr, y_tr = make_imbalanced(X_tr, y_tr, kind="step", ratio=10, random_state=0)
    lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 150), np.linspace(lo[1], hi[1], 150))
    grid = np.c_[gx.ravel(), gy.ravel()].astype(np.float32)
    for col, (label, make) in enumerate(chosen.items()):
        clf = make().fit(X_tr, y_tr)
        bacc = balanced_accuracy_score(y_te, clf.predict(X_te))
        proba = clf.predict_proba(grid)[:, 1].reshape(gx.shape)
        ax = axes[row, col]
        ax.contourf(
            gx, gy, proba, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6
        )
        ax.contour(gx, gy, proba, levels=[0.5], colors="k", linewidths=1.2)
        ax.scatter(*X_tr[y_tr == 0].T, s=4, c="#2b5c8a", alpha=0.5)
        ax.scatter(
            *X_tr[y_tr == 1].T, s=14, c="#b2182b", edgecolors="k", linewidths=0.3
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{label}: bal. acc. {bacc:.3f}", fontsize=9)
        if col == 0:
            ax.set_ylabel(f"{title}\n(400 : 40)", fontsize=9)
        print(f"{title:10s} {label:6s} balanced accuracy {bacc:.3f}")

fig.suptitle("Imbalanced 2-D problems (ratio 10): P(rare class) and the 0.5 boundary")
path = OUT / "plot_decision_boundaries.png"
fig.savefig(path, dpi=100)
print(f"saved {path}")
