"""A container's environment, and ``$(VAR)`` in its command, as the kubelet builds them.

Mirrors ``makeEnvironmentVariables`` in ``pkg/kubelet/kubelet_pods.go``: Service variables
first (``<NAME>_SERVICE_HOST`` ...: every Service in the pod's namespace when
``enableServiceLinks``, always the ``kubernetes`` Service), then ``envFrom``, then ``env``
in order, each value expanded against what came before (``third_party/forked/golang/expansion``).
A missing ConfigMap, Secret or key that is not ``optional`` raises :class:`ConfigError`,
which the kubelet reports as ``CreateContainerConfigError`` with upstream's message.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping
from typing import Any

from kubelab.api.quantity import QuantityError, parse_quantity

Obj = Mapping[str, Any]
Lookup = Callable[[str, str], Obj | None]
"""Find an object by namespace and name; None when it does not exist."""


class ConfigError(Exception):
    """The container's configuration cannot be built (``CreateContainerConfigError``)."""


def expand(text: str, *mappings: Mapping[str, str]) -> str:
    """Replace ``$(VAR)`` with its value; ``$$`` is a literal ``$``; unknown variables stay as written."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "$" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2:end]
                    for mapping in mappings:
                        if name in mapping:
                            out.append(mapping[name])
                            break
                    else:
                        out.append(f"$({name})")
                    i = end + 1
                    continue
        out.append(ch)
        i += 1
    return "".join(out)


def service_env(services: list[Obj], namespace: str, enable_service_links: bool) -> dict[str, str]:
    """The Docker-links-style variables of the Services a pod sees (``getServiceEnvVarMap``)."""
    env: dict[str, str] = {}
    chosen: dict[str, Obj] = {}
    for svc in services:
        meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
        ip = spec.get("clusterIP") or ""
        if not ip or ip == "None":
            continue
        name = meta.get("name", "")
        if meta.get("namespace") == "default" and name == "kubernetes":
            chosen.setdefault(name, svc)
        elif enable_service_links and meta.get("namespace") == namespace:
            chosen[name] = svc
    for name, svc in chosen.items():
        spec = svc["spec"]
        ports = spec.get("ports") or []
        if not ports:
            continue
        prefix = name.upper().replace("-", "_")
        ip = spec["clusterIP"]
        env[f"{prefix}_SERVICE_HOST"] = ip
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
        for port in ports:
            if port.get("name"):
                env[f"{prefix}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}"] = str(port["port"])
        first = ports[0]
        env[f"{prefix}_PORT"] = f"{(first.get('protocol') or 'TCP').lower()}://{ip}:{first['port']}"
        for port in ports:
            protocol = port.get("protocol") or "TCP"
            base = f"{prefix}_PORT_{port['port']}_{protocol.upper()}"
            env[base] = f"{protocol.lower()}://{ip}:{port['port']}"
            env[f"{base}_PROTO"] = protocol.lower()
            env[f"{base}_PORT"] = str(port["port"])
            env[f"{base}_ADDR"] = ip
    return env


def _field_value(pod: Obj, path: str) -> str:
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": status.get("hostIP"),
        "status.hostIPs": ",".join(ip.get("ip", "") for ip in status.get("hostIPs") or []),
        "status.podIP": status.get("podIP"),
        "status.podIPs": ",".join(ip.get("ip", "") for ip in status.get("podIPs") or []),
    }
    if path in simple:
        return str(simple[path] or "")
    for prefix, source in (("metadata.labels", "labels"), ("metadata.annotations", "annotations")):
        values = meta.get(source) or {}
        if path == prefix:
            return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
        if path.startswith(prefix + "['") and path.endswith("']"):
            return str(values.get(path[len(prefix) + 2:-2], ""))
    raise ConfigError(f"unsupported fieldPath: {path}")


def field_value(pod: Obj, field_path: str) -> str:
    """The value of a downward-API ``fieldRef`` (``metadata.name``, ``status.podIP``, ``metadata.labels['app']``...)."""
    return _field_value(pod, field_path)


def resource_value(container: Obj, ref: Obj, allocatable: Mapping[str, str]) -> str:
    """The value of a ``resourceFieldRef``: the limit (node allocatable if unset) or request, over the divisor."""
    resource = ref.get("resource", "")
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    value = (resources.get(kind) or {}).get(name)
    if value is None:
        value = allocatable.get(name) if kind == "limits" else (resources.get("limits") or {}).get(name)
    if value is None:
        value = "0"
    try:
        amount = parse_quantity(value)
        divisor = parse_quantity(ref.get("divisor") or "1")
    except QuantityError as e:
        raise ConfigError(f"invalid quantity for {resource}: {e}") from e
    if divisor.is_zero():
        raise ConfigError(f"invalid divisor for {resource}: 0")
    if name == "cpu":
        return str(max(1, math.ceil(amount.milli_value() / divisor.milli_value()))) if not amount.is_zero() else "0"
    return str(math.ceil(amount.value() / divisor.value()))


def _config_map(lookup: Lookup, namespace: str, name: str, optional: bool) -> Obj | None:
    found = lookup(namespace, name)
    if found is None and not optional:
        raise ConfigError(f'configmap "{name}" not found')
    return found


def _secret(lookup: Lookup, namespace: str, name: str, optional: bool) -> Obj | None:
    found = lookup(namespace, name)
    if found is None and not optional:
        raise ConfigError(f'secret "{name}" not found')
    return found


def secret_data(secret: Obj) -> dict[str, str]:
    """A Secret's values, decoded (``stringData`` is merged into ``data`` by the API server)."""
    decoded = {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.get("data") or {}).items()}
    decoded.update(secret.get("stringData") or {})
    return decoded


