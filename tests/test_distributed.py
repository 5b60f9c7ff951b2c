"""Searches on a Dask cluster (joblib's dask backend) and on Ray.

On a ``LocalCluster`` of 2 worker processes x 1 thread: the same scores as in
one process with the tasks spread over both workers, worker resources
(``resources={"GPU": 1}``), the halving search over ``max_epochs``, fitted
nets through distributed's serialization, and a search that loses a worker
in its middle. Skipped without dask.distributed (the minimum-dependencies
job); the Ray test is ``slow`` and skipped without ray.
"""

import itertools
import os
import signal
import threading
import time

import joblib
import numpy as np
import pytest
import torch
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    StratifiedKFold,
    cross_validate,
)

from skremix import RemixClassifier

QUICK = dict(max_epochs=3, batch_size=32, random_state=0)
GRID = {"tau": [0.3, 0.7], "kappa": [1.5, 3.0]}
SCORING = {"bacc": "balanced_accuracy", "nll": "neg_log_loss"}
CV = StratifiedKFold(3, shuffle=True, random_state=0)


def _pid(estimator, X, y):
    """A scorer that returns the id of the process the fit ran in."""
    return float(os.getpid())


def _torch_threads(estimator, X, y):
    """A scorer that returns the torch thread count the fit ran with."""
    return float(torch.get_num_threads())


def grid_search(**params):
    est = RemixClassifier(**{**QUICK, **params})
    return GridSearchCV(est, GRID, cv=CV, scoring=SCORING, refit="nll")


def assert_same_results(a, b):
    keys = [k for k in a if k.startswith(("split", "mean_test", "std_test", "rank"))]
    assert keys
    for key in keys:
        assert np.array_equal(a[key], b[key]), key
    assert [p for p in a["params"]] == [p for p in b["params"]]


@pytest.fixture(scope="module")
def client():
    """2 worker processes x 1 thread, each with a nominal ``GPU`` resource;
    the nanny's malloc trim setting off, as the user guide advises."""
    pytest.importorskip("dask.distributed")
    import dask
    from dask.distributed import Client, LocalCluster

    # A nanny writes its pre-spawn variables into this process's environment
    # (distributed's own note: "poisoning the process running the Nanny");
    # put them back so that later tests' subprocesses do not inherit them.
    names = dask.config.get("distributed.nanny.pre-spawn-environ")
    saved = {name: os.environ.get(name) for name in names}
    no_trim = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    try:
        with (
            dask.config.set(no_trim),
            LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                resources={"GPU": 1},
            ) as cluster,
            Client(cluster) as c,
        ):
            c.wait_for_workers(2, timeout=60)
            yield c
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def reference(tabular_imbalanced):
    """The grid search in this process, n_jobs=1."""
    X, y = tabular_imbalanced
    return grid_search().set_params(n_jobs=1).fit(X, y)


def test_grid_search_matches_one_process_and_runs_on_both_workers(
    client, reference, tabular_imbalanced
):
    from dask.distributed import get_task_stream

    X, y = tabular_imbalanced
    with get_task_stream(client) as stream, joblib.parallel_config(backend="dask"):
        search = grid_search().fit(X, y)
    assert_same_results(reference.cv_results_, search.cv_results_)
    assert search.best_params_ == reference.best_params_
    assert np.array_equal(
        search.predict_proba(X), reference.best_estimator_.predict_proba(X)
    )
    ran_on = {task["worker"] for task in stream.data}
    assert ran_on == set(client.scheduler_info()["workers"])


def test_fits_run_in_the_workers_with_one_torch_thread(client, tabular_imbalanced):
    X, y = tabular_imbalanced
    pids = set(client.run(os.getpid).values())
    scoring = {"pid": _pid, "threads": _torch_threads}
    with joblib.parallel_config(backend="dask", resources={"GPU": 1}):
        scores = cross_validate(RemixClassifier(**QUICK), X, y, cv=CV, scoring=scoring)
    assert set(scores["test_pid"].astype(int)) <= pids
    assert os.getpid() not in pids
    # The nanny starts workers with OMP_NUM_THREADS=1.
    assert set(scores["test_threads"]) == {1.0}
    for info in client.scheduler_info()["workers"].values():
        assert info["resources"] == {"GPU": 1}


def test_halving_search_over_max_epochs(client, tabular_imbalanced):
    X, y = tabular_imbalanced

    def halving():
        est = RemixClassifier(batch_size=32, random_state=0)
        return HalvingGridSearchCV(
            est,
            GRID,
            resource="max_epochs",
            min_resources=1,
            max_resources=4,
            factor=2,
            cv=CV,
            scoring="neg_log_loss",
            random_state=0,
        )

    ref = halving().set_params(n_jobs=1).fit(X, y)
    with joblib.parallel_config(backend="dask"):
        search = halving().fit(X, y)
    assert search.n_resources_ == ref.n_resources_ == [1, 2, 4]
    assert search.n_candidates_ == ref.n_candidates_ == [4, 2, 1]
    assert_same_results(ref.cv_results_, search.cv_results_)
    assert search.best_params_ == ref.best_params_
    assert search.best_estimator_.max_epochs == 4


