"""Training-time data augmentation on the device, without torchvision.

Used by the estimators' ``augment`` parameter: applied to each training
batch before a method mixes it, never at validation or prediction.
"""

from skremix.augment._crop_flip import random_crop_flip

__all__ = ["random_crop_flip"]
