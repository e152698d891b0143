"""``mm-assistants demo --api responses --mode stream``: the story passes, and the model's
words reach the output a piece at a time (read from the subprocess as they come)."""

from __future__ import annotations

import io
import os
import selectors
import subprocess
import sys
import time

from mm_assistants.cli.console import Console
from mm_assistants.cli.demo import run_demo
from mm_assistants.cli.demo_story import DemoOptions
from mm_assistants.cli.demo_stream import SPEAKER, StreamPrinter
from mm_assistants.drivers.stream_events import (
    TextDelta,
    ToolCallArgumentsDone,
    TurnCompleted,
    TurnRetried,
)

FINAL_LINE = "run completed · 3 tool calls · approvals: approved"
LIMIT = 90.0  # seconds: the whole demo, bounded


def test_the_streamed_story_passes_and_says_its_words_once() -> None:
    out = io.StringIO()
    options = DemoOptions(api="responses", mode="stream", decide_after=0.1, model_latency=0.0)
    outcome = run_demo(options, out)
    assert outcome.status == "completed"
    assert [a.decision for a in outcome.approvals] == ["approved"]
    transcript = out.getvalue()
    assert "(Responses API, streamed)" in transcript
    assert "· the model asks for reply_email (" in transcript
    assert transcript.count(outcome.text) == 1  # streamed, not repeated by the summary
    assert f"{SPEAKER}{outcome.text}\n" in transcript
    assert transcript.rstrip().splitlines()[-1].startswith("run completed · 3 tool calls")


def test_the_printer_keeps_the_words_printable_and_ends_their_line() -> None:
    out = io.StringIO()
    printer = StreamPrinter(Console(out, live=False))
    for event in (
        TextDelta("Hi \x1b[31mred"),
        TextDelta("\nsecond"),
        TurnCompleted("resp_1", "completed"),
        ToolCallArgumentsDone("call_1", "read_email"),
        TurnRetried(1, "ReadError"),
    ):
        printer(event)
    text = out.getvalue()
    assert "\x1b" not in text  # the model cannot steer the terminal
    assert f"{SPEAKER}Hi " in text
    assert "\n" + " " * len(SPEAKER) + "second\n" in text
    assert "  · the model asks for read_email (call_1)\n" in text
    assert "↻ the stream broke (ReadError)" in text
    assert printer.shown


def read_as_it_comes(fd: int) -> list[tuple[float, bytes]]:
    """Each read of ``fd`` with when it came, until its end (bounded by `LIMIT`)."""
    reads: list[tuple[float, bytes]] = []
    ends = time.monotonic() + LIMIT
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while time.monotonic() < ends:
            if not selector.select(timeout=max(0.0, ends - time.monotonic())):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            reads.append((time.monotonic(), chunk))
    return reads


def test_the_words_arrive_incrementally_in_a_subprocess() -> None:
    reads: list[tuple[float, bytes]] = []
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mm_assistants.cli.main",
            "demo",
            "--api",
            "responses",
            "--mode",
            "stream",
            "--decide-after",
            "0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    ) as process:
        assert process.stdout is not None
        try:
            reads = read_as_it_comes(process.stdout.fileno())
            assert process.wait(timeout=10) == 0, process.communicate(timeout=10)[1]
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    whole = b"".join(chunk for _, chunk in reads)
    assert FINAL_LINE.encode() in whole
    # the reads that carried the final words: from the speaker's mark to the end of its line
    speaking = whole.rindex(SPEAKER.encode())
    said = whole.index(b"\n", speaking)
    offset = 0
    pieces = []
    for when, chunk in reads:
        if offset + len(chunk) > speaking and offset < said:
            pieces.append(when)
        offset += len(chunk)
    # the words came in several reads spread over the model's latency, not all at once
    assert len(pieces) >= 3, whole[speaking:said]
    assert pieces[-1] - pieces[0] > 0.05
