"""Loading botocore's protocol test vectors (../shared/conformance) and
building a model for each case, as botocore's own test_protocols.py does."""

from __future__ import annotations

import json
import os
from pathlib import Path

HERE = Path(__file__).resolve()


def conformance_dir() -> Path:
    env = os.environ.get("CLOUDLET_CONFORMANCE_DIR")
    if env:
        return Path(env)
    for parent in HERE.parents:
        candidate = parent.parent / "shared" / "conformance" / "botocore-protocol-tests"
        if candidate.is_dir():
            return candidate
        candidate = parent / "shared" / "conformance" / "botocore-protocol-tests"
        if candidate.is_dir():
            return candidate
    fallback = Path("/work/shared/conformance/botocore-protocol-tests")
    if fallback.is_dir():
        return fallback
    raise FileNotFoundError("botocore-protocol-tests not found in ../shared/conformance; "
                            "set CLOUDLET_CONFORMANCE_DIR")


def load_cases(direction: str):
    """Yield (file protocol name, suite, case) for input or output vectors."""
    base = conformance_dir() / direction
    for path in sorted(base.glob("*.json")):
        with open(path) as fh:
            suites = json.load(fh)
        for suite in suites:
            for case in suite["cases"]:
                yield path.stem, suite, case


def service_description(suite: dict, case: dict) -> dict:
    given = case["given"]
    return {
        "metadata": suite["metadata"],
        "shapes": suite["shapes"],
        "operations": {given.get("name", "OperationName"): given},
    }
