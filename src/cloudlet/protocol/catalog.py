"""The routing facts of every botocore service: signing name, endpoint
prefix, JSON target prefix, protocols.

Reading them means opening all ~400 models (most of a second), so the
result is cached in a small file keyed by botocore's data directory and its
modification time, and rebuilt only when botocore changes.
"""

from __future__ import annotations

import logging
import os
import threading
import zlib

import orjson

from cloudlet.protocol.model import ModelRegistry

log = logging.getLogger("cloudlet.catalog")

_FIELDS = ("signingName", "endpointPrefix", "targetPrefix", "protocol", "protocols",
           "jsonVersion", "apiVersion", "serviceId")


class CatalogEntry:
    __slots__ = ("name", "signing_name", "endpoint_prefix", "target_prefix", "protocol",
                 "protocols", "json_version", "api_version", "service_id", "query_compatible")

    def __init__(self, name: str, md: dict):
        self.name = name
        self.endpoint_prefix = md.get("endpointPrefix", name)
        self.signing_name = md.get("signingName") or self.endpoint_prefix
        self.target_prefix = md.get("targetPrefix")
        self.protocol = md.get("protocol", "")
        self.protocols = md.get("protocols") or [self.protocol]
        self.json_version = md.get("jsonVersion", "1.0")
        self.api_version = md.get("apiVersion", "")
        self.service_id = md.get("serviceId", name)
        self.query_compatible = bool(md.get("awsQueryCompatible"))

    def __repr__(self) -> str:
        return f"<CatalogEntry {self.name}>"


class Catalog:
    def __init__(self, registry: ModelRegistry, cache_dir: str | None = None):
        self.registry = registry
        self.cache_dir = cache_dir or default_cache_dir()
        self._entries: dict[str, CatalogEntry] | None = None
        self._by_signing: dict[str, list[CatalogEntry]] = {}
        self._by_target: dict[str, CatalogEntry] = {}
        self._by_endpoint: dict[str, list[CatalogEntry]] = {}
        self._by_version: dict[str, list[CatalogEntry]] = {}
        self._lock = threading.Lock()

    def _cache_path(self) -> str:
        data_dir = self.registry.data_dir
        try:
            stamp = str(os.stat(data_dir).st_mtime_ns)
        except OSError:
            stamp = "0"
        digest = zlib.crc32(f"{data_dir}:{stamp}:1".encode())
        return os.path.join(self.cache_dir, f"catalog-{digest:08x}.json")

    def warm(self) -> None:
        """Load (or build) the catalog now; safe to call from a thread."""
        self.entries()

    def entries(self) -> dict[str, CatalogEntry]:
        if self._entries is None:
            with self._lock:
                if self._entries is None:
                    self._load()
        return self._entries  # type: ignore[return-value]

    def _load(self) -> None:
        path = self._cache_path()
        raw: dict[str, dict] | None = None
        try:
            with open(path, "rb") as fh:
                raw = orjson.loads(fh.read())
        except (OSError, orjson.JSONDecodeError):
            raw = None
        if raw is None:
            raw = {}
            for name in self.registry.service_names():
                model = self.registry.load_raw(name)
                if model is None:
                    continue
                md = model.get("metadata", {})
                raw[name] = {k: md[k] for k in _FIELDS if k in md}
                if "awsQueryCompatible" in md:
                    raw[name]["awsQueryCompatible"] = True
            try:
                os.makedirs(self.cache_dir, exist_ok=True)
                tmp = f"{path}.{os.getpid()}.tmp"
                with open(tmp, "wb") as fh:
                    fh.write(orjson.dumps(raw))
                os.replace(tmp, path)
            except OSError as exc:
                log.warning("could not cache the service catalog: %s", exc)
        entries = {name: CatalogEntry(name, md) for name, md in raw.items()}
        for entry in entries.values():
            self._by_signing.setdefault(entry.signing_name, []).append(entry)
            self._by_endpoint.setdefault(entry.endpoint_prefix, []).append(entry)
            if entry.target_prefix:
                self._by_target.setdefault(entry.target_prefix, entry)
            self._by_version.setdefault(entry.api_version, []).append(entry)
        self._entries = entries

    def get(self, name: str) -> CatalogEntry | None:
        return self.entries().get(name)

    def by_signing_name(self, signing_name: str) -> list[CatalogEntry]:
        self.entries()
        return self._by_signing.get(signing_name, [])

    def by_endpoint_prefix(self, prefix: str) -> list[CatalogEntry]:
        self.entries()
        return self._by_endpoint.get(prefix, [])

    def by_api_version(self, version: str) -> list[CatalogEntry]:
        self.entries()
        return self._by_version.get(version, [])

    def by_target_prefix(self, prefix: str) -> CatalogEntry | None:
        self.entries()
        return self._by_target.get(prefix)


def default_cache_dir() -> str:
    env = os.environ.get("CLOUDLET_CACHE_DIR")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "cloudlet")
