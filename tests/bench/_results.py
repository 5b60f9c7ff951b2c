"""What a ``skremix-bench`` run wrote, read back for the bench tests."""

import csv
import json


def read_results(out):
    """The rows of ``results.csv`` and the parsed ``summary.json`` in ``out``."""
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(out / "summary.json") as f:
        summary = json.load(f)
    return rows, summary
