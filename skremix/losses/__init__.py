"""Training losses: cross-entropy with soft targets and class weights, the
label-distribution-aware margin (LDAM) loss of Cao et al. (2019), the logit
adjustment of Menon et al. (2021), the focal loss of Lin et al. (2017) and
the label-aware smoothing of Zhong et al. (2021).

Pure torch functions, apart from the mixing that makes the soft targets
(:mod:`skremix.mixing`), as timm keeps ``timm.loss`` apart from its mixup.
"""

from skremix.losses._cross_entropy import batch_loss, soft_cross_entropy
from skremix.losses._focal import focal_loss
from skremix.losses._label_aware_smoothing import (
    label_aware_smoothing,
    label_aware_targets,
)
from skremix.losses._ldam import ldam_cross_entropy, ldam_logits, ldam_margins
from skremix.losses._logit_adjusted import logit_adjustment

__all__ = [
    "batch_loss",
    "focal_loss",
    "label_aware_smoothing",
    "label_aware_targets",
    "ldam_cross_entropy",
    "ldam_logits",
    "ldam_margins",
    "logit_adjustment",
    "soft_cross_entropy",
]
