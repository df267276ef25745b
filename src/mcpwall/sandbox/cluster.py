"""A pretend Kubernetes cluster, in memory: namespaces, deployments, pods and other objects.

Pure: no I/O, no clock, no randomness, so the same calls always leave the same cluster. It
behaves the way an agent working on a real cluster expects, where that matters to the story:

- deleting a pod that a deployment owns makes the deployment start a replacement under a new
  name (a healthy one: that is why deleting a crashlooping pod "fixes" it);
- scaling a deployment starts or stops pods until as many run as it asks for;
- deleting a deployment deletes its pods; deleting a namespace deletes everything in it;
- objects of other kinds (ConfigMaps, Secrets, ClusterRoles…) are kept as they were applied.

Every refusal is a :class:`SandboxError` worded like the API server's.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Final, Literal

from mcpwall.core.errors import SandboxError

# Pod, Deployment and Namespace are tools' structured output as they are: no slots=True, since
# the SDK reads a slotted class's member descriptors as field defaults and gives up on its schema.

PodStatus = Literal["Running", "CrashLoopBackOff"]
RUNNING: Final = "Running"
CRASHLOOP: Final = "CrashLoopBackOff"

# The kinds that belong to the cluster rather than to a namespace.
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
    }
)
MAX_REPLICAS = 50
NODES = 3

# The characters Kubernetes draws generated name suffixes from (no vowels, no look-alikes).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SUFFIX_LENGTH = 5
# Odd, not a multiple of 3: multiplying by it permutes the numbers below any power of 27.
_SCRAMBLE = 2_654_435_761


@dataclass(frozen=True)
class Pod:
    """A pod as ``kubectl get pods`` shows it; ``deployment`` is its owner ("" for none)."""

    namespace: str
    name: str
    status: PodStatus
    ready: str
    restarts: int
    image: str
    deployment: str
    node: str


@dataclass(frozen=True)
class Deployment:
    """A deployment as ``kubectl get deployments`` shows it: desired and ready replicas."""

    namespace: str
    name: str
    replicas: int
    ready: int
    image: str


@dataclass(frozen=True)
class Namespace:
    """A namespace and how much runs in it."""

    name: str
    pods: int
    deployments: int


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object of any other kind, as applied; ``namespace`` is "" when cluster-scoped."""

    kind: str
    namespace: str
    name: str
    document: Mapping[str, object] = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class _Spec:
    """What a deployment asks for."""

    replicas: int
    image: str
    template_hash: str


