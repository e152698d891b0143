"""``mm-assistants state init|status`` as an operator runs it, on a throwaway PostgreSQL."""

from __future__ import annotations

import builtins
from typing import Any

import psycopg
import pytest

from mm_assistants.cli.main import build_parser, main
from mm_assistants.state.postgres.connection import describe_dsn
from mm_assistants.state.postgres.schema import CURRENT_VERSION
from tests.pgcluster import PASSWORD, PostgresCluster, free_port

VARIABLE = "MM_ASSISTANTS_DSN"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err
    return code, out, err


def test_init_creates_the_schema_once_and_says_where(
    pg_dsn: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VARIABLE, pg_dsn)
    where = describe_dsn(pg_dsn)
    assert run(capsys, "state", "status") == (
        1,
        f"PostgreSQL schema at version 0 on {where}: run: mm-assistants state init"
        f" (this release uses {CURRENT_VERSION})\n",
        "",
    )
    assert run(capsys, "state", "init") == (
        0,
        f"PostgreSQL schema at version {CURRENT_VERSION} (was 0) on {where}\n",
        "",
    )
    code, out, _ = run(capsys, "state", "init")  # again: nothing to do
    assert (code, out) == (
        0,
        f"PostgreSQL schema at version {CURRENT_VERSION} (was {CURRENT_VERSION}) on {where}\n",
    )
    code, out, _ = run(capsys, "state", "status")
    assert (code, out) == (
        0,
        f"PostgreSQL schema at version {CURRENT_VERSION} on {where}: up to date\n",
    )
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT to_regclass('mm_route_threads')").fetchone() == (
            "mm_route_threads",
        )


def test_dsn_flag_works_too(pg_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "state", "init", "--dsn", pg_dsn)
    assert code == 0
    assert "(was 0)" in out


def test_the_help_says_to_prefer_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["state", "init", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert VARIABLE in out
    assert "visible to other users" in out


def test_no_dsn_is_a_configuration_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)
    assert run(capsys, "state", "init") == (
        2,
        "",
        f"mm-assistants state: no database: set {VARIABLE} (or pass --dsn)\n",
    )


def test_a_malformed_dsn_is_a_configuration_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VARIABLE, f"postgresql://app:{PASSWORD}@[oops")
    code, _, err = run(capsys, "state", "init")
    assert code == 2
    assert "not a PostgreSQL connection string" in err


def test_a_wrong_password_is_one_line_without_it(
    pg_cluster: PostgresCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = pg_cluster.dsn().replace(PASSWORD, "wrong-pw-81")
    code, out, err = run(capsys, "state", "init", "--dsn", wrong)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert "authentication failed" in err
    assert describe_dsn(wrong) in err
    assert "wrong-pw-81" not in err


def test_an_unreachable_server_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VARIABLE, f"postgresql://app:{PASSWORD}@127.0.0.1:{free_port()}/app")
    code, _, err = run(capsys, "state", "status")
    assert code == 1
    assert "unreachable" in err
    assert err.count("\n") == 1


def test_a_newer_database_is_refused_with_what_to_do(
    pg_dsn: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VARIABLE, pg_dsn)
    run(capsys, "state", "init")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("UPDATE mm_schema_version SET version = 42")
    code, _, err = run(capsys, "state", "init")
    assert code == 1
    assert "version 42" in err
    assert "upgrade mm-assistants" in err
    code, out, _ = run(capsys, "state", "status")
    assert code == 1
    assert "newer than this release" in out


def test_a_missing_privilege_is_one_line(
    pg_cluster: PostgresCluster, pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dbname = pg_dsn.rsplit("/", 1)[1]
    with psycopg.connect(pg_cluster.dsn(dbname), autocommit=True) as conn:
        conn.execute("CREATE ROLE mm_reader LOGIN PASSWORD 'reader-pw-5'")
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    reader = pg_dsn.replace(f"mm_test:{PASSWORD}", "mm_reader:reader-pw-5")
    code, _, err = run(capsys, "state", "init", "--dsn", reader)
    assert code == 1
    assert err.startswith(f"mm-assistants state: PostgreSQL at {describe_dsn(reader)} refused:")
    assert "SQLSTATE 42501" in err  # insufficient privilege
    assert "reader-pw-5" not in err
    with psycopg.connect(pg_cluster.dsn(dbname), autocommit=True) as conn:
        conn.execute("DROP OWNED BY mm_reader")
        conn.execute("DROP ROLE mm_reader")


def test_without_the_extra_it_says_what_to_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_psycopg(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "psycopg" or name.startswith("psycopg."):
            raise ImportError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_psycopg)
    monkeypatch.setenv(VARIABLE, "postgresql://app@127.0.0.1:1/app")
    code, _, err = run(capsys, "state", "init")
    assert code == 3
    assert 'pip install "mm-assistants[postgres]"' in err
