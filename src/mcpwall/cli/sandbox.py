"""``mcpwall sandbox [--http PORT]``: the demo's pretend Kubernetes cluster, on its own."""

from __future__ import annotations

import contextlib

import click

from mcpwall.cli.extras import require_demo_extra
from mcpwall.cli.output import fail, stderr

PORT = click.IntRange(0, 65535)


@click.command()
@click.option(
    "--http",
    "port",
    type=PORT,
    metavar="PORT",
    help="Serve Streamable HTTP on 127.0.0.1:PORT/mcp instead of stdio (0: any free port); "
    "the URL is printed on stdout once it listens.",
)
def sandbox(port: int | None) -> None:
    """Serve a sandbox Kubernetes cluster over MCP: stdio, or Streamable HTTP with --http.

    A pretend cluster, kept in memory, for pointing an agent at something harmless: namespaces
    dev, staging, sandbox, payments-staging and payments-prod, with deployments and pods (one
    crashlooping in staging, one in payments-staging). Its tools are the ones the seed's
    policy names: list_pods, get_pod_logs, delete_pod, exec_pod, scale_deployment,
    delete_deployment, apply_manifest, delete_namespace, get_secret… Nothing it does touches a
    real cluster, and its state is gone when it stops. HTTP listens on 127.0.0.1 only.

    Put mcpwall in front of it: mcpwall upstream add k8s --url URL (or --command "mcpwall
    sandbox", one cluster per session); mcpwall demo does all of it for you.
    """
    require_demo_extra("sandbox")
    import anyio  # the SDK's dependencies load only once they are known to be there

    from mcpwall.sandbox.scenario import crashloop_cluster
    from mcpwall.sandbox.server import build_server, serve_http, serve_stdio

    server = build_server(crashloop_cluster())
    if port is None:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C in a terminal: just stop
            anyio.run(serve_stdio, server)
        return

    def listening(url: str) -> None:
        click.echo(url)  # stdout: for scripts (mcpwall demo reads it)
        stderr.print(
            f"serving the sandbox cluster on {url} (nothing real is touched; Ctrl-C stops)"
        )

    try:
        anyio.run(serve_http, server, port, listening)
    except OSError as error:
        fail(f"cannot serve on 127.0.0.1:{port}: {error.strerror or error}")
