"""The GPU path in one command: CUDA tests, fit cost, epoch times, data
placement and the speed options, with one summary at the end.

On a CUDA machine::

    python benchmarks/gpu_check.py [--json gpu_check.json]

runs, in order, each stage timed and isolated (a stage that fails is
reported and the next one runs):

1. ``environment``: torch, CUDA, the GPU and its memory.
2. ``cuda_tests``: the test suite's ``cuda``-marked tests (``pytest -m cuda``).
3. ``cost``: each method's fit time against plain skorch and a hand loop,
   on rows (MLP) and 32x32 images (ResNet-32), with bf16 and channels-last
   rows (``benchmarks/bench_cost.py``'s cases, one repeat).
4. ``time_epoch``: ``benchmarks/reproduce_papers.py --time-epoch`` for every
   row of the papers' protocols: images per second and the estimated time
   of each full row.
5. ``placement``: the same ERM fit on uint8 CIFAR-sized images with
   ``data_placement='device'`` (the data moved to the GPU once) and
   ``'host'`` (each batch moved from pinned host memory).
6. ``precision``: ERM on ResNet-32 in fp32, bf16, channels-last and both:
   fit time, finite probabilities and agreement of the predicted labels
   with fp32.
7. ``hand_loop``: every class's fit time as a ratio to a hand-written
   PyTorch loop on the three workloads of
   ``benchmarks/bench_hand_loop.py`` (rows, the ConvNet, ResNet-32), the
   channels-last rows included: issue 29's ratios on the GPU.
8. ``data_parallel``: ERM and Remix on ResNet-32, one GPU against all the
   GPUs of the machine under ``torchrun`` (NCCL, ``batch_size=128`` per
   GPU): images per second, and whether every rank ended with the same
   predictions. It needs 2 or more GPUs and skips with the reason
   otherwise; the CPU smoke run uses 2 gloo processes.

The default sizes fit in about 8 minutes on one GPU; ``--budget`` (seconds)
skips the stages that would start after it. ``--device cpu --smoke`` runs
every stage with tiny sizes on the CPU (the CUDA tests are skipped there):
the test suite's check that the script works
(``tests/repository/test_gpu_check.py``).
Asked for ``--device cuda`` without a GPU, every stage is skipped with the
reason, and the exit status is 0.

The exit status is 1 when a stage failed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import platform
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

import skremix
from skremix import ERMClassifier

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# Sizes of a full run on one GPU and of a smoke run on the CPU.
SIZES = {
    "full": dict(
        cost_cases="tabular,image",
        cost_repeats=1,
        cost_tabular_repeats=3,
        cost_quick=False,
        cost_methods="",  # every method
        time_epoch_n=10000,
        time_epoch_rows=None,  # every row
        placement_n=20000,
        precision_n=10000,
        image_side=32,  # ResNet-32
        warm_up=True,
        epochs=1,
        test_timeout=180,
        dp_n=10000,
        dp_timeout=300,
        hand_loop_workloads="rows,convnet,resnet32",
        hand_loop_repeats=1,
        hand_loop_quick=False,
        hand_loop_rows="",  # every row
    ),
    "smoke": dict(
        cost_cases="tabular",
        cost_repeats=1,
        cost_tabular_repeats=1,
        cost_quick=True,
        cost_methods="skremix ERM",  # with skorch ERM and the hand loop
        time_epoch_n=32,
        time_epoch_rows="erm,remix_drw",
        placement_n=64,
        precision_n=32,
        image_side=8,  # the small ConvNet
        warm_up=False,
        epochs=1,
        test_timeout=60,
        dp_n=64,
        dp_timeout=120,
        hand_loop_workloads="rows",
        hand_loop_repeats=1,
        hand_loop_quick=True,
        hand_loop_rows="ERM",
    ),
}

STAGES = (
    "environment",
    "cuda_tests",
    "cost",
    "time_epoch",
    "placement",
    "precision",
    "hand_loop",
    "data_parallel",
)


def _load(name):
    """A script of benchmarks/ as a module."""
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _timed_fit(make, X, y, device, warm_up=True):
    """Seconds of ``make().fit(X, y)``, after a warm-up fit on 256 samples."""
    if warm_up:
        make().fit(X[:256], y[:256])
    clf = make()
    _sync(device)
    start = time.perf_counter()
    clf.fit(X, y)
    _sync(device)
    return clf, time.perf_counter() - start


def _images(n, side, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(n, 3, side, side), dtype=np.uint8)
    return X, np.arange(n) % 10


# ------------------------------------------------------------------ stages
def stage_environment(args, sizes):
    info = dict(
        torch=torch.__version__,
        skremix=skremix.__version__,
        python=platform.python_version(),
        cuda_available=torch.cuda.is_available(),
        device=args.device,
        threads=torch.get_num_threads(),
    )
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
            bf16_supported=torch.cuda.is_bf16_supported(),
        )
    return info


def stage_cuda_tests(args, sizes):
    if torch.device(args.device).type != "cuda":
        return _skip("the CUDA tests need --device cuda")
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider"]
    proc = subprocess.run(
        [*cmd, str(ROOT / "tests")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=sizes["test_timeout"],
    )
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    counts = {
        k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|error)", last)
    }
    if proc.returncode != 0:
        raise RuntimeError(f"pytest -m cuda: {last}\n{proc.stdout[-3000:]}")
    return dict(summary=last, **counts)


def stage_cost(args, sizes):
    bench = _load("bench_cost")
    options = argparse.Namespace(
        device=args.device,
        repeats=sizes["cost_repeats"],
        tabular_repeats=sizes["cost_tabular_repeats"],
        epochs=sizes["epochs"],
        methods=sizes["cost_methods"],
        bf16_on_cpu=False,
        quick=sizes["cost_quick"],
        rsg_baseline="",
    )
    rng = np.random.default_rng(0)
    rows = []
    for case in sizes["cost_cases"].split(","):
        rows += bench.run_case(case, options, rng)[0]
    return dict(
        rows=[
            dict(
                case=r["case"],
                method=r["method"],
                fit_s=r["fit_s"],
                vs_skorch=r["vs_skorch"],
            )
            for r in rows
            if "fit_s" in r
        ]
    )


def stage_time_epoch(args, sizes):
    script = _load("reproduce_papers")
    rows = sizes["time_epoch_rows"] or ",".join(script.ROWS)
    argv = ["--time-epoch", str(sizes["time_epoch_n"]), "--rows", rows]
    argv += ["--epochs", str(sizes["epochs"]), "--device", args.device]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = script.main(argv)
    text = out.getvalue()
    print(text, end="")
    if status:
        raise RuntimeError(f"reproduce_papers.py --time-epoch exited with {status}")
    found = re.findall(
        r"^(\S.*?)\s+(\d+) images/s on (\S+?);.*?: ([\d.]+) h", text, re.M
    )
    return dict(
        n_images=sizes["time_epoch_n"],
        rows=[
            dict(row=label, images_per_s=int(rate), shortest_full_row_h=float(h))
            for label, rate, _, h in found
        ],
    )


def stage_placement(args, sizes):
    X, y = _images(sizes["placement_n"], sizes["image_side"])
    times = {}
    for placement in ("device", "host"):

        def make(placement=placement):
            return ERMClassifier(
                max_epochs=sizes["epochs"],
                batch_size=128,
                data_placement=placement,
                device=args.device,
                random_state=0,
            )

        clf, seconds = _timed_fit(make, X, y, args.device, sizes["warm_up"])
        times[placement] = dict(fit_s=seconds, used=clf.data_placement_)
    return dict(
        n_images=len(X),
        **times,
        host_over_device=times["host"]["fit_s"] / times["device"]["fit_s"],
    )


def stage_precision(args, sizes):
    X, y = _images(sizes["precision_n"], sizes["image_side"], seed=1)
    variants = {
        "fp32": dict(channels_last=False),
        "bf16": dict(precision="bf16", channels_last=False),
        "channels_last": dict(channels_last=True),
        "bf16 + channels_last": dict(precision="bf16", channels_last=True),
    }
    rows, reference = [], None
    for name, options in variants.items():

        def make(options=options):
            return ERMClassifier(
                max_epochs=sizes["epochs"],
                batch_size=128,
                device=args.device,
                random_state=0,
                **options,
            )

        clf, seconds = _timed_fit(make, X, y, args.device, sizes["warm_up"])
        proba = clf.predict_proba(X)
        labels = proba.argmax(axis=1)
        reference = labels if reference is None else reference
        rows.append(
            dict(
                variant=name,
                fit_s=seconds,
                finite=bool(np.isfinite(proba).all()),
                agreement_with_fp32=float(np.mean(labels == reference)),
            )
        )
    if not all(r["finite"] for r in rows):
        raise RuntimeError(f"non-finite probabilities: {rows}")
    return dict(n_images=len(X), rows=rows)


# One fit per method, in one process or on every rank of a torchrun launch;
# rank 0 prints one JSON line per method.
_DP_BODY = r"""
import hashlib, json, os, sys, time
import numpy as np, torch
import torch.distributed as dist
from skremix import ERMClassifier, RemixClassifier
device, n, side, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
warm_up = sys.argv[5] == "1"
world = int(os.environ.get("WORLD_SIZE", "1"))
if world > 1:
    dist.init_process_group("nccl" if device == "cuda" else "gloo")
