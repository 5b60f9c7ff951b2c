"""``python -m skremix``: run the benchmark (the same as ``skremix-bench``)."""

from skremix.bench._main import main

if __name__ == "__main__":
    raise SystemExit(main())