def make_environment(
    pod: Obj, container: Obj, *, config_maps: Lookup, secrets: Lookup, services: list[Obj],
    allocatable: Mapping[str, str],
) -> list[tuple[str, str]]:
    """The container's environment as ordered (name, value) pairs; raises :class:`ConfigError`."""
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    spec = pod.get("spec") or {}
    services_env = service_env(services, namespace, spec.get("enableServiceLinks", True) is not False)
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        if "configMapRef" in source:
            ref = source["configMapRef"]
            cm = _config_map(config_maps, namespace, ref.get("name", ""), bool(ref.get("optional")))
            values = dict((cm or {}).get("data") or {})
        elif "secretRef" in source:
            ref = source["secretRef"]
            secret = _secret(secrets, namespace, ref.get("name", ""), bool(ref.get("optional")))
            values = secret_data(secret) if secret else {}
        else:
            continue
        for key, value in values.items():
            env[prefix + key] = value
    for var in container.get("env") or []:
        name = var["name"]
        if "valueFrom" not in var:
            env[name] = expand(var.get("value") or "", env, services_env)
            continue
        source = var["valueFrom"]
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            cm = _config_map(config_maps, namespace, ref.get("name", ""), bool(ref.get("optional")))
            if cm is None:
                continue
            data = cm.get("data") or {}
            if ref.get("key") not in data:
                if ref.get("optional"):
                    continue
                raise ConfigError(f"couldn't find key {ref.get('key')} in ConfigMap {namespace}/{ref.get('name')}")
            env[name] = data[ref["key"]]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            secret = _secret(secrets, namespace, ref.get("name", ""), bool(ref.get("optional")))
            if secret is None:
                continue
            data = secret_data(secret)
            if ref.get("key") not in data:
                if ref.get("optional"):
                    continue
                raise ConfigError(f"couldn't find key {ref.get('key')} in Secret {namespace}/{ref.get('name')}")
            env[name] = data[ref["key"]]
        elif "fieldRef" in source:
            env[name] = field_value(pod, source["fieldRef"].get("fieldPath", ""))
        elif "resourceFieldRef" in source:
            env[name] = resource_value(container, source["resourceFieldRef"], allocatable)
    result = list(env.items())
    result += [(k, v) for k, v in services_env.items() if k not in env]
    return result


def expand_command(container: Obj, env: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """The container's command and args with ``$(VAR)`` replaced from its environment."""
    mapping = dict(env)
    return ([expand(a, mapping) for a in container.get("command") or []],
            [expand(a, mapping) for a in container.get("args") or []])