if device == "cpu":
    torch.set_num_threads(1)
rng = np.random.default_rng(0)
X = rng.integers(0, 256, size=(n, 3, side, side), dtype=np.uint8)
y = np.arange(n) % 10
for cls in (ERMClassifier, RemixClassifier):
    def make():
        return cls(max_epochs=epochs, batch_size=128, device=device, random_state=0)
    if warm_up:
        make().fit(X[:256 * world], y[:256 * world])
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    clf = make().fit(X, y)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    proba = clf.predict_proba(X[:256])
    digest = hashlib.sha1(np.round(proba, 5).tobytes()).hexdigest()
    digests = [None] * world
    if world > 1:
        dist.all_gather_object(digests, digest)
    else:
        digests = [digest]
    if world == 1 or dist.get_rank() == 0:
        print(json.dumps(dict(method=cls.__name__, processes=world, fit_s=seconds,
                              images_per_s=n * epochs / seconds,
                              world_size_=clf.world_size_,
                              ranks_agree=len(set(digests)) == 1,
                              finite=bool(np.isfinite(proba).all()))), flush=True)
if world > 1:
    dist.destroy_process_group()
    # Past this point a gloo worker thread, kept alive by
    # DistributedDataParallel, can abort the interpreter's finalisation
    # (SIGABRT; the user guide's "Scaling out"): leave without it.
    sys.stdout.flush()
    os._exit(0)
