"""The base class of every service provider.

A provider has one method per operation, named exactly after it, taking
(ctx, params) and returning the output dict (or raising AwsError); it may be
async. Operations without a method answer AWS's unknown-operation error.
A provider keeps no state of its own: everything lives in storage, in the
tables its `migrations` create (named `<service>_*`).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from cloudlet.app import Cloudlet


class Service:
    # The botocore model this provider implements.
    model_name: str = ""
    # SQL scripts creating and evolving the service's tables, in order.
    migrations: list = []
    # Error code for model-constraint violations (None: the protocol's default).
    validation_code: str | None = None
    # Serialization traits botocore's JSON model lost (see ModelRegistry).
    model_patch: dict | None = None
    # A service whose errors for bad input differ from the generic ones
    # defines `check_input(op, params, request)`; it then replaces the
    # model-driven validation, except for a request it answers False for
    # (CloudWatch checks its plain PutMetricData itself, the rest as usual).
    check_input = None
    # Requests outside the model. A request that routes to none of the
    # service's operations is offered to `async unrouted(request, path,
    # request_id) -> HttpResponse | None` (path: the path-style path, after
    # the router's virtual-host rewriting) before the protocol's no-route
    # error (None: that error); S3 answers CORS preflights (OPTIONS) and
    # browser POST uploads there. It may raise AwsError like an operation.
    unrouted = None
    # `finish_response(request, path, response) -> HttpResponse` sees every
    # answer of the service, errors too, before it is sent (S3 adds the CORS
    # headers a request's Origin earns).
    finish_response = None

    def __init__(self, cloud: "Cloudlet"):
        self.cloud = cloud
        self.storage = cloud.storage
        self.clock = cloud.clock
        self._handlers: dict[str, tuple[Callable, bool] | None] = {}

    def start(self) -> None:
        """Called once, when the service is first used (schedule jobs here)."""

    def stop(self) -> None:
        """Called when the cloud shuts down cleanly: write anything still
        kept only in memory (the storage is flushed afterwards)."""

    def handler(self, operation: str) -> tuple[Callable, bool] | None:
        """(method, is_async) for an operation, or None if not built."""
        if operation in self._handlers:
            return self._handlers[operation]
        fn = getattr(self, operation, None)
        found = None
        if fn is not None and callable(fn) and operation[:1].isupper():
            found = (fn, inspect.iscoroutinefunction(fn))
        self._handlers[operation] = found
        return found

    def operations(self) -> list[str]:
        model = self.cloud.models.get(self.model_name)
        names = model.operation_names if model else []
        return [n for n in names if self.handler(n) is not None]

    def reset(self) -> None:
        """Forget all state (the storage rows are deleted by the caller)."""

    def describe(self) -> dict[str, Any]:
        return {"operations": len(self.operations())}
