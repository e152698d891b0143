"""Fault injection and request counting: the middleware in process, and through uvicorn."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from mm_assistants.sandbox.counters import RequestCounters, route_key
from mm_assistants.sandbox.faults import (
    DroppedConnectionError,
    FaultInjector,
    SandboxMiddleware,
    fault_routes,
)
from tests.sandbox.openai_api.support import Server

SEND = "POST /v1/mailboxes/{mailbox_id}/send"


@dataclass
class Rig:
    """The guarded app, its injector and counters, and what its send handler committed."""

    app: SandboxMiddleware
    faults: FaultInjector
    counters: RequestCounters
    sent: list[str] = field(default_factory=list)


def build() -> Rig:
    faults, counters = FaultInjector(), RequestCounters()
    rig: Rig

    async def send(request: Request) -> Response:
        body = await request.json()
        rig.sent.append(f"{request.path_params['mailbox_id']}:{body['subject']}")
        return JSONResponse({"id": f"em_{len(rig.sent)}", "status": "pending_scan"}, 202)

    async def mailboxes(request: Request) -> Response:
        return JSONResponse({"mailboxes": []})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    inner = Starlette(
        routes=[
            Route("/v1/mailboxes", mailboxes, methods=["GET"]),
            Route("/v1/mailboxes/{mailbox_id}/send", send, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            *fault_routes(faults, counters),
        ]
    )
    rig = Rig(SandboxMiddleware(inner, faults, counters), faults, counters)
    return rig


@pytest.fixture
def rig() -> Rig:
    return build()


@pytest.fixture
async def client(rig: Rig) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=rig.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as client:
        yield client


async def post_send(client: httpx.AsyncClient, mailbox: str = "mb_1") -> httpx.Response:
    return await client.post(f"/v1/mailboxes/{mailbox}/send", json={"subject": "Hi"})


async def test_latency_delays_the_answer(rig: Rig, client: httpx.AsyncClient) -> None:
    rig.faults.add("GET /v1/mailboxes", latency=0.05)
    started = time.monotonic()
    response = await client.get("/v1/mailboxes")
    assert time.monotonic() - started >= 0.05
    assert response.status_code == 200


async def test_a_status_for_the_next_n_requests(rig: Rig, client: httpx.AsyncClient) -> None:
    rule = rig.faults.add(SEND, status=503, next_n=2)
    assert rule["id"].startswith("flt_")
    for _ in range(2):
        response = await post_send(client)
        assert response.status_code == 503
        assert "error" in response.json()
        assert "retry-after" not in response.headers
    assert rig.sent == []  # the app was never called
    assert rig.faults.rules() == []  # the rule expired
    assert (await post_send(client)).status_code == 202
    assert rig.sent == ["mb_1:Hi"]


@pytest.mark.parametrize(
    ("retry_after", "header"),
    [
        pytest.param(None, "1", id="default"),
        pytest.param(0.5, "0.5", id="fraction"),
        pytest.param(30, "30", id="seconds"),
    ],
)
async def test_429_carries_retry_after(
    rig: Rig, client: httpx.AsyncClient, retry_after: float | None, header: str
) -> None:
    rig.faults.add("*", status=429, retry_after=retry_after, next_n=1)
    response = await client.get("/v1/mailboxes")
    assert response.status_code == 429
    assert response.headers["retry-after"] == header
    assert response.json()["error"]


def firing_pattern(seed: int) -> list[bool]:
    faults = FaultInjector()
    faults.add(SEND, status=500, rate=0.3, seed=seed)
    return [faults.decide(SEND) is not None for _ in range(60)]


def test_a_seeded_rate_repeats_its_pattern() -> None:
    pattern = firing_pattern(7)
    assert pattern == firing_pattern(7)
    assert True in pattern
    assert False in pattern
    assert pattern != firing_pattern(8)


async def test_a_rate_through_the_middleware(rig: Rig, client: httpx.AsyncClient) -> None:
    rig.faults.add(SEND, status=500, rate=0.3, seed=7)
    statuses = [(await post_send(client)).status_code for _ in range(60)]
    assert [status == 500 for status in statuses] == firing_pattern(7)
    assert len(rig.sent) == statuses.count(202)


async def test_rules_on_other_routes_do_not_fire(rig: Rig, client: httpx.AsyncClient) -> None:
    rig.faults.add(SEND, status=503)
    assert (await client.get("/v1/mailboxes")).status_code == 200
    assert rig.faults.rules()[0]["hits"] == 0


async def test_counters_per_template_including_faults(rig: Rig, client: httpx.AsyncClient) -> None:
    rig.faults.add(SEND, status=503, next_n=1)
    await post_send(client, "mb_1")
    await post_send(client, "mb_2")
    await client.get("/v1/mailboxes")
    await client.get("/nowhere")
    assert rig.counters.snapshot() == {
        "total": 4,
        "routes": {SEND: 2, "GET /v1/mailboxes": 1, "GET /nowhere": 1},
    }
    assert rig.counters.snapshot(reset=True)["total"] == 4
    assert rig.counters.snapshot() == {"total": 0, "routes": {}}


async def test_skipped_prefixes_are_neither_counted_nor_faulted(
    rig: Rig, client: httpx.AsyncClient
) -> None:
    rig.faults.add("*", status=503)
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/sandbox/faults")).status_code == 200
    assert (await client.get("/sandbox/counters")).json() == {"total": 0, "routes": {}}
    assert (await client.get("/v1/mailboxes")).status_code == 503
    assert rig.counters.snapshot()["routes"] == {"GET /v1/mailboxes": 1}


async def test_the_fault_routes(rig: Rig, client: httpx.AsyncClient) -> None:
    created = await client.post("/sandbox/faults", json={"route": SEND, "status": 503})
    assert created.status_code == 201
    rule = created.json()
    assert rule["route"] == SEND
    assert rule["status"] == 503
    assert (await client.get("/sandbox/faults")).json() == {"rules": [rule]}

    for bad in ({"route": SEND, "status": 404}, {"route": SEND}, {"nope": 1}, [1]):
        answer = await client.post("/sandbox/faults", json=bad)
        assert answer.status_code == 400, bad
        assert answer.json()["error"]
    assert (await client.post("/sandbox/faults", content=b"{not json")).status_code == 400

    assert (await client.delete(f"/sandbox/faults/{rule['id']}")).status_code == 200
    assert (await client.delete(f"/sandbox/faults/{rule['id']}")).status_code == 404
    await client.post("/sandbox/faults", json={"route": "*", "latency": 0.01})
    assert (await client.delete("/sandbox/faults")).json() == {"rules": []}
    assert rig.faults.rules() == []

    await post_send(client)
    assert (await client.delete("/sandbox/counters")).json()["routes"] == {SEND: 1}
    assert (await client.get("/sandbox/counters")).json()["total"] == 0


@pytest.mark.parametrize(
    ("options", "error"),
    [
        pytest.param({}, "needs latency, status or commit_then_drop", id="no-effect"),
        pytest.param({"route": " "}, "route must be", id="blank-route"),
        pytest.param({"status": 404}, "429 or 500-599", id="not-a-fault-status"),
        pytest.param({"status": 503, "commit_then_drop": True}, "not both", id="both"),
        pytest.param({"latency": -1}, "latency must be between", id="negative-latency"),
        pytest.param({"status": 500, "rate": 1.5}, "rate must be between", id="rate"),
        pytest.param({"status": 500, "next_n": 0}, "next_n", id="next-n"),
        pytest.param({"latency": "1"}, "latency must be a number", id="latency-type"),
        pytest.param({"status": 500, "seed": 1.5}, "seed", id="seed-type"),
    ],
)
def test_add_refuses_meaningless_rules(options: dict[str, Any], error: str) -> None:
    with pytest.raises((ValueError, TypeError), match=error):
        FaultInjector().add(**{"route": SEND, **options})


def test_rules_are_listed_and_removed() -> None:
    faults = FaultInjector()
    first = faults.add("*", latency=0.1)
    second = faults.add(SEND, status=429, next_n=3, seed=1)
    assert [rule["id"] for rule in faults.rules()] == [first["id"], second["id"]]
    assert second["retry_after"] == 1.0
    assert second["remaining"] == 3
    assert "rng" not in second
    assert repr(faults) == "FaultInjector(rules=2)"
    assert faults.remove(first["id"])
    assert not faults.remove(first["id"])
    faults.clear()
    assert faults.rules() == []


def test_the_first_deciding_rule_wins_and_latencies_add() -> None:
    faults = FaultInjector()
    faults.add("*", latency=0.1)
    faults.add(SEND, status=503)
    faults.add(SEND, status=500, latency=0.2)
    fault = faults.decide(SEND)
    assert fault is not None
    assert fault.status == 503
    assert fault.latency == pytest.approx(0.3)
    assert faults.decide("GET /v1/mailboxes") == (0.1, None, None, False)


def test_route_keys_follow_mounts() -> None:
    async def endpoint(request: Request) -> Response:
        return Response()

    app = Starlette(
        routes=[Mount("/v1", routes=[Route("/emails/{email_id}", endpoint, methods=["GET"])])]
    )
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/v1/emails/em_1"}
    assert route_key(app, scope) == "GET /v1/emails/{email_id}"
    assert route_key(app, {**scope, "path": "/v1/other"}) == "GET /v1/other"
    assert route_key(app, {**scope, "method": "DELETE"}) == "DELETE /v1/emails/em_1"
    # below a root_path (the app mounted elsewhere), keys stay relative to the app
    mounted = {**scope, "root_path": "/mm", "path": "/mm/v1/emails/em_1"}
    assert route_key(app, mounted) == "GET /v1/emails/{email_id}"
    assert route_key(app, {**mounted, "path": "/mm/elsewhere"}) == "GET /elsewhere"
    # through wrapping middleware (its ``.app``); an app without routes gives the raw path
    wrapped = SandboxMiddleware(app, FaultInjector(), RequestCounters())
    assert route_key(wrapped, scope) == "GET /v1/emails/{email_id}"
    assert route_key(Response(), scope) == "GET /v1/emails/em_1"


def test_counters_repr() -> None:
    counters = RequestCounters()
    counters.count("GET /v1/mailboxes")
    assert repr(counters) == "RequestCounters(total=1)"


async def test_commit_then_drop_without_a_transport_raises(
    rig: Rig, client: httpx.AsyncClient
) -> None:
    # httpx's ASGITransport has no connection to abort: the documented fallback
    rig.faults.add(SEND, commit_then_drop=True, next_n=1)
    with pytest.raises(DroppedConnectionError):
        await post_send(client)
    assert rig.sent == ["mb_1:Hi"]  # committed all the same


@pytest.fixture
def served() -> Iterator[tuple[Rig, str]]:
    """The rig behind a real uvicorn on loopback."""
    rig = build()
    server = Server(rig.app)
    port = server.start()
    try:
        yield rig, f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_commit_then_drop_through_uvicorn(served: tuple[Rig, str]) -> None:
    rig, base_url = served
    rig.faults.add(SEND, commit_then_drop=True, next_n=1)
    with httpx.Client(base_url=base_url, timeout=5.0) as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.post("/v1/mailboxes/mb_1/send", json={"subject": "Hi"})
        assert rig.sent == ["mb_1:Hi"]  # the server committed what the client never heard of
        after = client.post("/v1/mailboxes/mb_1/send", json={"subject": "Again"})
        assert after.status_code == 202
    assert rig.sent == ["mb_1:Hi", "mb_1:Again"]
    assert rig.counters.snapshot()["routes"] == {SEND: 2}


def test_faults_through_uvicorn(served: tuple[Rig, str]) -> None:
    _, base_url = served
    with httpx.Client(base_url=base_url, timeout=5.0) as client:
        rule = client.post("/sandbox/faults", json={"route": SEND, "status": 503, "next_n": 1})
        assert rule.status_code == 201
        assert client.post("/v1/mailboxes/mb_1/send", json={"subject": "Hi"}).status_code == 503
        assert client.post("/v1/mailboxes/mb_1/send", json={"subject": "Hi"}).status_code == 202
        assert client.get("/sandbox/counters").json() == {"total": 2, "routes": {SEND: 2}}
