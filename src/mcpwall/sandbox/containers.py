"""What the sandbox's containers print and answer: pod logs and ``exec`` output.

Plausible, not real: a healthy pod's log shows it starting and serving; a crashlooping pod's
log shows why it crashes. ``exec`` knows a handful of commands an agent reaches for first
(``hostname``, ``env``, ``ps``, ``ls``, ``cat``, ``echo``, ``whoami``, ``sh -c``); anything
else is "not found", as in a slim container image. Pure: text from the pod's description.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mcpwall.core.errors import SandboxError
from mcpwall.sandbox.cluster import RUNNING, Pod

PORT = 8080
NOT_FOUND = 127  # the shell's exit code for a command it can't find


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What a command printed, and its exit code."""

    output: str
    exit_code: int = 0


def app_of(pod: Pod) -> str:
    """The application a pod runs: its deployment, or the image's name for a lone pod."""
    return pod.deployment or pod.image.rsplit("/", 1)[-1].split(":", 1)[0]


def version_of(pod: Pod) -> str:
    """The image's tag (``latest`` when it has none)."""
    _, colon, tag = pod.image.rsplit("/", 1)[-1].partition(":")
    return tag if colon else "latest"


def logs(pod: Pod, tail: int | None = None) -> str:
    """The current container's log (its last ``tail`` lines when given)."""
    app = app_of(pod)
    lines = [
        f"INFO  starting {app} {version_of(pod)} (namespace {pod.namespace}, node {pod.node})",
        "INFO  configuration loaded from /app/config.yaml",
    ]
    if pod.status == RUNNING:
        lines += [
            f"INFO  listening on :{PORT}",
            "INFO  GET /healthz 200 (0.4 ms)",
            "INFO  GET /readyz 200 (0.3 ms)",
            "INFO  GET /metrics 200 (1.9 ms)",
        ]
    else:
        lease = f"{app}-leader"
        lines += [
            f'INFO  acquiring lease "{lease}"',
            f'ERROR lease "{lease}" is still held by a previous instance of this pod (stale lock)',
            "FATAL cannot start without the lease; exiting with status 1",
            f"(the container has restarted {pod.restarts} times: CrashLoopBackOff)",
        ]
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    return "\n".join(lines)


def run(pod: Pod, command: Sequence[str]) -> ExecResult:
    """Run ``command`` (an argv) in the pod's container."""
    if not command or not command[0]:
        raise SandboxError('command: expected at least one word, such as ["ls", "/app"]')
    if pod.status != RUNNING:
        raise SandboxError(
            f'container "{app_of(pod)}" in pod "{pod.name}" is not running ({pod.status}): '
            "there is nothing to exec into"
        )
    program, args = command[0].rsplit("/", 1)[-1], list(command[1:])
    if program == "sh" and args[:1] == ["-c"] and len(args) == 2:
        return run(pod, args[1].split())
    answer = _COMMANDS.get(program)
    if answer is None:
        return ExecResult(f"sh: {command[0]}: not found", NOT_FOUND)
    return answer(pod, args)


def _hostname(pod: Pod, args: list[str]) -> ExecResult:
    return ExecResult(pod.name)


def _whoami(pod: Pod, args: list[str]) -> ExecResult:
    return ExecResult("app")


def _echo(pod: Pod, args: list[str]) -> ExecResult:
    return ExecResult(" ".join(args))


def _env(pod: Pod, args: list[str]) -> ExecResult:
    app = app_of(pod)
    return ExecResult(
        "\n".join(
            [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                f"HOSTNAME={pod.name}",
                f"APP_NAME={app}",
                f"APP_ENV={pod.namespace}",
                f"PORT={PORT}",
                "KUBERNETES_SERVICE_HOST=10.96.0.1",
                "KUBERNETES_SERVICE_PORT=443",
            ]
        )
    )


def _ps(pod: Pod, args: list[str]) -> ExecResult:
    app = app_of(pod)
    return ExecResult(
        "PID   USER     TIME  COMMAND\n"
        f"    1 app       0:42 /app/{app} --port {PORT}\n"
        "   17 app       0:00 ps"
    )


_FILES: dict[str, Callable[[Pod], str]] = {
    "/etc/hostname": lambda pod: pod.name,
    "/etc/os-release": lambda pod: 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3',
    "/app/VERSION": version_of,
    "/app/config.yaml": lambda pod: f"port: {PORT}\nlog_level: info\nenvironment: {pod.namespace}",
}
_DIRECTORIES = {
    "/": "app\nbin\ndev\netc\nhome\nlib\nproc\nsys\ntmp\nusr\nvar",
    "/app": "VERSION\nconfig.yaml",
    "/tmp": "",  # noqa: S108 (a directory listing in a pretend container)
}


def _cat(pod: Pod, args: list[str]) -> ExecResult:
    out, code = [], 0
    for path in args:
        content = _FILES.get(path)
        if content is None:
            out.append(f"cat: can't open '{path}': No such file or directory")
            code = 1
        else:
            out.append(content(pod))
    return ExecResult("\n".join(out), code)


def _ls(pod: Pod, args: list[str]) -> ExecResult:
    paths = [arg for arg in args if not arg.startswith("-")] or ["/app"]
    out, code = [], 0
    for path in paths:
        listing = _DIRECTORIES.get(path.rstrip("/") or "/")
        if listing is None:
            out.append(f"ls: {path}: No such file or directory")
            code = 1
        else:
            out.append(listing)
    return ExecResult("\n".join(out), code)


_COMMANDS: dict[str, Callable[[Pod, list[str]], ExecResult]] = {
    "hostname": _hostname,
    "whoami": _whoami,
    "echo": _echo,
    "env": _env,
    "printenv": _env,
    "ps": _ps,
    "cat": _cat,
    "ls": _ls,
}
