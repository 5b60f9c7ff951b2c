"""Pure torch functions behind the methods: mixup and CutMix pairs, the Remix
label rule, MFW's feature weakening and hidden-layer hooks. The losses
that train on the soft targets are in :mod:`skremix.losses`.

They take their randomness as arguments, so each can be checked with
hand-made numbers.
"""

from skremix.mixing._feature_weakening import mfw_mix, mfw_strength
from skremix.mixing._hooks import resolve_layer, transform_output_at
from skremix.mixing._mixup import cutmix, cutmix_box, mixup, sample_lambda
from skremix.mixing._remix_rule import mixed_targets, remix_label_factor

__all__ = [
    "cutmix",
    "cutmix_box",
    "mfw_mix",
    "mfw_strength",
    "mixed_targets",
    "mixup",
    "remix_label_factor",
    "resolve_layer",
    "sample_lambda",
    "transform_output_at",
]
