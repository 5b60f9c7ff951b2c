"""Helper the tests import: resolve a dotted public path to its object."""

import importlib


def resolve(dotted):
    """The object at ``dotted``: the longest importable module prefix, then
    attributes (``skremix.base.TrainStep``, ``skremix.ERMClassifier.fit``)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)
