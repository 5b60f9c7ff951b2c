"""Post-hoc calibration of a fitted classifier: temperature scaling for a
long-tailed model, and prediction for a deployment prior."""

from skremix.calibration._temperature import TemperatureScaling

__all__ = ["TemperatureScaling"]