def test_fitted_net_through_distributed_serialization(client, tabular_imbalanced):
    from distributed.protocol import deserialize, serialize

    X, y = tabular_imbalanced
    est = RemixClassifier(**QUICK).fit(X, y)
    proba = est.predict_proba(X)

    header, frames = serialize(est)
    assert np.array_equal(deserialize(header, frames).predict_proba(X), proba)
    # To a worker and back, predicting there, and fitted there.
    assert np.array_equal(
        client.submit(lambda m: m, est).result().predict_proba(X), proba
    )
    on_worker = client.submit(lambda m, X: m.predict_proba(X), est, X).result()
    assert np.array_equal(on_worker, proba)
    fitted_there = client.submit(
        lambda: RemixClassifier(**QUICK).fit(X, y), pure=False
    ).result()
    assert np.array_equal(fitted_there.predict_proba(X), proba)
    assert fitted_there.get_params()["device"] == "auto"


def kill_a_worker_mid_search(client, search, X, y, **config):
    """Run ``search`` on the cluster in a thread and SIGKILL one worker
    process while it runs a fit; return the exception the search raised (or
    None) and whether the search was still running at the kill."""
    workers = set(client.scheduler_info()["workers"])
    victim = sorted(workers)[0]
    victim_pid = client.run(os.getpid, workers=[victim])[victim]
    raised = []

    def run():
        try:
            with joblib.parallel_config(backend="dask", **config):
                search.fit(X, y)
        except Exception as exc:  # returned to the test
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not client.processing(victim).get(victim):
        assert time.monotonic() < deadline, "no task reached the worker"
        time.sleep(0.01)
    running = thread.is_alive()
    os.kill(victim_pid, signal.SIGKILL)
    thread.join(timeout=120)
    assert not thread.is_alive(), "the search hung after a worker died"
    # The nanny restarts the worker, under a new address.
    client.wait_for_workers(2, timeout=60)
    assert victim not in set(client.scheduler_info()["workers"])
    return (raised[0] if raised else None), running


def test_search_survives_a_killed_worker_when_its_inputs_are_replicated(
    client, tabular_imbalanced
):
    """Every argument joblib would scatter to one worker (X, y, each fold's
    index arrays) broadcast to all of them first, and the active memory
    manager stopped (it drops the extra copies within seconds): Dask
    reschedules the dead worker's fits and the search ends with the results
    of one process."""
    X, y = tabular_imbalanced
    folds = list(CV.split(X, y))
    ref = grid_search(max_epochs=15).set_params(n_jobs=1).fit(X, y)
    search = grid_search(max_epochs=15).set_params(cv=folds)
    inputs = [X, y, *itertools.chain.from_iterable(folds)]
    client.amm.stop()
    try:
        error, running = kill_a_worker_mid_search(client, search, X, y, scatter=inputs)
    finally:
        client.amm.start()
    assert running
    assert error is None, str(error)
    assert_same_results(ref.cv_results_, search.cv_results_)


def test_search_losing_scattered_data_fails_fast_and_clean(client, tabular_imbalanced):
    """By default joblib scatters X, y and each fold's index arrays (above
    1 kB) to one worker: when that worker dies, the data is gone and the
    search raises FutureCancelledError, without hanging and without a
    half-written ``cv_results_`` (or completes, where the dead worker held
    no sole copy)."""
    from distributed.client import FutureCancelledError

    X, y = tabular_imbalanced
    search = grid_search(max_epochs=15)
    error, running = kill_a_worker_mid_search(client, search, X, y)
    assert running
    if error is None:
        ref = grid_search(max_epochs=15).set_params(n_jobs=1).fit(X, y)
        assert_same_results(ref.cv_results_, search.cv_results_)
    else:
        assert isinstance(error, FutureCancelledError), repr(error)
        assert "cancelled for reason" in str(error)
        assert not hasattr(search, "cv_results_")


@pytest.mark.slow
def test_grid_search_on_ray(reference, tabular_imbalanced):
    ray = pytest.importorskip("ray")
    from ray.util.joblib import register_ray

    # Ray's workers do not have tests/ on sys.path: scorers defined here
    # travel by value (module-level ones would be imported by name).
    def pid(estimator, X, y):
        return float(os.getpid())

    def threads(estimator, X, y):
        return float(torch.get_num_threads())

    X, y = tabular_imbalanced
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        register_ray()
        scoring = {**SCORING, "pid": pid, "threads": threads}
        est = RemixClassifier(**QUICK)
        search = GridSearchCV(est, GRID, cv=CV, scoring=scoring, refit="nll")
        with joblib.parallel_config(
            backend="ray", n_jobs=2, ray_remote_args={"num_cpus": 1}
        ):
            search.fit(X, y)
    finally:
        ray.shutdown()
    results = search.cv_results_
    assert_same_results(reference.cv_results_, results)
    pids = {int(p) for k in range(3) for p in results[f"split{k}_test_pid"]}
    assert len(pids) == 2 and os.getpid() not in pids
    # Ray starts a 1-CPU actor with OMP_NUM_THREADS=1.
    assert set(results["mean_test_threads"]) == {1.0}
