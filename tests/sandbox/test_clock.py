from mm_assistants.sandbox.clock import SandboxClock


def test_the_clock_follows_its_source_plus_the_offset() -> None:
    now = [1000.0]
    clock = SandboxClock(lambda: now[0])
    assert clock() == 1000.0
    now[0] = 1001.5
    assert clock() == 1001.5


def test_advance_and_set_offset_move_every_reader() -> None:
    clock = SandboxClock(lambda: 50.0)
    assert clock.advance(600) == 600
    assert clock() == 650.0
    assert clock.advance(-100) == 500
    assert clock.set_offset(0) == 0
    assert clock() == 50.0
    assert repr(clock) == "SandboxClock(offset=0)"
