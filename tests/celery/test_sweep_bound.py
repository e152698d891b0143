"""The sweep tops the queue up, never beyond (review 16 M6): while the fleet is behind,
every beat used to enqueue the same stalled keys again, so the Redis queue grew without
bound (about 12k messages an hour at 100 keys per 30 s beat). On a real throwaway
redis-server, without workers: two sweeps leave one message per key, not two."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import redis
from celery import Celery

from mm_assistants.celery import install
from mm_assistants.celery.tasks import SWEEP, sweep_room
from tests.celery.test_install import FakeWork, Plan, dead_broker_app
from tests.redis_server import RedisServer

QUEUE = "mm-assistants"


@dataclass
class Behind(FakeWork):
    """A fleet with ``stalled`` threads waiting, whose sweep honours its limit."""

    stalled: int = 100

    def sweep(self, *, limit: int = 100) -> Plan:
        self.calls.append(("sweep", str(limit)))
        return Plan(threads=[f"thr_{n}" for n in range(self.stalled)][:limit])


def fleet(url: str, **options: Any) -> tuple[Celery, Any]:
    app = Celery("bound", broker=url)
    app.conf.update(broker_connection_timeout=2)
    return app, install(app, Behind, **options)


def test_two_sweeps_of_a_fleet_that_is_behind_queue_each_key_once(
    redis_server: RedisServer,
) -> None:
    app, tasks = fleet(redis_server.url)
    counter = redis.Redis.from_url(redis_server.url)
    try:
        assert tasks.waiting() == 0  # a queue never declared holds nothing
        app.tasks[SWEEP].run()
        assert counter.llen(QUEUE) == 100
        app.tasks[SWEEP].run()  # the next beat, nobody took anything meanwhile
        assert counter.llen(QUEUE) == 100
        assert tasks.waiting() == 100
        work = tasks.work.get()
        assert work.calls == [("sweep", "100")]  # the second sweep did not even look
    finally:
        counter.close()


def test_a_partly_full_queue_is_topped_up_to_the_limit(redis_server: RedisServer) -> None:
    app, tasks = fleet(redis_server.url, sweep_limit=50)
    counter = redis.Redis.from_url(redis_server.url)
    try:
        for key in ("thr_a", "thr_b", "thr_c"):
            assert tasks.enqueue(tasks.route_inbound, key)
        app.tasks[SWEEP].run()
        assert counter.llen(QUEUE) == 50
        assert tasks.work.get().calls == [("sweep", "47")]
    finally:
        counter.close()


def test_a_broker_that_cannot_say_leaves_the_whole_plan() -> None:
    tasks = install(dead_broker_app(), FakeWork)
    assert tasks.waiting() is None


@pytest.mark.parametrize(
    ("limit", "waiting", "room"),
    [(100, None, 100), (100, 0, 100), (100, 30, 70), (100, 100, 0), (100, 250, 0)],
)
def test_the_room_a_sweep_has(limit: int, waiting: int | None, room: int) -> None:
    assert sweep_room(limit, waiting) == room