class Cluster:
    """The cluster's state and the operations an agent's tools perform on it."""

    def __init__(self) -> None:
        self._namespaces: dict[str, None] = {}  # an ordered set
        self._deployments: dict[tuple[str, str], _Spec] = {}
        self._pods: dict[tuple[str, str], Pod] = {}
        self._objects: dict[tuple[str, str, str], StoredObject] = {}
        self._started = 0  # pods started so far: the seed of the next generated name

    # -- reading ----------------------------------------------------------------------------------

    def namespaces(self) -> list[Namespace]:
        return [
            Namespace(name, len(self.pods(name)), len(self.deployments(name)))
            for name in self._namespaces
        ]

    def pods(self, namespace: str | None = None) -> list[Pod]:
        """The pods of ``namespace`` (of every namespace when None), by namespace and name."""
        if namespace is not None:
            self._require_namespace(namespace)
        found = [pod for pod in self._pods.values() if namespace in (None, pod.namespace)]
        return sorted(found, key=lambda pod: (pod.namespace, pod.name))

    def pod(self, namespace: str, name: str) -> Pod:
        self._require_namespace(namespace)
        pod = self._pods.get((namespace, name))
        if pod is None:
            raise SandboxError(f'pods "{name}" not found in namespace "{namespace}"')
        return pod

    def deployments(self, namespace: str | None = None) -> list[Deployment]:
        if namespace is not None:
            self._require_namespace(namespace)
        return [
            self._deployment_status(key, spec)
            for key, spec in sorted(self._deployments.items())
            if namespace in (None, key[0])
        ]

    def objects(self, kind: str, namespace: str | None = None) -> list[StoredObject]:
        """Stored objects of ``kind``, in ``namespace`` or everywhere when None."""
        if namespace is not None and kind not in CLUSTER_SCOPED:
            self._require_namespace(namespace)
        return [
            stored
            for (k, ns, _), stored in sorted(self._objects.items())
            if k == kind and (namespace is None or kind in CLUSTER_SCOPED or ns == namespace)
        ]

    def get_object(self, kind: str, namespace: str, name: str) -> StoredObject:
        scope = "" if kind in CLUSTER_SCOPED else namespace
        if scope:
            self._require_namespace(scope)
        stored = self._objects.get((kind, scope, name))
        if stored is None:
            where = f' in namespace "{scope}"' if scope else ""
            raise SandboxError(f'{_plural(kind)} "{name}" not found{where}')
        return stored

    # -- changing ---------------------------------------------------------------------------------

    def add_namespace(self, name: str) -> bool:
        """Create namespace ``name``; False when it already existed."""
        if name in self._namespaces:
            return False
        self._namespaces[name] = None
        return True

    def delete_namespace(self, name: str) -> int:
        """Delete a namespace and everything in it; how many objects went with it."""
        self._require_namespace(name)
        del self._namespaces[name]
        doomed = [key for key in self._pods if key[0] == name]
        doomed_deployments = [key for key in self._deployments if key[0] == name]
        doomed_objects = [key for key in self._objects if key[1] == name]
        for key in doomed:
            del self._pods[key]
        for deployment in doomed_deployments:
            del self._deployments[deployment]
        for stored in doomed_objects:
            del self._objects[stored]
        return len(doomed) + len(doomed_deployments) + len(doomed_objects)

    def apply_deployment(self, namespace: str, name: str, image: str, replicas: int) -> bool:
        """Create or update a deployment, then start or stop pods to match; True if created.

        A new image rolls every pod over to new ones (a new template hash, new names).
        """
        self._require_namespace(namespace)
        _check_replicas(replicas)
        key = (namespace, name)
        old = self._deployments.get(key)
        spec = _Spec(replicas, image, _template_hash(namespace, name, image))
        self._deployments[key] = spec
        if old is not None and old.image != image:
            for pod in self._owned(namespace, name):
                del self._pods[(namespace, pod.name)]
        self._reconcile(namespace, name)
        return old is None

    def add_pod(self, namespace: str, name: str, image: str) -> bool:
        """Create or replace a standalone pod (no deployment owns it); True if created."""
        self._require_namespace(namespace)
        key = (namespace, name)
        created = key not in self._pods
        self._pods[key] = Pod(namespace, name, RUNNING, "1/1", 0, image, "", self._next_node())
        return created

    def crash(self, namespace: str, name: str, restarts: int) -> Pod:
        """Make a pod crashloop, as if it had been restarted ``restarts`` times."""
        pod = self.pod(namespace, name)
        crashed = replace(pod, status=CRASHLOOP, ready="0/1", restarts=restarts)
        self._pods[(namespace, name)] = crashed
        return crashed

    def delete_pod(self, namespace: str, name: str) -> Pod | None:
        """Delete a pod; the replacement its deployment starts, if it has one."""
        pod = self.pod(namespace, name)
        del self._pods[(namespace, name)]
        if not pod.deployment or (namespace, pod.deployment) not in self._deployments:
            return None
        started = self._reconcile(namespace, pod.deployment)
        return started[0] if started else None

    def scale_deployment(self, namespace: str, name: str, replicas: int) -> int:
        """Set a deployment's replicas and start or stop pods to match; the old count."""
        spec = self._spec(namespace, name)
        _check_replicas(replicas)
        self._deployments[(namespace, name)] = replace(spec, replicas=replicas)
        self._reconcile(namespace, name)
        return spec.replicas

    def delete_deployment(self, namespace: str, name: str) -> int:
        """Delete a deployment and its pods; how many pods went with it."""
        self._spec(namespace, name)
        del self._deployments[(namespace, name)]
        owned = self._owned(namespace, name)
        for pod in owned:
            del self._pods[(namespace, pod.name)]
        return len(owned)

    def apply_object(
        self, kind: str, namespace: str, name: str, document: Mapping[str, object]
    ) -> bool:
        """Create or replace an object of any other kind; True if created."""
        scope = "" if kind in CLUSTER_SCOPED else namespace
        if scope:
            self._require_namespace(scope)
        key = (kind, scope, name)
        created = key not in self._objects
        self._objects[key] = StoredObject(kind, scope, name, document)
        return created

    def delete_object(self, kind: str, namespace: str, name: str) -> None:
        stored = self.get_object(kind, namespace, name)
        del self._objects[(stored.kind, stored.namespace, stored.name)]

    # -- inside -----------------------------------------------------------------------------------

    def _require_namespace(self, namespace: str) -> None:
        if namespace not in self._namespaces:
            raise SandboxError(f'namespaces "{namespace}" not found')

    def _spec(self, namespace: str, name: str) -> _Spec:
        self._require_namespace(namespace)
        spec = self._deployments.get((namespace, name))
        if spec is None:
            raise SandboxError(f'deployments.apps "{name}" not found in namespace "{namespace}"')
        return spec

    def _owned(self, namespace: str, deployment: str) -> list[Pod]:
        """The pods a deployment owns, in the order they started (their names are not)."""
        return [
            pod
            for (ns, _), pod in self._pods.items()
            if ns == namespace and pod.deployment == deployment
        ]

    def _reconcile(self, namespace: str, name: str) -> list[Pod]:
        """Start or stop pods until the deployment has its replicas; the pods started."""
        spec = self._deployments[(namespace, name)]
        owned = self._owned(namespace, name)
        for pod in owned[spec.replicas :][::-1]:  # the newest go first, as a ReplicaSet does
            del self._pods[(namespace, pod.name)]
        started = []
        for _ in range(spec.replicas - len(owned)):
            pod = Pod(
                namespace,
                self._pod_name(name, spec),
                RUNNING,
                "1/1",
                0,
                spec.image,
                name,
                self._next_node(),
            )
            self._pods[(namespace, pod.name)] = pod
            started.append(pod)
        return started

    def _deployment_status(self, key: tuple[str, str], spec: _Spec) -> Deployment:
        ready = sum(pod.status == RUNNING for pod in self._owned(*key))
        return Deployment(key[0], key[1], spec.replicas, ready, spec.image)

    def _pod_name(self, deployment: str, spec: _Spec) -> str:
        self._started += 1
        return f"{deployment}-{spec.template_hash}-{_suffix(self._started)}"

    def _next_node(self) -> str:
        return f"sandbox-node-{self._started % NODES + 1}"


