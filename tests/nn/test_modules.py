"""Tests for the built-in network modules of :mod:`skremix.nn`."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
from torch import nn

from skremix.nn import (
    MLP,
    ConvNet,
    NormedLinear,
    ResNet32,
    ResNetCifar,
    default_module,
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _mix_layer_output(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run ``module`` on ``x`` and capture the output of its mix layer."""
    captured: list[torch.Tensor] = []
    layer = module.get_submodule(module.default_mix_layer)
    handle = layer.register_forward_hook(lambda m, i, o: captured.append(o))
    try:
        module(x)
    finally:
        handle.remove()
    assert len(captured) == 1
    return captured[0]


# --------------------------------------------------------------------- MLP


@pytest.mark.parametrize("normed_head", [False, True])
@pytest.mark.parametrize(
    "hidden_units, mix_layer",
    [((128, 128, 128), "blocks.1"), ((8, 6), "blocks.1"), ((5,), "blocks.0")],
)
def test_mlp_shapes_and_mix_layer(hidden_units, mix_layer, normed_head):
    net = MLP(7, n_classes=3, hidden_units=hidden_units, normed_head=normed_head)
    assert net.default_mix_layer == mix_layer
    x = torch.randn(4, 7)
    out = net(x)
    assert out.shape == (4, 3)
    if normed_head:
        assert isinstance(net.head, NormedLinear)
        assert out.abs().max() <= 1 + 1e-6
    else:
        assert isinstance(net.head, nn.Linear)
    idx = int(mix_layer.split(".")[1])
    assert _mix_layer_output(net, x).shape == (4, hidden_units[idx])


def test_mlp_class_attribute_and_structure():
    assert MLP.default_mix_layer == "blocks.1"
    net = MLP(3, hidden_units=(4, 5), dropout=0.25)
    assert len(net.blocks) == 2
    linear, relu, drop = net.blocks[1]
    assert isinstance(linear, nn.Linear) and linear.in_features == 4
    assert isinstance(relu, nn.ReLU)
    assert isinstance(drop, nn.Dropout) and drop.p == 0.25
    assert not any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules()
    )


def test_mlp_flattens_input():
    net = MLP(12, hidden_units=(4,))
    assert net(torch.randn(3, 3, 4)).shape == (3, 2)


