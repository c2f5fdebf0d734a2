"""Content negotiation: which representation a client asked for in ``Accept`` and sent in ``Content-Type``.

Mirrors ``k8s.io/apiserver/pkg/endpoints/handlers/negotiation``. Besides plain JSON (and
YAML), a client may ask the server to *convert* the answer: ``kubectl get`` asks for a
``Table``, the garbage collector for ``PartialObjectMetadata``, and every discovery client
for an aggregated ``APIGroupDiscoveryList``. Protobuf is never served: clients that offer
it also offer JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubelab.apiserver import errors

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
ACCEPTED = [JSON, YAML, PROTOBUF]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = [JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH]


@dataclass(frozen=True)
class MediaType:
    """One entry of an ``Accept`` header: ``type/subtype`` and its parameters."""

    type: str
    params: tuple[tuple[str, str], ...] = ()
    q: float = 1.0

    def param(self, name: str) -> str:
        for key, value in self.params:
            if key == name:
                return value
        return ""

    @property
    def convert(self) -> tuple[str, str, str] | None:
        """``(group, version, kind)`` of a requested conversion (``as=Table;g=meta.k8s.io;v=v1``)."""
        kind = self.param("as")
        return (self.param("g"), self.param("v"), kind) if kind else None


def parse_accept(header: str) -> list[MediaType]:
    """The media types of an ``Accept`` header, most preferred first (by ``q``, then order)."""
    out = []
    for clause in header.split(","):
        pieces = [p.strip() for p in clause.split(";")]
        if not pieces[0]:
            continue
        params = []
        q = 1.0
        for piece in pieces[1:]:
            key, _, value = piece.partition("=")
            key, value = key.strip().lower(), value.strip().strip('"')
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
            elif key:
                params.append((key, value))
        out.append(MediaType(pieces[0].lower(), tuple(params), q))
    return sorted((m for m in out if m.q > 0), key=lambda m: -m.q)


@dataclass(frozen=True)
class Target:
    """What to answer with: an encoding (``json``/``yaml``) and, maybe, a conversion target."""

    encoding: str = "json"
    group: str = ""
    version: str = ""
    kind: str = ""

    @property
    def content_type(self) -> str:
        if self.kind and self.group == "apidiscovery.k8s.io":
            return f"{JSON};g={self.group};v={self.version};as={self.kind}"
        return YAML if self.encoding == "yaml" else JSON


PLAIN = Target()
_CONVERSIONS = {
    ("meta.k8s.io", "v1", "Table"),
    ("meta.k8s.io", "v1beta1", "Table"),
    ("meta.k8s.io", "v1", "PartialObjectMetadata"),
    ("meta.k8s.io", "v1beta1", "PartialObjectMetadata"),
    ("meta.k8s.io", "v1", "PartialObjectMetadataList"),
    ("meta.k8s.io", "v1beta1", "PartialObjectMetadataList"),
}
_DISCOVERY = {
    ("apidiscovery.k8s.io", "v2", "APIGroupDiscoveryList"),
    ("apidiscovery.k8s.io", "v2beta1", "APIGroupDiscoveryList"),
}


def _encoding(media: MediaType) -> str | None:
    if media.type in (JSON, "application/*", "*/*", "*"):
        return "json"
    if media.type == YAML:
        return "yaml"
    return None


def negotiate(accept: str, *, discovery: bool = False) -> Target:
    """The representation to answer with; 406 when the client accepts none we serve.

    ``discovery`` is for ``/api`` and ``/apis``, which may answer aggregated discovery.
    """
    if not accept:
        return PLAIN
    allowed = _DISCOVERY if discovery else _CONVERSIONS
    for media in parse_accept(accept):
        encoding = _encoding(media)
        if encoding is None:
            continue
        convert = media.convert
        if convert is None:
            return PLAIN if encoding == "json" else Target(encoding)
        if convert in allowed:
            return Target(encoding if not discovery else "json", *convert)
    raise errors.not_acceptable(
        "only the following media types are accepted: " + ", ".join(ACCEPTED)
    )


def body_type(content_type: str) -> str:
    """The media type of a request body, without parameters (``application/json``)."""
    return content_type.split(";", 1)[0].strip().lower()
