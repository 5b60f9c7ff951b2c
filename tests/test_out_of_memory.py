"""A CUDA out-of-memory error during fit or predict says what to change:
the batch size, the input size and where the data lives (simulated on the
CPU by a module that raises torch's out-of-memory error)."""

import numpy as np
import pytest
import torch
from torch import nn

from skremix import ERMClassifier, RemixClassifier


class Exhausting(nn.Module):
    """A network whose forward raises the error CUDA raises, from a chosen
    call on (``fail_from`` 0: the first training step)."""

    fail_from = 0

    def __init__(self, n_features, n_classes):
        super().__init__()
        self.linear = nn.Linear(n_features, n_classes)
        self.calls = 0

    def forward(self, x):
        # Training steps fail from call fail_from on; any forward with a
        # negative fail_from (the checks of the built module run in eval mode).
        fails = self.training or type(self).fail_from < 0
        if self.training:
            self.calls += 1
        if fails and self.calls > type(self).fail_from:
            raise torch.OutOfMemoryError(
                "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.1 GiB "
                "total capacity)"
            )
        return self.linear(x)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(100, 5)).astype(np.float32), np.arange(100) % 2


@pytest.mark.parametrize("cls", [ERMClassifier, RemixClassifier])
def test_out_of_memory_in_training_names_batch_size_input_and_advice(cls, data):
    X, y = data
    Exhausting.fail_from = 0
    clf = cls(module=Exhausting, batch_size=48, max_epochs=2)
    with pytest.raises(torch.OutOfMemoryError) as info:
        clf.fit(X, y)
    message = str(info.value)
    assert f"{cls.__name__} ran out of device memory while training" in message
    assert "batch_size=48" in message and "100 samples of shape 5" in message
    assert "lower batch_size (now 48)" in message
    assert "data_placement='host'" in message  # the data was moved whole
    assert "precision='bf16'" in message
    assert "Tried to allocate 2.00 GiB" in message  # torch's own words kept
    assert isinstance(info.value.__cause__, torch.OutOfMemoryError)


def test_out_of_memory_in_prediction(data):
    X, y = data
    Exhausting.fail_from = 10**6
    clf = ERMClassifier(
        module=Exhausting, max_epochs=1, iterator_valid__batch_size=25
    ).fit(X, y)
    Exhausting.fail_from = -1  # fail on the next forward, in any mode
    with pytest.raises(torch.OutOfMemoryError) as info:
        clf.predict_proba(X)
    message = str(info.value)
    assert "while predicting" in message and "batch_size=25" in message
    assert "data_placement" not in message  # prediction moves batches anyway
