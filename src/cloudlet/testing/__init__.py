"""Testing helpers: an in-process cloudlet server and a pytest plugin.

The plugin is registered automatically when cloudlet is installed:

    def test_queue(cloudlet):
        sqs = cloudlet.client("sqs")
        ...
        cloudlet.clock.advance(30)
"""

from cloudlet.testing.server import ClockControl, CloudletServer

__all__ = ["ClockControl", "CloudletServer"]