def _check_replicas(replicas: int) -> None:
    if not 0 <= replicas <= MAX_REPLICAS:
        raise SandboxError(f"replicas {replicas}: expected 0 to {MAX_REPLICAS} in the sandbox")


def _template_hash(namespace: str, name: str, image: str) -> str:
    """A stable stand-in for the pod-template hash in a ReplicaSet's pod names."""
    return _encode(zlib.crc32(f"{namespace}/{name}/{image}".encode()) * _SCRAMBLE, 9)


def _suffix(serial: int) -> str:
    """The ``serial``-th generated suffix: five characters that look random and don't repeat
    for the first 27**5 pods."""
    return _encode(serial * _SCRAMBLE, _SUFFIX_LENGTH)


def _encode(number: int, length: int) -> str:
    """``number`` (modulo what fits) in ``length`` characters of the suffix alphabet."""
    base = len(_SUFFIX_ALPHABET)
    number %= base**length
    characters = []
    for _ in range(length):
        number, digit = divmod(number, base)
        characters.append(_SUFFIX_ALPHABET[digit])
    return "".join(characters)


def _plural(kind: str) -> str:
    """``ConfigMap`` → ``configmaps``, as the API server names resources in its errors."""
    lower = kind.lower()
    return lower if lower.endswith("s") else lower + "s"
