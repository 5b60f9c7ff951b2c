"""Training losses: cross-entropy with soft targets and class weights, and the
label-distribution-aware margin (LDAM) loss of Cao et al. (2019).

Pure torch functions, apart from the mixing that makes the soft targets
(:mod:`skremix.mixing`), as timm keeps ``timm.loss`` apart from its mixup.
"""

from skremix.losses._cross_entropy import batch_loss, soft_cross_entropy
from skremix.losses._ldam import ldam_cross_entropy, ldam_logits, ldam_margins

__all__ = [
    "batch_loss",
    "ldam_cross_entropy",
    "ldam_logits",
    "ldam_margins",
    "soft_cross_entropy",
]
