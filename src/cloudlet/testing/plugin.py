"""pytest fixtures for testing against cloudlet (registered as the
`cloudlet` pytest plugin when the package is installed).

- `cloudlet_server` (session): one in-process server, on a free port, with
  its data in a temporary directory.
- `cloudlet` (function): that server, reset to an empty cloud with the real
  clock before the test; `cloudlet.client("sqs")`, `cloudlet.reset()`,
  `cloudlet.clock.advance(seconds)`, `cloudlet.endpoint`.
"""

from __future__ import annotations

import pytest

from cloudlet.testing.server import CloudletServer


@pytest.fixture(scope="session")
def cloudlet_server():
    server = CloudletServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cloudlet(cloudlet_server):
    cloudlet_server.reset()
    return cloudlet_server
