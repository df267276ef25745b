"""The sandbox cluster as an MCP server, built with the official SDK (``mcp``, the ``demo`` extra).

Its tools carry the names the seed's policy is written for (``delete_pod``, ``apply_manifest``,
``scale_deployment``, ``delete_deployment``, ``exec_pod``, ``get_pod_logs``, ``list_pods``, and
the cluster-admin tools the seed hides: ``delete_namespace``, ``get_secret``,
``apply_cluster_role``, ``delete_cluster_role``), plus ``list_namespaces``,
``list_deployments`` and ``list_objects`` for looking around. Reads answer with structured
content; changes answer with one line, as ``kubectl`` does; refusals are tool errors.

One cluster per process: every session, over stdio or HTTP, sees and changes the same state.
Tools are coroutines, so calls run one at a time on the event loop and never race.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from mcpwall import __version__
from mcpwall.core.errors import SandboxError
from mcpwall.sandbox import containers
from mcpwall.sandbox.cluster import Cluster, Deployment, Namespace, Pod
from mcpwall.sandbox.manifests import Manifest, read_manifest

HOST = "127.0.0.1"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
PATH = "/mcp"
NAME = "mcpwall-sandbox"
DESCRIPTION = (
    "A sandbox Kubernetes cluster for trying agents and policies: pretend namespaces, "
    "deployments and pods kept in memory. Nothing it does touches a real cluster."
)
INSTRUCTIONS = (
    "This is mcpwall's sandbox cluster: a pretend Kubernetes cluster kept in memory, safe to "
    "experiment with. Namespaces: dev, staging, sandbox, payments-staging, payments-prod. "
    "Start with list_pods; get_pod_logs shows why a pod crashloops."
)

READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
CHANGE = ToolAnnotations(destructive_hint=False, idempotent_hint=True, open_world_hint=False)
DESTROY = ToolAnnotations(destructive_hint=True, open_world_hint=False)

NamespaceArg = Annotated[str, Field(description="The namespace, e.g. staging.")]
PodArg = Annotated[str, Field(description="The pod's name, as list_pods shows it.")]
DeploymentArg = Annotated[str, Field(description="The deployment's name.")]
ManifestArg = Annotated[
    str, Field(description="The object as YAML or JSON; its kind and name must match.")
]
FilterArg = Annotated[
    str | None, Field(description="Only this namespace (default: every namespace).")
]


# Tools' structured output; not slots=True (see mcpwall.sandbox.cluster).


@dataclass(frozen=True)
class Namespaces:
    namespaces: list[Namespace]


@dataclass(frozen=True)
class Pods:
    pods: list[Pod]


@dataclass(frozen=True)
class Deployments:
    deployments: list[Deployment]


@dataclass(frozen=True)
class ObjectRef:
    kind: str
    namespace: str
    name: str


@dataclass(frozen=True)
class Objects:
    objects: list[ObjectRef]


@dataclass(frozen=True)
class Secret:
    namespace: str
    name: str
    data: dict[str, str]


@contextmanager
def refusals() -> Iterator[None]:
    """A :class:`SandboxError` becomes a tool error (``isError: true``) carrying its message."""
    try:
        yield
    except SandboxError as error:
        raise ToolError(str(error)) from None


def build_server(cluster: Cluster) -> MCPServer:
    """An ``MCPServer`` whose tools act on ``cluster``."""
    server: MCPServer = MCPServer(
        NAME,
        description=DESCRIPTION,
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level="WARNING",
    )
    _reading_tools(server, cluster)
    _workload_tools(server, cluster)
    _admin_tools(server, cluster)
    return server


def _reading_tools(server: MCPServer, cluster: Cluster) -> None:
    @server.tool(annotations=READ)
    async def list_namespaces() -> Namespaces:
        """List the namespaces, with how many pods and deployments each has."""
        return Namespaces(cluster.namespaces())

    @server.tool(annotations=READ)
    async def list_pods(namespace: FilterArg = None) -> Pods:
        """List pods with their status, readiness, restarts, image and owning deployment."""
        with refusals():
            return Pods(cluster.pods(namespace))

    @server.tool(annotations=READ)
    async def list_deployments(namespace: FilterArg = None) -> Deployments:
        """List deployments with their desired and ready replicas."""
        with refusals():
            return Deployments(cluster.deployments(namespace))

    @server.tool(annotations=READ)
    async def list_objects(
        kind: Annotated[str, Field(description="The kind, e.g. ConfigMap or ClusterRole.")],
        namespace: FilterArg = None,
    ) -> Objects:
        """List objects of another kind (ConfigMap, Secret, ClusterRole…) by name; no content."""
        with refusals():
            found = cluster.objects(kind, namespace)
        return Objects([ObjectRef(o.kind, o.namespace, o.name) for o in found])

    @server.tool(annotations=READ, structured_output=False)
    async def get_pod_logs(
        namespace: NamespaceArg,
        name: PodArg,
        tail: Annotated[int | None, Field(ge=0, description="Only the last N lines.")] = None,
    ) -> str:
        """Read the log of a pod's current container (why a crashlooping pod crashes)."""
        with refusals():
            return containers.logs(cluster.pod(namespace, name), tail)


