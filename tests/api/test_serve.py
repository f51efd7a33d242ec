"""A real ``chiffon serve`` over a real socket, with the machine's PostgreSQL and RabbitMQ."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.api.served import chiffon, chiffon_serve, environment


def test_serve_answers_over_http_and_stops_on_sigterm(
    machine_dsn: str, amqp_url: str, tmp_path: Path
) -> None:
    env = environment(machine_dsn, tmp_path, CHIFFON_AMQP_URL=amqp_url)
    with chiffon_serve(env) as served:
        with httpx.Client(base_url=served.base_url, timeout=30) as client:
            assert client.get("/health").json() == {"status": "ok"}
            ready = client.get("/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json() == {"ready": True, "database": "ok", "broker": "ok"}
            me = client.get("/api/v1/me", headers=served.bearer)
            assert me.status_code == 200, me.text
            assert me.json()["user"] == "admin"
            token_id = me.json()["token_id"]
            assert client.get("/api/v1/runs", headers=served.bearer).status_code == 200
            chiffon(served.env, "tokens", "revoke", token_id)
            revoked = client.get("/api/v1/me", headers=served.bearer)
            assert revoked.status_code == 401
            assert revoked.json()["code"] == "token_revoked"
            listed = chiffon(served.env, "tokens", "list", "--user", "admin")
            assert f"{token_id}\tadmin\tadmin\trevoked\tused " in listed
        assert served.stop() == 0
    assert any("SIGTERM, stopping" in line for line in served.lines)


def test_serve_refuses_plain_http_off_loopback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chiffon", "serve", "--listen", "0.0.0.0:8080"],
        capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "CHIFFON_HOME": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "chiffon: --listen 0.0.0.0:8080 is off loopback: give --tls-cert and --tls-key, or "
        "--insecure-http when a TLS proxy is in front"
    )
    done = subprocess.run(
        [sys.executable, "-m", "chiffon", "serve", "--listen", "localhost"],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 2
    assert "is not HOST:PORT" in done.stderr


def test_an_open_event_stream_ends_when_serve_stops(machine_dsn: str, tmp_path: Path) -> None:
    env = environment(machine_dsn, tmp_path)
    with chiffon_serve(env) as served:
        with httpx.Client(base_url=served.base_url, timeout=60) as client:
            answer = client.post(
                "/api/v1/runs", json={"request": "Deploy Uptime Kuma", "dry_run": False},
                headers=served.bearer,
            )  # fmt: skip
            assert answer.status_code == 202, answer.text
            events_url = answer.json()["events"]
            seen: list[str] = []
            with client.stream("GET", events_url, headers=served.bearer) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                for line in stream.iter_lines():
                    seen.append(line)
                    if line == "event: plan.proposed":
                        # The run now waits for a decision: its stream would go on for ever.
                        served.process.send_signal(signal.SIGTERM)
                # The loop ends: the server closed the stream as it stopped.
        assert served.process.wait(timeout=60) == 0
    assert "event: plan.proposed" in seen
    assert "event: end" not in seen  # not the run's end: the client will reconnect
    assert not any("timeout graceful shutdown exceeded" in line for line in served.lines)
