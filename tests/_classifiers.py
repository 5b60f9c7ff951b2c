"""Helpers the tests import: the classifier list and small, fast settings."""

import torch

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
