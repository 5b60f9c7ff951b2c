"""Tuning Remix: a grid search over ``tau`` and ``kappa``
======================================================

:class:`skremix.RemixClassifier` relabels a mixed pair with the minority
label when the majority class is at least ``kappa`` times larger and
contributes less than ``tau`` of the features (Eq. 10 of Chou et al.).
``tau=0`` is plain Mixup; a ``kappa`` above the data's imbalance ratio never
triggers the rule either.

Remix is an ordinary scikit-learn estimator, so ``GridSearchCV`` tunes it
inside a pipeline (here after a ``StandardScaler``) with a stratified,
shuffled k-fold and an imbalance-aware score. The heat map shows the mean
cross-validated balanced accuracy of every ``(tau, kappa)`` pair; the
printed table adds the g-mean of the best pairs.

The data has two count levels only (300 and 30, a ratio of 10), so every
``kappa`` up to 10 picks the same majority/minority pairs and gives the same
column, and ``kappa=12`` never relabels: it equals Mixup, the ``tau=0`` row.
Larger ``tau`` hands more mixed pairs to the minority class and helps here.
"""

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skremix import RemixClassifier  # noqa: E402
from skremix.datasets import make_imbalanced  # noqa: E402
from skremix.metrics import geometric_mean_scorer  # noqa: E402

# The figure goes next to this script, or into the folder SKREMIX_EXAMPLES_OUT
# names (sphinx-gallery runs the examples from their folder, without __file__).
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
OUT = Path(os.environ.get("SKREMIX_EXAMPLES_OUT", HERE))
OUT.mkdir(parents=True, exist_ok=True)
# Small networks run fastest on one CPU thread (and leave the other cores free).
torch.set_num_threads(1)

# %%
# Three classes with step imbalance 10: 300, 30 and 30 samples.

X, y = make_classification(
    n_samples=1500,
    n_features=8,
    n_informative=5,
    n_classes=3,
    n_clusters_per_class=1,
    class_sep=1.0,
    random_state=0,
)
X, y = make_imbalanced(
    X.astype(np.float32), y, kind="step", ratio=10, n_max=300, random_state=0
)
print("class counts:", np.bincount(y))

# %%
# The grid: 5 values of tau x 4 of kappa, 3-fold stratified CV.

pipe = Pipeline(
    [
        ("scale", StandardScaler()),
        # The paper's plain Remix (alpha=1, no deferred re-weighting), so that
        # tau=0 is plain Mixup; RemixClassifier() adds DRW and uses alpha=0.4.
        (
            "remix",
            RemixClassifier(
                alpha=1.0, rebalance=None, max_epochs=15, lr=3e-3, random_state=0
            ),
        ),
    ]
)
taus = [0.0, 0.25, 0.5, 0.75, 1.0]
kappas = [1.5, 3.0, 6.0, 12.0]
search = GridSearchCV(
    pipe,
    {"remix__tau": taus, "remix__kappa": kappas},
    scoring={"balanced_accuracy": "balanced_accuracy", "g_mean": geometric_mean_scorer},
    refit="balanced_accuracy",
    cv=StratifiedKFold(3, shuffle=True, random_state=0),
    n_jobs=1,  # on a GPU, see the user guide before raising n_jobs
)
search.fit(X, y)

# %%
# The best pairs, and the score surface as a heat map.

res = search.cv_results_
order = np.argsort(res["rank_test_balanced_accuracy"])
print(f"{'tau':>5s} {'kappa':>6s} {'bal. acc.':>16s} {'g-mean':>16s}")
for i in order[:5]:
    print(
        f"{res['param_remix__tau'][i]:5.2f} {res['param_remix__kappa'][i]:6.1f} "
        f"{res['mean_test_balanced_accuracy'][i]:8.3f} "
        f"± {res['std_test_balanced_accuracy'][i]:.3f} "
        f"{res['mean_test_g_mean'][i]:8.3f} ± {res['std_test_g_mean'][i]:.3f}"
    )
print("best:", search.best_params_)

grid = np.empty((len(taus), len(kappas)))
for i, params in enumerate(res["params"]):
    grid[taus.index(params["remix__tau"]), kappas.index(params["remix__kappa"])] = res[
        "mean_test_balanced_accuracy"
    ][i]

fig, ax = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
image = ax.imshow(grid, cmap="viridis", origin="lower", aspect="auto")
for i in range(len(taus)):
    for j in range(len(kappas)):
        best = (taus[i], kappas[j]) == (
            search.best_params_["remix__tau"],
            search.best_params_["remix__kappa"],
        )
        ax.text(
            j,
            i,
            f"{grid[i, j]:.3f}",
            ha="center",
            va="center",
            color="black" if grid[i, j] > grid.mean() else "white",
            fontweight="bold" if best else "normal",
            fontsize=9,
        )
ax.set_xticks(range(len(kappas)), [f"{k:g}" for k in kappas])
ax.set_yticks(range(len(taus)), [f"{t:g}" for t in taus])
ax.set_xlabel("kappa (count ratio that triggers relabelling)")
ax.set_ylabel("tau (feature share below which\nthe majority label is dropped)")
ax.set_title(
    "Remix: 3-fold CV balanced accuracy\n(step imbalance 10; tau = 0 is Mixup)"
)
fig.colorbar(image, ax=ax, label="balanced accuracy")
path = OUT / "plot_grid_search_tau_kappa.png"
fig.savefig(path, dpi=100)
print(f"saved {path}")
