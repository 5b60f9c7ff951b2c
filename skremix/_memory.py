"""Where the training data lives on a device, and what to do when it does
not fit: the ``data_placement`` decision and the out-of-memory errors that
say what to change."""

from __future__ import annotations

import torch

__all__: list[str] = []


def data_placement(estimator, X):
    """Where the training data lives during fit: 'device' (moved once)
    or 'host' (each batch moved on its own), from ``data_placement``."""
    if estimator.data_placement != "auto":
        return estimator.data_placement
    device = torch.device(estimator.device)
    if device.type != "cuda":
        return "device"  # the host is the device: nothing is copied
    free, _ = torch.cuda.mem_get_info(device)
    return "device" if X.element_size() * X.nelement() <= 0.5 * free else "host"


def out_of_memory_error(estimator, exc, X, doing):
    """The out-of-memory error of ``doing`` with what to change: the
    batch size, the input size and where the data lives."""
    batch = estimator.get_params_for(
        "iterator_train" if doing == "training" else "iterator_valid"
    ).get("batch_size", estimator.batch_size)
    n = len(X)
    shape = "x".join(map(str, estimator.input_shape_))
    size = X.element_size() * X.nelement() if hasattr(X, "nelement") else None
    data = "" if size is None else f", {size / 2**20:.0f} MiB"
    where = getattr(estimator, "data_placement_", None)
    advice = [f"lower batch_size (now {batch})"]
    if doing == "training" and where == "device":
        advice.append(
            "keep the data on the host with data_placement='host' (the "
            "training set was moved to the device whole)"
        )
    if estimator.precision == "fp32":
        advice.append("try precision='bf16'")
    advice.append("or use a smaller module")
    message = (
        f"{type(estimator).__name__} ran out of device memory while {doing} on "
        f"{estimator.device}: batch_size={batch}, {n} samples of shape {shape}"
        f"{data}. To fit, " + ", ".join(advice) + f". The error was: {exc}"
    )
    return type(exc)(message)
