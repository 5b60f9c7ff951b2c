"""Helpers the tests import: the classifier list and small, fast settings."""

import torch
from torch import nn

import skremix


def all_classifiers():
    """Every public classifier of skremix, so new methods join the common
    tests by being exported."""
    return [
        getattr(skremix, name)
        for name in skremix.__all__
        if name.endswith("Classifier")
    ]


# Small, fast settings that still learn the checks' toy problems.
FAST = dict(max_epochs=40, batch_size=32, lr=1e-2, random_state=0)


class Headless(torch.nn.Module):
    """A module whose classifier layer is not named ``head``: what
    ``rebalance='crt'`` and ``tau_norm`` must refuse."""

    def __init__(self, n_features, n_classes):
        super().__init__()
        self.fc = torch.nn.Linear(n_features, n_classes)

    def forward(self, x):
        return self.fc(x)


class TextNet(nn.Module):
    """Bag of embeddings -> hidden layer -> head: a token-id classifier."""

    def __init__(self, n_classes, vocab=300, dim=8):
        super().__init__()
        self.embed = nn.EmbeddingBag(vocab, dim, mode="mean")
        self.hidden = nn.Sequential(nn.Linear(dim, 16), nn.ReLU())
        self.head = nn.Linear(16, n_classes)

    def forward(self, x):
        return self.head(self.hidden(self.embed(x)))
