"""The fuzzing kit of `test_bad_model_input` (and the secrets check): tool calls generated
from each tool's JSON schema, an oracle that judges them apart from the dispatcher, a
ledger of the requests each call made, and a one-step Assistants server that records
what a driver submits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx2
import openai
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from mm_assistants import (
    ApprovalPolicy,
    AssistantsRunDriver,
    AsyncAssistantsRunDriver,
    AsyncDispatcher,
    AsyncMultiMailClient,
    AuditRecord,
    Dispatcher,
    MultiMailClient,
    PollPolicy,
    RetryPolicy,
    RunOutcome,
    ToolCall,
    ToolResult,
    calls_from_run,
    load_registry,
)
from tests.reliability.support import REFUSALS

REGISTRY = load_registry()
NAMES = sorted(REGISTRY)
FUZZ_KEY = "mm_fuzz_key_0123456789"
MAX_TEXT = 24
MAILBOX = "mbx_1"

#: The dispatcher set-ups the calls meet: every tool, or an agent limited to two mailboxes.
SETUPS: list[dict[str, Any]] = [
    {"profile": "admin", "allow_self_approval": True, "mailbox_id": MAILBOX},
    {"profile": "agent", "mailbox_id": MAILBOX, "allowed_mailboxes": {MAILBOX, "mbx_2"}},
]
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- arguments from the tools' schemas ------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=MAX_TEXT),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def values_of(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values that satisfy ``schema`` (the subset of JSON Schema the tools use)."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of([values_of(option) for option in schema["anyOf"]])
    kinds = schema.get("type")
    if kinds is None:
        return json_values
    kinds = [kinds] if isinstance(kinds, str) else kinds
    return st.one_of([_of_type(kind, schema) for kind in kinds])


def _of_type(kind: str, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind in ("integer", "number"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if kind == "integer":
            return st.integers(min_value=low, max_value=high)
        return st.floats(low, high, allow_nan=False, allow_infinity=False)
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        if schema.get("format") == "email":
            return st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.example", fullmatch=True)
        return st.text(max_size=min(schema.get("maxLength", MAX_TEXT), MAX_TEXT))
    if kind == "array":
        low = schema.get("minItems", 0)
        high = max(low, min(schema.get("maxItems", 3), 3))
        return st.lists(values_of(schema.get("items", {})), min_size=low, max_size=high)
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {name: values_of(properties[name]) for name in properties if name in required},
            optional={name: values_of(s) for name, s in properties.items() if name not in required},
        )
    raise AssertionError(f"a schema type the generator does not know: {kind}")


def _broken_once(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid object with one thing wrong (most of them make it invalid)."""
    properties = schema.get("properties", {})
    required = list(schema.get("required", ()))

    def break_it(draw: Any) -> dict[str, Any]:
        value = dict(draw(values_of(schema)))
        ways = ["unknown field", "wrong type"]
        if required:
            ways.append("missing required")
        bounded = [n for n, s in properties.items() if "maximum" in s or "maxLength" in s]
        if bounded:
            ways.append("out of range")
        way = draw(st.sampled_from(ways))
        if way == "unknown field":
            value[draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in properties))] = 1
        elif way == "missing required":
            value.pop(draw(st.sampled_from(required)), None)
        elif way == "out of range":
            name = draw(st.sampled_from(bounded))
            rule = properties[name]
            if "maximum" in rule:
                value[name] = rule["maximum"] + draw(st.integers(1, 10**6))
            else:
                value[name] = "x" * (min(rule["maxLength"], 10_000) + 1)
        elif properties:
            value[draw(st.sampled_from(sorted(properties)))] = draw(
                st.one_of(st.integers(), st.lists(st.integers(), max_size=2), st.booleans())
            )
        return value

    return st.composite(lambda draw: break_it(draw))()