"""


def _dp_run(cmd, timeout):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr[-3000:]}")
    return [
        json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")
    ]


def stage_hand_loop(args, sizes):
    bench = _load("bench_hand_loop")
    options = argparse.Namespace(
        device=args.device,
        repeats=sizes["hand_loop_repeats"],
        quick=sizes["hand_loop_quick"],
        rows=sizes["hand_loop_rows"],
    )
    rows = []
    for name in sizes["hand_loop_workloads"].split(","):
        rows += bench.run(name, options)
    return dict(
        rows=[{k: r[k] for k in ("workload", "row", "fit_s", "vs_hand")} for r in rows]
    )


def stage_data_parallel(args, sizes):
    import tempfile

    if torch.device(args.device).type == "cuda":
        n_procs = torch.cuda.device_count()
        if n_procs < 2:
            return _skip(f"needs 2 or more GPUs; {n_procs} visible")
        device = "cuda"
    else:
        n_procs, device = 2, "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        body = Path(tmp) / "dp_body.py"
        body.write_text(_DP_BODY)
        common = [
            device,
            str(sizes["dp_n"]),
            str(sizes["image_side"]),
            str(sizes["epochs"]),
            "1" if sizes["warm_up"] else "0",
        ]
        launch = [sys.executable, "-m", "torch.distributed.run"]
        one = _dp_run([sys.executable, str(body), *common], sizes["dp_timeout"])
        many = _dp_run(
            [*launch, f"--nproc_per_node={n_procs}", str(body), *common],
            sizes["dp_timeout"],
        )
    rows = one + many
    bad = [r for r in rows if not (r["finite"] and r["ranks_agree"])]
    if bad or [r["world_size_"] for r in many] != [n_procs] * len(many):
        raise RuntimeError(f"data-parallel fits disagree or are not finite: {rows}")
    speedup = {
        a["method"]: b["images_per_s"] / a["images_per_s"]
        for a, b in zip(one, many, strict=True)
    }
    return dict(n_images=sizes["dp_n"], processes=n_procs, rows=rows, speedup=speedup)


def _skip(reason):
    return dict(skipped=reason)


# ----------------------------------------------------------------- running
def run(args):
    sizes = SIZES["smoke" if args.smoke else "full"]
    functions = {name: globals()[f"stage_{name}"] for name in STAGES}
    chosen = args.stages.split(",") if args.stages else list(STAGES)
    no_cuda = torch.device(args.device).type == "cuda" and not torch.cuda.is_available()
    start = time.perf_counter()
    results = {}
    for name in chosen:
        t0 = time.perf_counter()
        if no_cuda and name != "environment":
            result = dict(status="skipped", detail=_skip("CUDA is not available"))
        elif t0 - start > args.budget:
            reason = f"the budget of {args.budget:.0f} s was spent"
            result = dict(status="skipped", detail=_skip(reason))
        else:
            print(f"\n=== {name} ===", flush=True)
            try:
                detail = functions[name](args, sizes)
                status = "skipped" if "skipped" in detail else "ok"
                result = dict(status=status, detail=detail)
            except Exception as exc:  # reported; the next stage runs
                traceback.print_exc()
                result = dict(status="failed", detail=dict(error=repr(exc)))
        result["seconds"] = time.perf_counter() - t0
        results[name] = result
    return results


def summary(results):
    """The report: one line per stage, then the figures of each stage."""
    lines = ["", "=== summary ==="]
    for name, result in results.items():
        detail = result["detail"]
        note = detail.get("skipped") or detail.get("error") or ""
        lines.append(
            f"{name:<12} {result['status']:<8} {result['seconds']:7.1f} s  {note}"
        )
    env = results.get("environment", {}).get("detail", {})
    if env:
        lines.append(
            "environment: "
            + ", ".join(f"{k}={v}" for k, v in env.items() if k != "skipped")
        )
    cost = results.get("cost", {}).get("detail", {})
    for row in cost.get("rows", []):
        lines.append(
            f"cost {row['case']:<7} {row['method']:<26} {row['fit_s']:8.2f} s  "
            f"{row['vs_skorch']:5.2f} x skorch ERM"
        )
    for row in results.get("time_epoch", {}).get("detail", {}).get("rows", []):
        lines.append(
            f"time_epoch {row['row']:<14} {row['images_per_s']:9d} images/s, "
            f"shortest full row {row['shortest_full_row_h']:.2f} h"
        )
    placement = results.get("placement", {}).get("detail", {})
    if "device" in placement:
        lines.append(
            f"placement  device {placement['device']['fit_s']:.2f} s, host "
            f"{placement['host']['fit_s']:.2f} s ({placement['host_over_device']:.2f} "
            f"x) on {placement['n_images']} images"
        )
    for row in results.get("precision", {}).get("detail", {}).get("rows", []):
        lines.append(
            f"precision  {row['variant']:<22} {row['fit_s']:7.2f} s, labels as "
            f"fp32: {row['agreement_with_fp32']:.3f}, finite: {row['finite']}"
        )
    for row in results.get("hand_loop", {}).get("detail", {}).get("rows", []):
        lines.append(
            f"hand_loop  {row['workload']:<9} {row['row']:<38} {row['fit_s']:7.2f} s  "
            f"{row['vs_hand']:5.2f} x hand loop"
        )
    dp = results.get("data_parallel", {}).get("detail", {})
    for row in dp.get("rows", []):
        lines.append(
            f"data_parallel {row['method']:<16} {row['processes']} process(es) "
            f"{row['images_per_s']:9.0f} images/s, ranks agree: {row['ranks_agree']}"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="'cuda' (default when there is a GPU) or 'cpu'",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes: checks the script only"
    )
    parser.add_argument(
        "--stages",
        default="",
        help="comma-separated subset of: " + ", ".join(STAGES),
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=480.0,
        help="seconds after which no stage starts (default 480)",
    )
    parser.add_argument("--json", default="", help="also write the results here")
    args = parser.parse_args(argv)
    unknown = set(filter(None, args.stages.split(","))) - set(STAGES)
    if unknown:
        parser.error(f"unknown stages {sorted(unknown)}; choose from {list(STAGES)}")
    results = run(args)
    print(summary(results), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 1 if any(r["status"] == "failed" for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
