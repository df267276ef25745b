"""What the image runs, run here without a container daemon.

The Dockerfile's own recipe (``deploy/docker/build-venv.sh``, which its build stage runs)
builds the wheel and a venv from this checkout, owned by root and then made read-only; the
final stage's environment, user, command and health check, read from the Dockerfile, serve
from it as that unprivileged user (``setpriv``), with ``MCPWALL_HOME`` on a directory of its
own. Every mcpwall process runs in a mount namespace of its own (``unshare``) where, as under
``docker run --read-only --tmpfs /tmp -v data:/data``, the root filesystem is read-only and
only /tmp (which holds ``MCPWALL_HOME`` here) can be written: a write anywhere else would fail
the test. It checks ``/healthz``, ``/readyz``, the health check, that a call the policy denies
is refused and never reaches the upstream while an allowed one does, and that nothing was
written inside the venv: its bytecode was all compiled at build time.

It needs root (to hand the files to root, to mount, and to run as another user), ``unshare``
and ``setpriv`` (util-linux), and Debian's ``python3.11`` with its venv module (the interpreter
that user can reach; the developer's may live under /root).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.dockerfile import (
    DOCKERFILE,
    REPO,
    environment,
    exec_form,
    healthcheck,
    of,
    stages,
)
from tests.fixtures.servers import LOOPBACK, free_port, poll

pytestmark = pytest.mark.e2e

SYSTEM_PYTHON = Path("/usr/bin/python3.11")
SETPRIV = shutil.which("setpriv")
UNSHARE = shutil.which("unshare")
# In a private mount namespace: /tmp stays writable, the venv and then / become read-only.
READ_ONLY_ROOT = (
    'mount --bind /tmp /tmp && mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" '
    '&& mount -o remount,bind,ro / && shift && exec "$@"'
)
IMAGE_VENV = "/opt/mcpwall"  # where the Dockerfile puts the venv
IMAGE_DATA = "/data"
DOCKER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LITERAL_SERVER = REPO / "tests" / "fixtures" / "literal_server.py"
BUILD_TIMEOUT = 300.0
TIMEOUT = 30.0
PROTOCOL = "2025-11-25"
ON_DENY = "Namespace is outside the allowed non-production set."

if os.geteuid() != 0:
    pytest.skip(
        "the image check runs as root: it gives the venv to root and serves as another user",
        allow_module_level=True,
    )
if SETPRIV is None or UNSHARE is None or not SYSTEM_PYTHON.exists():
    pytest.skip(
        f"the image check needs setpriv, unshare and Debian's {SYSTEM_PYTHON} (python3.11-venv)",
        allow_module_level=True,
    )


@dataclass
class Image:
    """The recipe's result laid out as in the image: ``venv`` read-only and root's, ``data``
    the user's; ``env``, ``user`` and the commands as the Dockerfile's final stage says."""

    root: Path
    venv: Path
    data: Path
    uid: int
    gid: int
    env: dict[str, str]
    command: list[str]
    health: list[str]

    def as_user(self, command: list[str]) -> list[str]:
        """``command`` as the image's user, on a read-only root with only /tmp writable."""
        assert SETPRIV is not None
        assert UNSHARE is not None
        ids = [f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups"]
        namespace = [UNSHARE, "--mount", "--", "/bin/sh", "-c", READ_ONLY_ROOT, "sh"]
        return [*namespace, str(self.venv), SETPRIV, *ids, "--", *command]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``mcpwall ARGS`` as the image's user; AssertionError unless it exits 0."""
        done = subprocess.run(
            self.as_user([*self.command[:1], *args]),
            env=self.env,
            cwd=self.data,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, f"mcpwall {args[0]} exited {done.returncode}: {done.stderr}"
        return done


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    root = Path(tempfile.mkdtemp(prefix="mcpwall-image-"))
    try:
        yield _build(root)
    finally:
        shutil.rmtree(root)


def _build(root: Path) -> Image:
    root.chmod(0o755)  # root's, readable by all, as the image's / is
    venv = root / "opt" / "mcpwall"
    subprocess.run(
        [str(REPO / "deploy" / "docker" / "build-venv.sh"), str(REPO), str(venv)],
        env={**os.environ, "PYTHON": str(SYSTEM_PYTHON)},
        check=True,
        capture_output=True,
        timeout=BUILD_TIMEOUT,
    )
    _read_only(root)
    build, final = stages(DOCKERFILE.read_text(encoding="utf-8"))
    assert f"build-venv.sh /src {IMAGE_VENV}" in of(build, "RUN")
    uid, gid = (int(part) for part in of(final, "USER")[0].split(":"))
    data = root / "data"
    data.mkdir(mode=0o700)
    os.chown(data, uid, gid)
    env = {
        key: value.replace("$PATH", DOCKER_PATH)
        .replace(IMAGE_VENV, str(venv))
        .replace(IMAGE_DATA, str(data))
        for key, value in environment(final).items()
    }
    entrypoint = exec_form(of(final, "ENTRYPOINT")[0])
    assert entrypoint == ["mcpwall"]
    _, health = healthcheck(final)
    # Found on PATH as in the image: the venv's own, since the Dockerfile puts it first.
    found = shutil.which(entrypoint[0], path=env["PATH"])
    assert found == str(venv / "bin" / "mcpwall")
    return Image(root, venv, data, uid, gid, env, [found], [found, *health[1:]])


def _read_only(root: Path) -> None:
    """Everything under ``root`` read-only (directories still searchable), owned by root."""
    for directory, _, names in os.walk(root):
        for path in [Path(directory), *(Path(directory) / name for name in names)]:
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                continue
            os.chown(path, 0, 0)
            path.chmod(stat.S_IMODE(mode) & ~0o222)


def _snapshot(venv: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``venv`` with its mode, size and modification time."""
    found = {}
    for directory, dirs, names in os.walk(venv):
        for name in [*dirs, *names]:
            path = Path(directory) / name
            info = path.lstat()
            found[str(path.relative_to(venv))] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return found


def test_every_module_in_the_venv_was_compiled_at_build_time(image: Image) -> None:
    sources = list(image.venv.rglob("*.py"))
    assert any(path.match("mcpwall/gateway/*.py") for path in sources)
    missing = [
        str(path.relative_to(image.venv))
        for path in sources
        if not Path(importlib.util.cache_from_source(str(path))).exists()
    ]
    assert missing == []
    assert not (image.venv / "bin" / "pip").exists()  # the recipe leaves no installer behind


def test_only_tmp_is_writable_and_the_venv_is_not_the_users(image: Image) -> None:
    def writes(path: Path) -> bool:
        done = subprocess.run(
            image.as_user(["/usr/bin/touch", str(path)]), capture_output=True, timeout=TIMEOUT
        )
        return done.returncode == 0

    assert writes(image.data / "written-by-the-user")
    assert not writes(image.venv / "lib" / "written-by-the-user")
    assert not (image.venv / "lib" / "written-by-the-user").exists()
    assert not writes(Path("/var/tmp") / f"mcpwall-image-check-{os.getpid()}")


def test_the_image_serves_as_its_user_refuses_a_denied_call_and_writes_nothing_beside_it(
    image: Image, tmp_path: Path
) -> None:
    before = _snapshot(image.venv)
    upstream = image.root / "literal_server.py"
    shutil.copy(LITERAL_SERVER, upstream)
    upstream.chmod(0o444)
    record = image.data / "upstream.jsonl"
    token = _configure(image, upstream, record)
    port, admin_port = free_port(), free_port()
    log = tmp_path / "serve.log"
    args = ["serve", "--host", LOOPBACK, "--port", str(port), "--admin-port", str(admin_port)]
    with open(log, "wb") as output:
        process = subprocess.Popen(
            image.as_user([*image.command, *args]),
            env=image.env,
            cwd=image.data,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://{LOOPBACK}:{port}"
        ready = poll(lambda: _ready(process, base, log), TIMEOUT, interval=0.05)
        assert ready is not None, log.read_text()
        assert _uids(process.pid) == {image.uid}
        health = _get(f"{base}/healthz")
        assert health == (200, {"status": "ok"})
        status, readiness = _get(f"{base}/readyz")
        assert status == 200
        assert all(check["ok"] for check in readiness["checks"].values())
        checked = subprocess.run(
            image.as_user([*image.health, "--url", f"{base}/readyz"]),
            env=image.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert (checked.returncode, checked.stdout.strip()) == (0, f"ready ({base}/readyz)")

        refused, allowed = _two_calls(f"{base}/mcp/k8s", token)
        assert refused["isError"] is True
        assert ON_DENY in refused["content"][0]["text"]
        assert allowed == {"content": [{"type": "text", "text": "delete_pod done"}]}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=TIMEOUT) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    executed = [
        event["arguments"]["namespace"]
        for event in map(json.loads, record.read_text(encoding="utf-8").splitlines())
        if event["event"] == "executed"
    ]
    assert executed == ["staging"]  # the denied call never reached the upstream
    assert "Traceback" not in log.read_text()
    assert _snapshot(image.venv) == before
    # What it did write is in MCPWALL_HOME, and the user's.
    assert {"mcpwall.db", "secret.key"} <= {path.name for path in image.data.iterdir()}
    assert (image.data / "mcpwall.db").stat().st_uid == image.uid


def _configure(image: Image, upstream: Path, record: Path) -> str:
    """``mcpwall apply -f`` as the user: the upstream, a policy and a grant; its token."""
    config = {
        "upstreams": {
            "k8s": {
                "command": [str(image.venv / "bin" / "python"), str(upstream)],
                "env": {"MCPWALL_FIXTURE_RECORD": str(record)},
            }
        },
        "policies": {
            "wall": {
                "version": "1",
                "default": "deny",
                "tools": {
                    "delete_pod": {
                        "require": [
                            {
                                "conditions": [
                                    {"path": "args.namespace", "op": "in", "value": ["staging"]}
                                ],
                                "on_deny": ON_DENY,
                            }
                        ]
                    }
                },
            }
        },
        "grants": [{"label": "agent", "bind": {"k8s": "wall"}}],
    }
    path = image.root / "mcpwall.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    path.chmod(0o444)
    output = image.run("apply", "-f", str(path)).stdout
    [token] = [line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("token ")]
    return token


def _two_calls(url: str, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A legacy session's ``delete_pod`` in payments-prod, then in staging: their results."""
    headers = {"authorization": f"Bearer {token}", "accept": "application/json, text/event-stream"}
    with httpx.Client(timeout=TIMEOUT, headers=headers) as http:
        initialize = {
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": "image-check", "version": "1"},
        }
        opened = http.post(url, json=_request(1, "initialize", initialize))
        assert opened.status_code == 200, opened.text
        session = {"mcp-session-id": opened.headers["mcp-session-id"]}
        session["mcp-protocol-version"] = PROTOCOL
        notified = http.post(
            url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session
        )
        assert notified.status_code == 202
        results = []
        for number, namespace in enumerate(["payments-prod", "staging"], start=2):
            call = {"name": "delete_pod", "arguments": {"namespace": namespace, "name": "web"}}
            answer = http.post(url, json=_request(number, "tools/call", call), headers=session)
            assert answer.status_code == 200, answer.text
            results.append(_result(answer))
    return results[0], results[1]


def _request(number: int, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": number, "method": method, "params": params}


def _result(answer: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC result in a JSON or an SSE answer."""
    if answer.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:] for line in answer.text.splitlines() if line.startswith("data:")]
        message = json.loads(data[-1])
    else:
        message = answer.json()
    assert "result" in message, message
    result: dict[str, Any] = message["result"]
    return result


def _ready(process: subprocess.Popen[bytes], base: str, log: Path) -> bool | None:
    if process.poll() is not None:
        raise AssertionError(f"serve exited with {process.returncode}: {log.read_text()}")
    try:
        return True if _get(f"{base}/readyz")[0] == 200 else None
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _uids(pid: int) -> set[int]:
    """The real, effective, saved and filesystem user ids of process ``pid``."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    (line,) = [line for line in status.splitlines() if line.startswith("Uid:")]
    return {int(part) for part in line.split()[1:]}
