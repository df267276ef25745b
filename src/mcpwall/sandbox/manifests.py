"""Reading the manifest an ``apply_manifest`` call carries, and checking it against the call.

The call names ``kind``, ``name`` and ``namespace`` as arguments (that is what a gateway's
policy reads), and the manifest names them again inside. A server that trusted one and applied
the other would let a ``ClusterRole`` through as a ``ConfigMap``, so the sandbox refuses a
manifest that disagrees with its arguments. Pure: parsing only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mcpwall.core.errors import DocumentError, SandboxError
from mcpwall.core.jsonvalue import render, type_name
from mcpwall.core.policy import load_document

DEFAULT_REPLICAS = 1


@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest that agrees with the call that applies it."""

    kind: str
    name: str
    namespace: str
    document: Mapping[str, object]

    def replicas(self) -> int:
        """``spec.replicas`` of a Deployment (1 when absent)."""
        value = _object(self.document.get("spec", {}), "spec").get("replicas", DEFAULT_REPLICAS)
        if not isinstance(value, int) or isinstance(value, bool):
            raise SandboxError(f"manifest: spec.replicas is {render(value)}, expected an integer")
        return value

    def image(self) -> str:
        """The first container's image: ``spec.template.spec.containers.0.image`` of a
        Deployment, ``spec.containers.0.image`` of a Pod."""
        spec = _object(self.document.get("spec", {}), "spec")
        path = "spec"
        if self.kind == "Deployment":
            spec = _object(
                _object(spec.get("template", {}), "spec.template").get("spec", {}),
                "spec.template.spec",
            )
            path = "spec.template.spec"
        containers = spec.get("containers")
        first = containers[0] if isinstance(containers, list) and containers else None
        image = first.get("image") if isinstance(first, dict) else None
        if not isinstance(image, str) or not image:
            raise SandboxError(f"manifest: {path}.containers.0.image: expected the image to run")
        return image


def read_manifest(text: str, *, kind: str, name: str, namespace: str) -> Manifest:
    """Parse ``text`` (YAML or JSON, one document) and check it names what the call names."""
    try:
        document = load_document(text, source="manifest")
    except DocumentError as error:
        raise SandboxError(str(error)) from None
    top = _object(document, "the manifest")
    metadata = _object(top.get("metadata", {}), "metadata")
    _agrees(top.get("kind"), kind, "kind", "kind")
    _agrees(metadata.get("name"), name, "metadata.name", "name")
    if "namespace" in metadata:
        _agrees(metadata.get("namespace"), namespace, "metadata.namespace", "namespace")
    return Manifest(kind, name, namespace, top)


def _object(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise SandboxError(f"manifest: {where}: expected an object, found {type_name(value)}")
    return value


def _agrees(found: object, argument: str, where: str, parameter: str) -> None:
    if found is not None and found != argument:
        raise SandboxError(
            f"manifest: {where} is {render(found)}, but the {parameter} argument is "
            f"{render(argument)} (they must agree)"
        )
