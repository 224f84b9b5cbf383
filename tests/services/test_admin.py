"""The admin API: health, reset, and the clock."""

from __future__ import annotations

import datetime as dt

import orjson

from tests.http import send


def test_health(cloudlet):
    health = cloudlet.health()
    assert health["status"] == "running"
    assert health["version"] == "0.1.0"
    assert health["services"]["sts"] in ("available", "running")
    assert health["storage"]["engine"] == "sqlite"
    assert health["storage"]["path"].endswith("cloudlet.db")
    assert health["clock"]["virtual"] is False


def test_health_lists_a_service_as_running_once_used(cloudlet):
    cloudlet.client("sts").get_caller_identity()
    assert cloudlet.health()["services"]["sts"] == "running"


def test_clock_set_and_advance(cloudlet):
    state = cloudlet.clock.set("2030-01-02T03:04:05Z")
    assert state["now"] == "2030-01-02T03:04:05Z"
    assert state["virtual"] is True
    expected = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc).timestamp()
    assert state["epoch"] == expected
    # A virtual clock stands still between moves.
    assert cloudlet.clock.now() == expected
    state = cloudlet.clock.advance(90.5)
    assert state["now"] == "2030-01-02T03:05:35.500Z"
    assert cloudlet.clock.now() == expected + 90.5


def test_clock_accepts_epoch_seconds(cloudlet):
    assert cloudlet.clock.set(1_900_000_000)["now"] == "2030-03-17T17:46:40Z"


def test_clock_back_to_real_time(cloudlet):
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    state = cloudlet.clock.real()
    assert state["virtual"] is False
    assert abs(state["epoch"] - dt.datetime.now(dt.timezone.utc).timestamp()) < 5


def test_clock_rejects_bad_moves(cloudlet):
    for body in (b'{"advance": -1}', b'{"set": "yesterday-ish"}', b"[]", b"{", b'{"jump": 1}'):
        resp = send(cloudlet.endpoint, "POST", "/_cloudlet/clock", body=body)
        assert resp.status == 400, body
        assert "error" in orjson.loads(resp.body)


def test_reset_puts_the_clock_back_to_real_time(cloudlet):
    cloudlet.clock.set("2031-01-01T00:00:00Z")
    assert cloudlet.reset() == {"reset": "all"}
    assert cloudlet.clock.now() != dt.datetime(2031, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    assert cloudlet.health()["clock"]["virtual"] is False


def test_reset_one_service(cloudlet):
    assert cloudlet.reset("sts") == {"reset": "sts"}
    resp = send(cloudlet.endpoint, "POST", "/_cloudlet/reset?service=nosuch")
    assert resp.status == 404


def test_scheduler_runs_due_jobs_when_the_clock_moves(cloudlet):
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    runs: list[float] = []
    cloud = cloudlet.cloud
    loop = cloudlet._loop
    start = cloudlet.clock.now()
    loop.call_soon_threadsafe(cloud.scheduler.every, "test-job", 60, runs.append)
    loop.call_soon_threadsafe(cloud.scheduler.at, "test-once", start + 30, runs.append)
    cloudlet.clock.advance(0)  # let the registrations land
    assert runs == []
    # (other services' jobs may run too; count ours)
    assert cloudlet.clock.advance(30)["jobs_run"] >= 1
    assert runs == [start + 30]
    cloudlet.clock.advance(30)
    assert runs == [start + 30, start + 60]
    # A jump runs a periodic job once, then it resumes its cadence.
    cloudlet.clock.advance(3600)
    assert runs == [start + 30, start + 60, start + 3660]
    loop.call_soon_threadsafe(cloud.scheduler.cancel, "test-job")
