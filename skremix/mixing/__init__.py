"""Pure torch functions behind the methods: mixup and CutMix pairs, the Remix
label rule, soft-label cross-entropy and hidden-layer hooks.

They take their randomness as arguments, so each can be checked with
hand-made numbers.
"""

from skremix.mixing._hooks import resolve_layer, transform_output_at
from skremix.mixing._ldam import ldam_cross_entropy, ldam_logits, ldam_margins
from skremix.mixing._mfw import mfw_mix, mfw_strength
from skremix.mixing._mixup import cutmix, cutmix_box, mixup, sample_lambda
from skremix.mixing._remix_rule import (
    mixed_targets,
    remix_label_factor,
    soft_cross_entropy,
)

__all__ = [
    "cutmix",
    "cutmix_box",
    "ldam_cross_entropy",
    "ldam_logits",
    "ldam_margins",
    "mfw_mix",
    "mfw_strength",
    "mixed_targets",
    "mixup",
    "remix_label_factor",
    "resolve_layer",
    "sample_lambda",
    "soft_cross_entropy",
    "transform_output_at",
]
