"""Helpers shared by the benchmark scripts: paths, data checks, machine info, JSON results."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"  # ../shared/data relative to the repository
RESULTS = REPO / "benchmarks" / "results"
SQUAD_DEV = DATA / "squad" / "v1.1" / "dev-v1.1.json"


def require(path: Path, what: str) -> Path:
    """Exit with a clear message when a data file the benchmark reads is missing."""
    if not path.exists():
        sys.exit(
            f"error: {what} not found at {path}\n"
            f"The benchmarks read their data from ../shared/data relative to the repository "
            f"({DATA}); it is not shipped with qabot. Put the data set there and rerun."
        )
    return path


def load_squad() -> list[dict]:
    """The articles of the SQuAD v1.1 dev set (48 articles, 2,067 paragraphs)."""
    with open(require(SQUAD_DEV, "SQuAD v1.1 dev set (squad/v1.1/dev-v1.1.json)"),
              encoding="utf-8") as fh:
        return json.load(fh)["data"]


def machine_info() -> dict:
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "processor": _cpu_model(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    for name in ("sentence_transformers", "faiss", "sqlalchemy", "numpy"):
        try:
            info[name] = __import__(name).__version__
        except (ImportError, AttributeError):
            pass
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def write_result(name: str, payload: dict, started: float) -> Path:
    """Write benchmarks/results/<name>.json (atomically) with run metadata added."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", *(_rel(a) for a in sys.argv)]),
        "machine": machine_info(),
        **payload,
        "total_run_seconds": round(time.perf_counter() - started, 1),
    }
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _rel(arg: str) -> str:
    try:
        return str(Path(arg).resolve().relative_to(REPO))
    except ValueError:
        return arg


def percentile_ms(seconds: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(seconds) * 1000.0, q))
