"""What the results were made with: library versions and the device."""

from __future__ import annotations

import os
import platform

import numpy as np

__all__ = ["versions", "device_info"]


def versions():
    """Versions of Python and the libraries the results depend on."""
    import imblearn
    import sklearn
    import skorch
    import torch

    import skremix

    out = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "skremix": skremix.__version__,
        "torch": torch.__version__,
        "skorch": skorch.__version__,
        "scikit-learn": sklearn.__version__,
        "imbalanced-learn": imblearn.__version__,
        "numpy": np.__version__,
    }
    try:
        import matplotlib

        out["matplotlib"] = matplotlib.__version__
    except ImportError:
        out["matplotlib"] = None
    return out


def device_info(device):
    """The device the nets trained on, in words, with the CPU thread count."""
    import torch

    info = {
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }
    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        info["gpu"] = torch.cuda.get_device_name(index)
    else:
        info["cpu"] = platform.processor() or platform.machine()
    return info
