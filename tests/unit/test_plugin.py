"""The pytest plugin users get: its fixtures work as the README says."""

from __future__ import annotations

pytest_plugins = ["pytester"]


def test_user_test_with_the_plugin(pytester):
    pytester.makepyfile("""
        def test_identity(cloudlet):
            assert cloudlet.endpoint.startswith("http://127.0.0.1:")
            sts = cloudlet.client("sts")
            assert sts.get_caller_identity()["Account"] == "000000000000"

        def test_clock(cloudlet):
            cloudlet.clock.set("2030-01-01T00:00:00Z")
            cloudlet.clock.advance(60)
            assert cloudlet.clock.now() == 1893456060.0

        def test_reset_between_tests(cloudlet):
            assert cloudlet.health()["clock"]["virtual"] is False
    """)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