def _texts(objects: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[str]:
    """Objects as the JSON text a model sends, whole or mangled."""
    dumped = objects.map(json.dumps)
    return st.one_of(
        dumped,
        dumped,
        st.tuples(dumped, st.integers(0, 200)).map(lambda pair: pair[0][: pair[1]]),  # cut off
        dumped.map(lambda text: f"[{text}]"),  # not an object
        dumped.map(lambda text: text + "}"),  # trailing garbage
        objects.map(repr),  # Python, not JSON
    )


def arguments_for(name: str) -> st.SearchStrategy[str]:
    """Argument text for tool ``name``: valid, broken once, mangled, or anything."""
    schema = REGISTRY[name].validator.schema
    return st.one_of(
        _texts(values_of(schema)),
        _texts(values_of(schema)),
        _texts(_broken_once(schema)),
        st.sampled_from(["", "null", "{}", "[]", '"text"', "NaN", '{"limit": Infinity}']),
        st.text(max_size=60),
        json_values.map(json.dumps),
    )


#: (name, arguments) as a model sends them: mostly real tools, sometimes made-up names.
tool_calls = st.one_of([st.tuples(st.just(name), arguments_for(name)) for name in NAMES])
model_calls = st.one_of(
    tool_calls,
    tool_calls,
    tool_calls,
    st.tuples(
        st.one_of(
            st.text(max_size=40),
            st.sampled_from(NAMES).map(str.upper),
            st.sampled_from(NAMES).map(lambda n: f" {n}"),
        ),
        st.one_of(st.text(max_size=60), json_values.map(json.dumps)),
    ),
)
call_batches = st.lists(model_calls, min_size=1, max_size=6)


# -- the oracle -------------------------------------------------------------------------------


def schema_valid(name: Any, arguments: Any) -> bool:
    """Whether ``arguments`` fit tool ``name``'s schema, judged apart from the dispatcher."""
    if not isinstance(name, str) or name not in REGISTRY:
        return False
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        parsed: Any = {}
    else:
        try:
            parsed = json.loads(arguments)
        except (TypeError, ValueError, RecursionError):
            return False
    return isinstance(parsed, dict) and REGISTRY[name].validator.is_valid(parsed)


@dataclass
class Ledger:
    """Requests to MultiMail and finished dispatches, in one order: with calls dispatched
    one at a time, the requests before a call's audit record are that call's."""

    events: list[tuple[str, Any]] = field(default_factory=list)

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.events.append(("request", f"{request.method} {request.url.path}"))
        return httpx.Response(200, json={})

    def audit(self, record: AuditRecord) -> None:
        self.events.append(("done", record.call_id))

    def requests_by_call(self) -> dict[str, list[str]]:
        made: dict[str, list[str]] = {}
        pending: list[str] = []
        for kind, value in self.events:
            if kind == "request":
                pending.append(value)
            else:
                made[value], pending = pending, []
        assert pending == [], f"requests after the last dispatch: {pending}"
        return made


class FastForward:
    """A clock that jumps a minute per reading: a ``wait_for_email`` ends at once."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 60
        return self.now


#: The one request a refused call may cost: a scoped reviewer's ``decide_email`` looks up
#: where its email is held before it is refused (a read; nothing is decided).
SCOPE_LOOKUP = "GET /v1/oversight/pending"


def check_batch(
    calls: list[ToolCall], results: list[ToolResult], ledger: Ledger, *, one_at_a_time: bool = True
) -> None:
    """The properties of one batch of dispatched calls. With calls dispatched concurrently
    (``one_at_a_time=False``) requests cannot be told apart, so only their total is held
    to the calls that passed validation."""
    assert [r.call_id for r in results] == [c.id for c in calls]
    for call, result in zip(calls, results, strict=True):
        assert isinstance(result, ToolResult)
        assert isinstance(json.loads(result.output), dict)  # always a JSON object
        if not schema_valid(call.name, call.arguments):
            assert result.error_type in REFUSALS, f"{call!r} did not fit its schema: {result!r}"
    if not one_at_a_time:
        accepted = [r for r in results if r.error_type not in REFUSALS]
        requests = [value for kind, value in ledger.events if kind == "request"]
        if not accepted:
            requests = [value for value in requests if value != SCOPE_LOOKUP]
        assert bool(requests) == bool(accepted), f"{len(requests)} requests for {accepted}"
        return
    made = ledger.requests_by_call()
    assert sorted(made) == sorted(c.id for c in calls), "a dispatch without its audit record"
    for call, result in zip(calls, results, strict=True):
        requests = made[call.id]
        if result.error_type in REFUSALS:
            sent = [value for value in requests if value != SCOPE_LOOKUP]
            assert sent == [], f"{call!r} was refused ({result.error_type}) yet sent {sent}"
        if requests:
            assert schema_valid(call.name, call.arguments), f"{call!r} sent {requests}"


def as_tool_calls(batch: list[tuple[Any, Any]]) -> list[ToolCall]:
    return [
        ToolCall(id=f"call_{n}", name=name, arguments=args) for n, (name, args) in enumerate(batch)
    ]


def sync_dispatcher(
    ledger: Ledger, setup: dict[str, Any], api_key: str = FUZZ_KEY, **options: Any
) -> Dispatcher:
    """A dispatcher whose MultiMail is ``ledger`` (answers 200 ``{}``), set up as ``setup``."""
    http = httpx.Client(transport=httpx.MockTransport(ledger.answer))
    client = MultiMailClient(
        api_key=api_key, base_url="https://mm.test", http_client=http, retry=RetryPolicy.none()
    )
    return Dispatcher(
        client,
        audit=ledger.audit,
        clock=FastForward(),
        wait_poll_interval=0.001,
        **setup,
        **options,
    )


def async_dispatcher(
    ledger: Ledger, http: httpx.AsyncClient, setup: dict[str, Any], **options: Any
) -> AsyncDispatcher:
    """`sync_dispatcher` for asyncio; ``http`` has the `recording_transport`."""
    client = AsyncMultiMailClient(
        api_key=FUZZ_KEY, base_url="https://mm.test", http_client=http, retry=RetryPolicy.none()
    )
    return AsyncDispatcher(
        client,
        audit=ledger.audit,
        clock=FastForward(),
        wait_poll_interval=0.001,
        **setup,
        **options,
    )


def recording_transport(ledger: Ledger) -> httpx.MockTransport:
    async def answer(request: httpx.Request) -> httpx.Response:
        return ledger.answer(request)

    return httpx.MockTransport(answer)


# -- drivers: a step's generated calls, submitted ------------------------------------------

call_ids = st.from_regex(r"call_[A-Za-z0-9]{4,24}", fullmatch=True)
required_actions = st.lists(
    st.tuples(call_ids, model_calls), min_size=1, max_size=6, unique_by=lambda item: item[0]
)
DRIVER_POLL = PollPolicy(first_interval=0.001, max_interval=0.001, min_interval=0.001)
NO_WAIT = ApprovalPolicy(wait=False)


class OneStepRun:
    """An Assistants server with one run that asks for ``calls`` once, then completes;
    it records every submit. Speaks to the SDK through an ``httpx2`` mock transport.
    A driver that keeps looking without submitting finds the run failed after
    `PATIENCE` looks, so no drive can loop forever."""

    PATIENCE = 20

    def __init__(self, calls: list[tuple[str, tuple[str, str]]]) -> None:
        self.calls = calls
        self.submits: list[list[dict[str, Any]]] = []
        self.status = "requires_action"
        self.looks = 0

    def view(self, status: str | None = None) -> dict[str, Any]:
        status = status or self.status
        run: dict[str, Any] = {
            "id": "run_1",
            "object": "thread.run",
            "assistant_id": "asst_1",
            "thread_id": "thread_1",
            "status": status,
            "created_at": 1,
            "expires_at": 4_000_000_000,
            "instructions": "",
            "model": "fake",
            "tools": [],
            "parallel_tool_calls": True,
            "required_action": None,
        }
        if status == "requires_action":
            tool_calls = [
                {"id": call_id, "type": "function", "function": {"name": n, "arguments": a}}
                for call_id, (n, a) in self.calls
            ]
            run["required_action"] = {
                "type": "submit_tool_outputs",
                "submit_tool_outputs": {"tool_calls": tool_calls},
            }
        return run

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if request.method == "POST" and path.endswith("/submit_tool_outputs"):
            body = json.loads(request.content)
            self.submits.append(body["tool_outputs"])
            self.status = "completed"
            if body.get("stream"):
                events = f"event: thread.run.completed\ndata: {json.dumps(self.view())}\n\n"
                events += "event: done\ndata: [DONE]\n\n"
                return httpx2.Response(
                    200, text=events, headers={"content-type": "text/event-stream"}
                )
        elif path.endswith("/messages"):
            return httpx2.Response(200, json={"object": "list", "data": [], "has_more": False})
        else:
            self.looks += 1
            if self.looks > self.PATIENCE:
                self.status = "failed"
        return httpx2.Response(200, json=self.view())

    def sync_client(self) -> openai.OpenAI:
        http = httpx2.Client(transport=httpx2.MockTransport(self.handle))
        return openai.OpenAI(
            api_key="sk-fuzz", base_url="https://openai.test/v1", http_client=http, max_retries=0
        )

    def async_client(self) -> openai.AsyncOpenAI:
        async def handle(request: httpx2.Request) -> httpx2.Response:
            return self.handle(request)

        http = httpx2.AsyncClient(transport=httpx2.MockTransport(handle))
        return openai.AsyncOpenAI(
            api_key="sk-fuzz", base_url="https://openai.test/v1", http_client=http, max_retries=0
        )


def check_submitted(
    server: OneStepRun, outcome: RunOutcome, ledger: Ledger, *, one_at_a_time: bool
) -> None:
    """One submit, carrying an output for every call id of the step exactly once."""
    ids = [call_id for call_id, _ in server.calls]
    assert outcome.status == "completed"
    [submitted] = server.submits  # one submit for the step, never a second
    given = [item["tool_call_id"] for item in submitted]
    assert sorted(given) == sorted(ids), f"submitted {given} for the calls {ids}"
    assert all(isinstance(json.loads(item["output"]), dict) for item in submitted)
    calls = calls_from_run(server.view("requires_action"))
    assert [c.id for c in calls] == ids
    check_batch(calls, outcome.tool_results, ledger, one_at_a_time=one_at_a_time)


def sync_drive(server: OneStepRun, mode: str, concurrency: int) -> tuple[RunOutcome, Ledger]:
    """Drive the run with `AssistantsRunDriver` (every tool enabled)."""
    ledger = Ledger()
    dispatcher = sync_dispatcher(ledger, SETUPS[0], max_concurrency=concurrency)
    with server.sync_client() as client:
        driver = AssistantsRunDriver(
            client, dispatcher, mode=mode, approvals=NO_WAIT, poll=DRIVER_POLL
        )
        return driver.attach("thread_1", "run_1"), ledger


def async_drive(server: OneStepRun, mode: str, concurrency: int) -> tuple[RunOutcome, Ledger]:
    """Drive the run with `AsyncAssistantsRunDriver` (an agent limited to two mailboxes)."""
    ledger = Ledger()

    async def scenario() -> RunOutcome:
        async with (
            httpx.AsyncClient(transport=recording_transport(ledger)) as http,
            server.async_client() as client,
        ):
            dispatcher = async_dispatcher(ledger, http, SETUPS[1], max_concurrency=concurrency)
            driver = AsyncAssistantsRunDriver(
                client, dispatcher, mode=mode, approvals=NO_WAIT, poll=DRIVER_POLL
            )
            return await driver.attach("thread_1", "run_1")

    return asyncio.run(scenario()), ledger


DRIVES: dict[str, Callable[[OneStepRun, str, int], tuple[RunOutcome, Ledger]]] = {
    "sync": sync_drive,
    "async": async_drive,
}
