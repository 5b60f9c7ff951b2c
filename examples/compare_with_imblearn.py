"""skremix methods vs imbalanced-learn samplers, cross-validated
==============================================================

The comparison imbalanced-learn users make: ``cross_validate`` with a
shuffled ``StratifiedKFold``, every sampler *inside* an imblearn pipeline (so
that it only ever sees the training folds), and imbalance-aware scores:
balanced accuracy, the geometric mean of the per-class recalls
(:func:`imblearn.metrics.geometric_mean_score`), macro-F1 and the balanced
Brier score. The samplers feed the same network as the skremix methods
(:class:`skremix.ERMClassifier`, the plain training baseline), with the same
budget.

Data: the Wisconsin breast cancer set with the malignant class cut down to
10% of the samples (:func:`skremix.datasets.load_breast_cancer_imbalanced`).
Methods whose skremix class is not available are skipped.

With 40 malignant samples, a test fold holds 8 of them: one more or one
fewer found moves a fold's balanced accuracy by about 0.06, hence the wide
standard deviations. Read the differences between methods against them.
"""

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from imblearn.over_sampling import SMOTE, RandomOverSampler  # noqa: E402
from imblearn.pipeline import make_pipeline  # noqa: E402
from imblearn.under_sampling import RandomUnderSampler  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_validate  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import skremix  # noqa: E402
from skremix.datasets import load_breast_cancer_imbalanced  # noqa: E402
from skremix.metrics import get_scorers  # noqa: E402

# The figure goes next to this script, or into the folder SKREMIX_EXAMPLES_OUT
# names (sphinx-gallery runs the examples from their folder, without __file__).
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
OUT = Path(os.environ.get("SKREMIX_EXAMPLES_OUT", HERE))
OUT.mkdir(parents=True, exist_ok=True)
# Small networks run fastest on one CPU thread (and leave the other cores free).
torch.set_num_threads(1)

# %%
# 357 benign and 40 malignant samples, unscaled: every pipeline standardises.

X, y = load_breast_cancer_imbalanced(minority_fraction=0.1, random_state=0)
print("class counts (malignant, benign):", np.bincount(y))

# %%
# The contenders: one network (the default MLP), one budget.

BUDGET = dict(max_epochs=30, batch_size=64, lr=1e-3, random_state=0)


def net(name, **params):
    cls = getattr(skremix, name, None)
    return None if cls is None else cls(**BUDGET, **params)


def pipeline(*steps):
    if steps[-1] is None:
        return None
    return make_pipeline(StandardScaler(), *steps)


contenders = {
    "ERM": pipeline(net("ERMClassifier")),
    "RandomOverSampler + ERM": pipeline(
        RandomOverSampler(random_state=0), net("ERMClassifier")
    ),
    "RandomUnderSampler + ERM": pipeline(
        RandomUnderSampler(random_state=0), net("ERMClassifier")
    ),
    "SMOTE + ERM": pipeline(SMOTE(random_state=0), net("ERMClassifier")),
    "ERM, re-weighting (rw)": pipeline(net("ERMClassifier", rebalance="rw")),
    "Remix-DRW": pipeline(net("RemixClassifier", rebalance="drw")),
    "ReMix": pipeline(net("ReMixClassifier")),
    "MFW": pipeline(net("MFWClassifier")),
}

# %%
# 5-fold stratified cross-validation, shuffled and seeded.

cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
scores = {}
for name, estimator in contenders.items():
    if estimator is None:
        print(f"skipping {name}: its skremix class is not available")
        continue
    res = cross_validate(estimator, X, y, cv=cv, scoring=get_scorers())
    scores[name] = res

# %%
# The table: mean ± std over the folds; balanced Brier is lower-is-better.

columns = [
    ("balanced_accuracy", "bal. acc."),
    ("g_mean", "g-mean"),
    ("f1_macro", "macro-F1"),
    ("neg_balanced_brier", "bal. Brier"),
]
width = max(len(name) for name in scores)
print(f"{'method':{width}s}  " + "  ".join(f"{label:>13s}" for _, label in columns))
for name, res in scores.items():
    cells = []
    for key, _ in columns:
        values = res[f"test_{key}"] * (-1 if key.startswith("neg_") else 1)
        cells.append(f"{values.mean():.3f} ± {values.std():.3f}")
    print(f"{name:{width}s}  " + "  ".join(f"{c:>13s}" for c in cells))

# %%
# The same numbers as a chart: balanced accuracy and g-mean per method.

names = list(scores)
x = np.arange(len(names))
fig, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")
for shift, key, label, color in (
    (-0.2, "balanced_accuracy", "balanced accuracy", "#4c72b0"),
    (0.2, "g_mean", "g-mean", "#dd8452"),
):
    means = [scores[n][f"test_{key}"].mean() for n in names]
    stds = [scores[n][f"test_{key}"].std() for n in names]
    ax.bar(x + shift, means, 0.4, yerr=stds, capsize=3, label=label, color=color)
ax.set_xticks(x, names, rotation=30, ha="right")
ax.set_ylim(0.5, 1.0)
ax.set_ylabel("5-fold CV score (mean ± std)")
ax.set_title("Breast cancer, 10% malignant: imblearn samplers vs skremix methods")
ax.grid(axis="y", alpha=0.3)
ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
path = OUT / "compare_with_imblearn.png"
fig.savefig(path, dpi=100)
print(f"saved {path}")