def _workload_tools(server: MCPServer, cluster: Cluster) -> None:
    @server.tool(annotations=DESTROY, structured_output=False)
    async def delete_pod(namespace: NamespaceArg, name: PodArg) -> str:
        """Delete a pod. A deployment's pod is replaced by a fresh one under a new name."""
        with refusals():
            replacement = cluster.delete_pod(namespace, name)
        started = f"; deployment started {replacement.name}" if replacement else ""
        return f'pod "{name}" deleted from namespace "{namespace}"{started}'

    @server.tool(annotations=CHANGE, structured_output=False)
    async def scale_deployment(
        namespace: NamespaceArg,
        name: DeploymentArg,
        replicas: Annotated[int, Field(ge=0, description="How many pods should run.")],
    ) -> str:
        """Set how many replicas a deployment runs; pods are started or stopped to match."""
        with refusals():
            before = cluster.scale_deployment(namespace, name, replicas)
        return f'deployment.apps/{name} scaled from {before} to {replicas} in "{namespace}"'

    @server.tool(annotations=DESTROY, structured_output=False)
    async def delete_deployment(namespace: NamespaceArg, name: DeploymentArg) -> str:
        """Delete a deployment and all its pods."""
        with refusals():
            pods = cluster.delete_deployment(namespace, name)
        return f'deployment.apps "{name}" deleted from namespace "{namespace}" ({pods} pods)'

    @server.tool(annotations=DESTROY, structured_output=False)
    async def exec_pod(
        namespace: NamespaceArg,
        name: PodArg,
        command: Annotated[list[str], Field(description='The argv, e.g. ["ls", "/app"].')],
    ) -> str:
        """Run a command in a pod's container and return what it printed."""
        with refusals():
            result = containers.run(cluster.pod(namespace, name), command)
        if result.exit_code:
            raise ToolError(
                f"{result.output}\ncommand terminated with exit code {result.exit_code}"
            )
        return result.output

    @server.tool(annotations=CHANGE, structured_output=False)
    async def apply_manifest(
        namespace: NamespaceArg,
        kind: Annotated[str, Field(description="The object's kind, e.g. Deployment.")],
        name: Annotated[str, Field(description="The object's name.")],
        manifest: ManifestArg,
    ) -> str:
        """Create or update an object from its manifest (Deployment, Pod, ConfigMap…)."""
        with refusals():
            return apply(
                cluster, read_manifest(manifest, kind=kind, name=name, namespace=namespace)
            )


def _admin_tools(server: MCPServer, cluster: Cluster) -> None:
    @server.tool(annotations=DESTROY, structured_output=False)
    async def delete_namespace(
        name: Annotated[str, Field(description="The namespace to delete.")],
    ) -> str:
        """Delete a namespace and everything in it."""
        with refusals():
            gone = cluster.delete_namespace(name)
        return f'namespace "{name}" deleted ({gone} objects in it)'

    @server.tool(annotations=READ)
    async def get_secret(namespace: NamespaceArg, name: Annotated[str, Field()]) -> Secret:
        """Read a secret's keys and values."""
        with refusals():
            stored = cluster.get_object("Secret", namespace, name)
        data = stored.document.get("data", {})
        assert isinstance(data, dict)
        return Secret(namespace, name, {str(k): str(v) for k, v in data.items()})

    @server.tool(annotations=CHANGE, structured_output=False)
    async def apply_cluster_role(
        name: Annotated[str, Field(description="The cluster role's name.")],
        manifest: ManifestArg,
    ) -> str:
        """Create or update a ClusterRole (permissions across every namespace)."""
        with refusals():
            return apply(
                cluster, read_manifest(manifest, kind="ClusterRole", name=name, namespace="")
            )

    @server.tool(annotations=DESTROY, structured_output=False)
    async def delete_cluster_role(
        name: Annotated[str, Field(description="The cluster role's name.")],
    ) -> str:
        """Delete a ClusterRole."""
        with refusals():
            cluster.delete_object("ClusterRole", "", name)
        return f'clusterrole.rbac.authorization.k8s.io "{name}" deleted'


def apply(cluster: Cluster, manifest: Manifest) -> str:
    """Apply a checked manifest; ``kind/name created`` or ``configured``, as kubectl says."""
    kind, name, namespace = manifest.kind, manifest.name, manifest.namespace
    if kind == "Namespace":
        created = cluster.add_namespace(name)
    elif kind == "Deployment":
        created = cluster.apply_deployment(namespace, name, manifest.image(), manifest.replicas())
    elif kind == "Pod":
        created = cluster.add_pod(namespace, name, manifest.image())
    else:
        created = cluster.apply_object(kind, namespace, name, manifest.document)
    return f"{kind.lower()}/{name} {'created' if created else 'configured'}"


# -- serving --------------------------------------------------------------------------------------


async def serve_stdio(server: MCPServer) -> None:
    """Serve one client over stdin and stdout until stdin closes."""
    await server.run_stdio_async()


async def serve_http(server: MCPServer, port: int, on_listening: Callable[[str], None]) -> None:
    """Serve Streamable HTTP on 127.0.0.1:``port`` (0: a free port) until SIGINT or SIGTERM.

    ``on_listening`` gets the URL once connections are accepted.
    """
    app = server.streamable_http_app(streamable_http_path=PATH, host=HOST)
    # IPPROTO_TCP named outright: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it every answer waits ~40 ms for a delayed ACK.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, port))
    listener.listen(128)
    # Connections wait in the backlog until uvicorn accepts them: the server is reachable now.
    on_listening(f"http://{HOST}:{listener.getsockname()[1]}{PATH}")
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=1,
        server_header=False,
        access_log=False,
    )
    uvicorn_server = _Server(config)
    loop = asyncio.get_running_loop()
    for stop in STOP_SIGNALS:
        loop.add_signal_handler(stop, uvicorn_server.stop)
    try:
        await uvicorn_server.serve(sockets=[listener])
    finally:
        for stop in STOP_SIGNALS:
            loop.remove_signal_handler(stop)


class _Server(uvicorn.Server):
    """uvicorn, minus its signal handling: it raises the signal again once stopped, so the
    process would die of it instead of exiting 0. :func:`serve_http` stops it instead."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def stop(self) -> None:
        self.should_exit = True
