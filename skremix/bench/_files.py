"""The result files: results.csv rewritten as runs finish, strict JSON."""

from __future__ import annotations

import csv
import json
import math
import os

import numpy as np

from skremix.bench._scoring import METRICS

__all__ = ["CSV_COLUMNS", "write_csv", "write_json"]


CSV_COLUMNS = ["method", "seed", "fold", "n_train", "n_test", *METRICS, "status"]


def write_csv(path, rows):
    """One row per method x seed/fold, metrics as plain floats."""
    tmp = path + ".tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in rows:
            out = dict(row)
            for metric in METRICS:
                value = out.get(metric)
                out[metric] = (
                    "" if value is None or not math.isfinite(value) else f"{value:.6g}"
                )
            out["fold"] = "" if out.get("fold") is None else out["fold"]
            writer.writerow({k: out.get(k, "") for k in CSV_COLUMNS})
    os.replace(tmp, path)


def _json_safe(obj):
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path, payload):
    """Write ``payload`` with NaN as null (strict JSON)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_json_safe(payload), f, indent=2, sort_keys=False)
        f.write("\n")
