"""Settings: one object, from command-line flags and CLOUDLET_* variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Settings:
    host: str = field(default_factory=lambda: os.environ.get("CLOUDLET_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(os.environ.get("CLOUDLET_PORT", "4566")))
    data_dir: str = field(default_factory=lambda: os.environ.get("CLOUDLET_DATA_DIR", "./.cloudlet"))
    # The HTTP layer: "native" (cloudlet.httpserver under uvicorn) or "asgi"
    # (uvicorn's own httptools protocol and AsgiApp).
    http: str = field(default_factory=lambda: os.environ.get("CLOUDLET_HTTP", "native").strip().lower())
    ephemeral: bool = field(default_factory=lambda: _env_bool("CLOUDLET_EPHEMERAL"))
    log_level: str = field(default_factory=lambda: os.environ.get("CLOUDLET_LOG_LEVEL", "info"))
    virtual_clock: bool = field(default_factory=lambda: _env_bool("CLOUDLET_VIRTUAL_CLOCK"))
    strict_auth: bool = field(default_factory=lambda: _env_bool("CLOUDLET_STRICT_AUTH"))
    region: str = field(default_factory=lambda: os.environ.get("CLOUDLET_REGION", "us-east-1"))
    account_id: str = field(default_factory=lambda: os.environ.get("CLOUDLET_ACCOUNT_ID", "000000000000"))
    # IAM: "enforce" denies, "soft" logs would-be denials, "off" skips.
    iam_mode: str = field(default_factory=lambda: os.environ.get("CLOUDLET_IAM_MODE", "enforce").lower())
    # "NORMAL" survives a killed process; "FULL" also a power cut.
    sync: str = field(default_factory=lambda: os.environ.get("CLOUDLET_SYNC", "NORMAL").upper())
    # CloudTrail: record every API call (LookupEvents, trails); "off" records nothing.
    # CloudTrail: seconds of clock time between a trail's log file deliveries
    # (5 minutes as on AWS) and between its digest files (an hour).
    trail_delivery_interval: float = field(default_factory=lambda: float(
        os.environ.get("CLOUDLET_TRAIL_DELIVERY_INTERVAL", "300")))
    trail_digest_interval: float = field(default_factory=lambda: float(
        os.environ.get("CLOUDLET_TRAIL_DIGEST_INTERVAL", "3600")))
    cloudtrail: bool = field(default_factory=lambda: os.environ.get("CLOUDLET_CLOUDTRAIL", "on").strip().lower()
                             not in ("0", "off", "false", "no"))