def test_mlp_trains_with_batch_of_one():
    net = MLP(5, n_classes=2, hidden_units=(8, 8, 8), dropout=0.5).train()
    out = net(torch.randn(1, 5))
    assert out.shape == (1, 2)
    nn.functional.cross_entropy(out, torch.tensor([1])).backward()
    assert net.blocks[0][0].weight.grad is not None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_features=0), "n_features"),
        (dict(n_features=3, n_classes=1), "n_classes"),
        (dict(n_features=3, hidden_units=()), "hidden_units"),
        (dict(n_features=3, hidden_units=(4, 0)), "hidden_units"),
        (dict(n_features=3, dropout=1.0), "dropout"),
        (dict(n_features=3, dropout=-0.1), "dropout"),
    ],
)
def test_mlp_bad_params(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(**kwargs)


# ----------------------------------------------------------------- ConvNet


@pytest.mark.parametrize("normed_head", [False, True])
@pytest.mark.parametrize("hw", [(8, 8), (5, 7), (1, 1), (1, 4), (28, 28)])
def test_convnet_shapes_train_mode(hw, normed_head):
    h, w = hw
    net = ConvNet(in_channels=2, n_classes=4, width=4, normed_head=normed_head)
    net.train()
    x = torch.randn(2, 2, h, w)
    out = net(x)
    assert out.shape == (2, 4)
    out.sum().backward()
    assert _mix_layer_output(net, x).shape == (2, 8, math.ceil(h / 2), math.ceil(w / 2))


def test_convnet_default_mix_layer_and_eval_batch_of_one():
    assert ConvNet.default_mix_layer == "block2"
    net = ConvNet().eval()
    assert net.default_mix_layer == "block2"
    assert isinstance(net.get_submodule("block2")[-1], nn.MaxPool2d)
    with torch.no_grad():
        assert net(torch.randn(1, 1, 8, 8)).shape == (1, 10)
    assert net.head.in_features == 128


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(in_channels=0), "in_channels"),
        (dict(n_classes=1), "n_classes"),
        (dict(width=0), "width"),
    ],
)
def test_convnet_bad_params(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConvNet(**kwargs)


# ------------------------------------------------------------------ ResNet


def _expected_resnet_params(num_blocks: int, in_channels: int, n_classes: int) -> int:
    """Parameter count of a CIFAR ResNet with option-A shortcuts, by hand."""

    def conv(cin: int, cout: int) -> int:
        return cin * cout * 9  # 3x3, no bias

    def bn(c: int) -> int:
        return 2 * c  # weight and bias

    total = conv(in_channels, 16) + bn(16)
    cin = 16
    for planes in (16, 32, 64):
        for _ in range(num_blocks):
            total += conv(cin, planes) + bn(planes) + conv(planes, planes) + bn(planes)
            cin = planes  # option-A shortcut has no parameters
    return total + 64 * n_classes + n_classes


def test_resnet32_parameter_count():
    n_params = sum(p.numel() for p in ResNet32(n_classes=10).parameters())
    assert n_params == _expected_resnet_params(5, 3, 10) == 464_154
    assert 450_000 <= n_params <= 480_000
    # cosine head: no bias
    normed = sum(p.numel() for p in ResNet32(normed_head=True).parameters())
    assert normed == 464_154 - 10
    assert sum(
        p.numel()
        for p in ResNetCifar(num_blocks=3, in_channels=1, n_classes=4).parameters()
    ) == _expected_resnet_params(3, 1, 4)


def test_resnet32_structure():
    net = ResNet32()
    assert ResNet32.default_mix_layer == net.default_mix_layer == "layer2"
    assert isinstance(net.conv1, nn.Conv2d) and isinstance(net.bn1, nn.BatchNorm2d)
    for name, planes in [("layer1", 16), ("layer2", 32), ("layer3", 64)]:
        layer = net.get_submodule(name)
        assert len(layer) == 5
        assert layer[-1].conv2.out_channels == planes
    assert isinstance(net.head, nn.Linear) and net.head.in_features == 64
    assert isinstance(ResNet32(normed_head=True).head, NormedLinear)


def test_resnet32_mix_layer_output_32x32():
    net = ResNet32(n_classes=10).train()
    x = torch.randn(2, 3, 32, 32)
    mixed = _mix_layer_output(net, x)
    assert mixed.shape == (2, 32, 16, 16)
    assert net(x).shape == (2, 10)


@pytest.mark.parametrize("hw", [(1, 1), (7, 5), (40, 33)])
def test_resnet_any_input_size_train_mode(hw):
    net = ResNetCifar(num_blocks=1, in_channels=1, n_classes=3).train()
    x = torch.randn(2, 1, *hw)
    out = net(x)
    assert out.shape == (2, 3)
    out.sum().backward()
    h, w = hw
    assert _mix_layer_output(net, x).shape == (
        2,
        32,
        math.ceil(h / 2),
        math.ceil(w / 2),
    )


def test_resnet_option_a_shortcut_is_parameter_free_and_picklable():
    net = ResNetCifar(num_blocks=1)
    first = net.layer2[0]
    assert sum(p.numel() for p in first.shortcut.parameters()) == 0
    y = first.shortcut(torch.ones(1, 16, 4, 4))
    assert y.shape == (1, 32, 2, 2)
    # zero padding: 8 channels before and after, input channels in the middle
    assert torch.equal(y[:, 8:24], torch.ones(1, 16, 2, 2))
    assert y[:, :8].abs().sum() == 0 and y[:, 24:].abs().sum() == 0
    clone = pickle.loads(pickle.dumps(net))
    assert isinstance(clone, ResNetCifar)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(in_channels=0), "in_channels"),
        (dict(n_classes=1), "n_classes"),
    ],
)
def test_resnet32_bad_params(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResNet32(**kwargs)


def test_resnet_cifar_bad_num_blocks():
    with pytest.raises(ValueError, match="num_blocks"):
        ResNetCifar(num_blocks=0)


# ------------------------------------------------------------ NormedLinear


def test_normed_linear_hand_made_example():
    head = NormedLinear(2, 2)
    with torch.no_grad():
        head.weight.copy_(
            torch.tensor([[1.0, 1.0], [0.0, 1.0]])
        )  # columns (1,0), (1,1)
    x = torch.tensor([[3.0, 0.0], [0.0, -2.0]])
    expected = torch.tensor(
        [
            [1.0, 1.0 / math.sqrt(2.0)],  # (1,0).(1,0) ; (1,0).(1,1)/sqrt2
            [0.0, -1.0 / math.sqrt(2.0)],  # (0,-1).(1,0) ; (0,-1).(1,1)/sqrt2
        ]
    )
    torch.testing.assert_close(head(x), expected)
    cos = nn.functional.cosine_similarity(x[:, :, None], head.weight[None], dim=1)
    torch.testing.assert_close(head(x), cos)


def test_normed_linear_range_init_and_grad():
    head = NormedLinear(16, 5)
    assert head.weight.shape == (16, 5)
    torch.testing.assert_close(head.weight.norm(dim=0), torch.ones(5))
    x = torch.randn(64, 16) * 100
    out = head(x)
    assert out.shape == (64, 5)
    assert out.min() >= -1 - 1e-6 and out.max() <= 1 + 1e-6
    out.sum().backward()
    assert head.weight.grad is not None
    assert sum(p.numel() for p in head.parameters()) == 80


def test_normed_linear_bad_params():
    with pytest.raises(ValueError, match="in_features"):
        NormedLinear(0, 2)
    with pytest.raises(ValueError, match="out_features"):
        NormedLinear(2, 0)


# ----------------------------------------------------------- default_module


@pytest.mark.parametrize(
    "shape, expected",
    [
        ((1,), MLP),
        ((64,), MLP),
        ((1, 8, 8), ConvNet),
        ((3, 28, 28), ConvNet),
        ((3, 31, 64), ConvNet),
        ((3, 64, 31), ConvNet),
        ((3, 32, 32), ResNet32),
        ((1, 32, 100), ResNet32),
        ((3, 224, 224), ResNet32),
    ],
)
def test_default_module_rule(shape, expected):
    assert default_module(shape) is expected


@pytest.mark.parametrize("shape", [(), (8, 8), (1, 3, 8, 8), (0,), (3, 0, 32)])
def test_default_module_bad_shape(shape):
    with pytest.raises(ValueError, match="input_shape"):
        default_module(shape)
