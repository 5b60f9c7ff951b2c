"""Imbalanced text classification with an embedding model
======================================================

Short messages sorted into four intents, one common and three rare, the
shape of support-ticket or toxicity data. The network is a bag of token
embeddings, a hidden layer and a linear head; its input is token ids, so
the skremix classifiers are given ``integer_inputs='keep'`` (the ids reach
the module as int64) and mix at the hidden layer (``mix_layer='hidden'``):
a mix of two token ids is not a token id.

The contenders, on one network and one budget: plain skorch, plain training
on skremix's loop (:class:`skremix.ERMClassifier`), imbalanced-learn's
random over-sampler in front of it (SMOTE would interpolate ids, so it does
not apply), deferred re-weighting, and the skremix methods that act on a
hidden layer. Scores are on a balanced test set, averaged over three seeds.

The messages are generated (no download): each is 6 to 16 tokens from a
Zipf-like background vocabulary, where each token is, with a small
probability, one of its intent's keywords, or one of a neighbouring
intent's (so that the rare intents overlap the common one).
"""

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from imblearn.over_sampling import RandomOverSampler  # noqa: E402
from imblearn.pipeline import make_pipeline  # noqa: E402
from sklearn.metrics import balanced_accuracy_score, f1_score  # noqa: E402
from skorch import NeuralNetClassifier  # noqa: E402
from torch import nn  # noqa: E402

from skremix import (  # noqa: E402
    ERMClassifier,
    MFWClassifier,
    RemixClassifier,
    RSGClassifier,
)

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
OUT = Path(os.environ.get("SKREMIX_EXAMPLES_OUT", HERE))
OUT.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(1)

# %%
# Generated messages: token 0 pads every message to 16 tokens.

VOCAB, KEYWORDS, LENGTH = 400, 8, 16
TRAIN_COUNTS, TEST_PER_CLASS = (500, 60, 25, 10), 60


def make_messages(counts, rng):
    """Token ids of shape (sum(counts), LENGTH) and their intents."""
    background = 1 + np.arange(VOCAB - 1 - KEYWORDS * len(counts))
    zipf = 1.0 / np.arange(1, len(background) + 1)
    zipf /= zipf.sum()
    X = np.zeros((sum(counts), LENGTH), dtype=np.int64)
    y = np.repeat(np.arange(len(counts)), counts)
    for i, c in enumerate(y):
        n = rng.integers(6, LENGTH + 1)
        tokens = rng.choice(background, size=n, p=zipf)
        draw = rng.random(n)
        own = background[-1] + 1 + KEYWORDS * c + rng.integers(0, KEYWORDS, n)
        other = (c + 1) % len(counts)
        near = background[-1] + 1 + KEYWORDS * other + rng.integers(0, KEYWORDS, n)
        tokens = np.where(draw < 0.15, own, np.where(draw < 0.22, near, tokens))
        X[i, :n] = tokens
    return X, y


rng = np.random.default_rng(0)
X_train, y_train = make_messages(TRAIN_COUNTS, rng)
X_test, y_test = make_messages((TEST_PER_CLASS,) * len(TRAIN_COUNTS), rng)
print("training messages per intent:", np.bincount(y_train))
print("first message:", X_train[0])


# %%
# The network: the mean of the token embeddings (padding left out), one
# hidden layer, a linear head. Its hidden layer is named ``hidden``.


class TextNet(nn.Module):
    def __init__(self, n_classes, vocab=VOCAB, dim=32, width=64):
        super().__init__()
        self.embed = nn.EmbeddingBag(vocab, dim, mode="mean", padding_idx=0)
        self.hidden = nn.Sequential(nn.Linear(dim, width), nn.ReLU())
        self.head = nn.Linear(width, n_classes)

    def forward(self, x):
        return self.head(self.hidden(self.embed(x)))


# %%
# One budget for all; skremix's classifiers take the ids as they are.

BUDGET = dict(max_epochs=25, batch_size=32, lr=3e-3)
IDS = dict(integer_inputs="keep", **BUDGET)


def contenders(seed):
    return {
        "skorch": NeuralNetClassifier(
            TextNet,
            module__n_classes=4,
            criterion=nn.CrossEntropyLoss,  # skorch's default NLLLoss wants log-probs
            optimizer=torch.optim.AdamW,
            train_split=None,
            iterator_train__shuffle=True,
            verbose=0,
            **BUDGET,
        ),
        "ERM": ERMClassifier(TextNet, random_state=seed, **IDS),
        "RandomOverSampler + ERM": make_pipeline(
            RandomOverSampler(random_state=seed),
            ERMClassifier(TextNet, random_state=seed, **IDS),
        ),
        "ERM, DRW": ERMClassifier(TextNet, rebalance="drw", random_state=seed, **IDS),
        "Remix-DRW (hidden)": RemixClassifier(
            TextNet, mix="manifold", mix_layer="hidden", random_state=seed, **IDS
        ),
        "MFW-DRW (hidden)": MFWClassifier(
            TextNet, mix_layer="hidden", random_state=seed, **IDS
        ),
        "RSG-DRW (hidden)": RSGClassifier(
            TextNet, mix_layer="hidden", random_state=seed, **IDS
        ),
    }


# %%
# Three seeds each; balanced accuracy, macro-F1 and the recall of the
# rarest intent on the balanced test set.

scores = {}
for seed in range(3):
    torch.manual_seed(seed)  # plain skorch draws from the global generator
    for name, clf in contenders(seed).items():
        pred = clf.fit(X_train, y_train).predict(X_test)
        row = scores.setdefault(name, {"bacc": [], "f1": [], "rare": []})
        row["bacc"].append(balanced_accuracy_score(y_test, pred))
        row["f1"].append(f1_score(y_test, pred, average="macro"))
        row["rare"].append(np.mean(pred[y_test == 3] == 3))

width = max(map(len, scores))
print(f"{'method':{width}s}  {'bal. acc.':>13s}  {'macro-F1':>13s}  {'rarest':>13s}")
for name, row in scores.items():
    cells = [f"{np.mean(v):.3f} ± {np.std(v):.3f}" for v in row.values()]
    print(f"{name:{width}s}  " + "  ".join(f"{c:>13s}" for c in cells))

# %%
# Balanced accuracy and the rarest intent's recall per method.

names = list(scores)
x = np.arange(len(names))
fig, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")
for shift, key, label, color in (
    (-0.2, "bacc", "balanced accuracy", "#4c72b0"),
    (0.2, "rare", "recall of the rarest intent", "#dd8452"),
):
    means = [np.mean(scores[n][key]) for n in names]
    stds = [np.std(scores[n][key]) for n in names]
    ax.bar(x + shift, means, 0.4, yerr=stds, capsize=3, label=label, color=color)
ax.set_xticks(x, names, rotation=30, ha="right")
ax.set_ylim(0, 1)
ax.set_ylabel("balanced test set (mean ± std, 3 seeds)")
ax.set_title("Four intents, 500 / 60 / 25 / 10 training messages")
ax.grid(axis="y", alpha=0.3)
ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
path = OUT / "plot_text_classification.png"
fig.savefig(path, dpi=100)
print(f"saved {path}")
