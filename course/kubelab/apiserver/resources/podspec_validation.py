"""Validation of the pod spec and pod templates, with upstream's messages.

Mirrors the parts of ``pkg/apis/core/validation/validation.go`` a learner or kubectl is
likely to trip over: containers (names, images, ports, env, mounts, resources, probes),
volumes, restart and DNS policies, tolerations, the pod update rule, and the pod status.
"""

from __future__ import annotations

from typing import Any

from kubelab.api import field, validation
from kubelab.api.field import FieldError
from kubelab.api.quantity import Quantity, QuantityError, parse_quantity
from kubelab.apiserver.resources.base import items
from kubelab.apiserver.resources.podspec import VOLUME_SOURCES

Obj = dict[str, Any]

MAX_INT32 = 2**31 - 1
PROTOCOLS = ["SCTP", "TCP", "UDP"]
RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
TERMINATION_MESSAGE_POLICIES = ["FallbackToLogsOnError", "File"]
TOLERATION_OPERATORS = ["Equal", "Exists"]
TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
POD_PHASES = ["Pending", "Running", "Succeeded", "Failed", "Unknown"]
_STANDARD_RESOURCES = {"cpu", "memory", "ephemeral-storage", "storage"}
_POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def quantity(value: Any) -> Quantity | None:
    """A resource quantity, or None if it does not parse."""
    try:
        return parse_quantity(value)
    except QuantityError:
        return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def non_negative(value: Any, path: str) -> list[FieldError]:
    """``ValidateNonnegativeField``: ``must be greater than or equal to 0``."""
    if _int(value) is not None and value < 0:
        return [field.invalid(path, value, validation.IS_NEGATIVE_ERROR_MSG)]
    return []


def dns_label(value: Any, path: str) -> list[FieldError]:
    return [field.invalid(path, value, msg) for msg in validation.is_dns1123_label(str(value))]


def dns_subdomain(value: Any, path: str) -> list[FieldError]:
    return [field.invalid(path, value, msg) for msg in validation.is_dns1123_subdomain(str(value))]


def port_num_or_name(value: Any, path: str) -> list[FieldError]:
    """``ValidatePortNumOrName``: a port number 1–65535 or an IANA service name."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [field.invalid(path, value, msg) for msg in validation.is_valid_port_num(value)]
    if isinstance(value, str):
        if not value:
            return [field.required(path, "")]
        return [field.invalid(path, value, msg) for msg in validation.is_valid_port_name(value)]
    return [field.invalid(path, value, "must be an integer or string")]


def validate_pod_spec(spec: Any, path: str, *, is_pod: bool = False) -> list[FieldError]:
    """Field errors of a pod spec at ``path`` (``spec`` of a Pod, ``spec.template.spec`` of a workload)."""
    if not isinstance(spec, dict):
        return [field.required(path, "")]
    errs: list[FieldError] = []
    volumes, volume_errs = _validate_volumes(spec.get("volumes"), f"{path}.volumes")
    errs += volume_errs
    containers = spec.get("containers")
    if not containers:
        errs.append(field.required(f"{path}.containers", ""))
    names: set[str] = set()
    host_ports: set[str] = set()
    for key in ("initContainers", "containers"):
        for i, c in enumerate(items(spec, key)):
            errs += _validate_container(c, f"{path}.{key}[{i}]", volumes, names, init=key == "initContainers")
            errs += _host_port_conflicts(c, f"{path}.{key}[{i}]", host_ports, bool(spec.get("hostNetwork")))
    errs += _validate_restart_policy(spec.get("restartPolicy"), f"{path}.restartPolicy")
    errs += _validate_dns_policy(spec, path)
    errs += validation.validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    account = spec.get("serviceAccountName")
    if account:
        errs += dns_subdomain(account, f"{path}.serviceAccountName")
    if spec.get("nodeName"):
        errs += dns_subdomain(spec["nodeName"], f"{path}.nodeName")
    for key in ("hostname", "subdomain"):
        if spec.get(key):
            errs += dns_label(spec[key], f"{path}.{key}")
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (_int(deadline) is None or not 1 <= deadline <= MAX_INT32):
        errs.append(field.invalid(f"{path}.activeDeadlineSeconds", deadline, f"must be between 1 and {MAX_INT32}, inclusive"))
    errs += _validate_tolerations(spec.get("tolerations"), f"{path}.tolerations")
    for i, secret in enumerate(items(spec, "imagePullSecrets")):
        if not secret.get("name"):
            errs.append(field.required(f"{path}.imagePullSecrets[{i}].name", ""))
    for i, gate in enumerate(items(spec, "readinessGates")):
        errs += [
            field.invalid(f"{path}.readinessGates[{i}].conditionType", gate.get("conditionType", ""), msg)
            for msg in validation.is_qualified_name(str(gate.get("conditionType", "")))
        ]
    return errs


def validate_pod_template(template: Any, path: str) -> list[FieldError]:
    """``ValidatePodTemplateSpec``: the template's labels and annotations, then its spec."""
    if not isinstance(template, dict):
        return [field.required(path, "")]
    meta = template.get("metadata") or {}
    errs = validation.validate_labels(meta.get("labels"), f"{path}.metadata.labels")
    errs += validation.validate_annotations(meta.get("annotations"), f"{path}.metadata.annotations")
    return errs + validate_pod_spec(template.get("spec"), f"{path}.spec")


def _host_port_conflicts(c: Obj, path: str, seen: set[str], host_network: bool) -> list[FieldError]:
    """Two containers may not claim one host port; on the host's network, each port is its host port."""
    errs: list[FieldError] = []
    for j, port in enumerate(items(c, "ports")):
        at = f"{path}.ports[{j}]"
        if host_network and port.get("hostPort") and port.get("hostPort") != port.get("containerPort"):
            errs.append(field.invalid(
                f"{at}.containerPort", port.get("containerPort"), "must match `hostPort` when `hostNetwork` is true",
            ))
        if not port.get("hostPort"):
            continue
        key = f"{port.get('protocol') or ''}/{port.get('hostIP') or ''}/{port['hostPort']}"
        if key in seen:
            errs.append(field.duplicate(f"{at}.hostPort", key))
        seen.add(key)
    return errs


def _validate_restart_policy(policy: Any, path: str) -> list[FieldError]:
    if not policy:
        return [field.required(path, "")]
    if policy not in RESTART_POLICIES:
        return [field.not_supported(path, policy, RESTART_POLICIES)]
    return []


def _validate_dns_policy(spec: Obj, path: str) -> list[FieldError]:
    policy = spec.get("dnsPolicy")
    if not policy:
        return [field.required(f"{path}.dnsPolicy", "")]
    if policy not in DNS_POLICIES:
        return [field.not_supported(f"{path}.dnsPolicy", policy, DNS_POLICIES)]
    if policy == "None" and not spec.get("dnsConfig"):
        return [field.required(f"{path}.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None")]
    return []


def _validate_volumes(volumes: Any, path: str) -> tuple[set[str], list[FieldError]]:
    names: set[str] = set()
    errs: list[FieldError] = []
    for i, volume in enumerate(volumes if isinstance(volumes, list) else []):
        at = f"{path}[{i}]"
        if not isinstance(volume, dict):
            errs.append(field.invalid(at, volume, "must be an object"))
            continue
        name = volume.get("name")
        if not name:
            errs.append(field.required(f"{at}.name", ""))
        else:
            errs += dns_label(name, f"{at}.name")
            if name in names:
                errs.append(field.duplicate(f"{at}.name", name))
            names.add(name)
        sources = [s for s in VOLUME_SOURCES if volume.get(s) is not None]
        if not sources:
            errs.append(field.required(at, "must specify a volume type"))
        elif len(sources) > 1:
            errs.append(field.forbidden(f"{at}.{sources[1]}", "may not specify more than 1 volume type"))
        else:
            errs += _validate_volume_source(sources[0], volume[sources[0]], f"{at}.{sources[0]}")
    return names, errs


def _validate_volume_source(kind: str, source: Any, path: str) -> list[FieldError]:
    if not isinstance(source, dict):
        return []
    errs: list[FieldError] = []
    if kind == "hostPath":
        if not source.get("path"):
            errs.append(field.required(f"{path}.path", ""))
        types = ["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"]
        if source.get("type") not in (None, *types):
            errs.append(field.not_supported(f"{path}.type", source["type"], types))
    elif kind == "persistentVolumeClaim" and not source.get("claimName"):
        errs.append(field.required(f"{path}.claimName", ""))
    elif kind == "secret" and "secretName" in source and not source.get("secretName"):
        errs.append(field.required(f"{path}.secretName", ""))
    elif kind == "configMap" and not source.get("name"):
        errs.append(field.required(f"{path}.name", ""))
    mode = _int(source.get("defaultMode"))
    if mode is not None and not 0 <= mode <= 0o777:
        errs.append(field.invalid(
            f"{path}.defaultMode", mode,
            "must be a number between 0 and 0777 (octal), both inclusive",
        ))
    for i, item in enumerate(items(source, "items")):
        if kind in ("secret", "configMap") and not item.get("key"):
            errs.append(field.required(f"{path}.items[{i}].key", ""))
        item_path = item.get("path")
        if not item_path:
            errs.append(field.required(f"{path}.items[{i}].path", ""))
        elif str(item_path).startswith("/"):
            errs.append(field.invalid(f"{path}.items[{i}].path", item_path, "must be a relative path"))
        elif ".." in str(item_path).split("/"):
            errs.append(field.invalid(f"{path}.items[{i}].path", item_path, "must not contain '..'"))
    return errs


def _validate_container(c: Obj, path: str, volumes: set[str], names: set[str], *, init: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    name = c.get("name")
    if not name:
        errs.append(field.required(f"{path}.name", ""))
    else:
        errs += dns_label(name, f"{path}.name")
        if name in names:
            errs.append(field.duplicate(f"{path}.name", name))
        names.add(name)
    image = c.get("image")
    if not image:
        errs.append(field.required(f"{path}.image", ""))
    elif image != str(image).strip():
        errs.append(field.invalid(f"{path}.image", image, "must not have leading or trailing whitespace"))
    policy = c.get("imagePullPolicy")
    if not policy:
        errs.append(field.required(f"{path}.imagePullPolicy", ""))
    elif policy not in PULL_POLICIES:
        errs.append(field.not_supported(f"{path}.imagePullPolicy", policy, PULL_POLICIES))
    message_policy = c.get("terminationMessagePolicy")
    if not message_policy:
        errs.append(field.required(f"{path}.terminationMessagePolicy", "must be 'File' or 'FallbackToLogsOnError'"))
    elif message_policy not in TERMINATION_MESSAGE_POLICIES:
        errs.append(field.invalid(
            f"{path}.terminationMessagePolicy", message_policy, "must be 'File' or 'FallbackToLogsOnError'",
        ))
    errs += _validate_ports(c.get("ports"), f"{path}.ports")
    errs += _validate_env(c.get("env"), f"{path}.env")
    errs += _validate_env_from(c.get("envFrom"), f"{path}.envFrom")
    errs += _validate_mounts(c.get("volumeMounts"), f"{path}.volumeMounts", volumes)
    errs += validate_resources(c.get("resources"), f"{path}.resources")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if c.get(probe) is not None:
            if init and c.get("restartPolicy") != "Always":
                errs.append(field.forbidden(f"{path}.{probe}", "may not be set for init containers without restartPolicy=Always"))
            else:
                errs += _validate_probe(c[probe], f"{path}.{probe}", single_success=probe != "readinessProbe")
    restart = c.get("restartPolicy")
    if restart is not None:
        if not init:
            errs.append(field.forbidden(f"{path}.restartPolicy", "may not be set for non-init containers"))
        elif restart != "Always":
            errs.append(field.not_supported(f"{path}.restartPolicy", restart, ["Always"]))
    return errs


def _validate_ports(ports: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(ports if isinstance(ports, list) else []):
        at = f"{path}[{i}]"
        if not isinstance(port, dict):
            continue
        name = port.get("name")
        if name:
            errs += [field.invalid(f"{at}.name", name, msg) for msg in validation.is_valid_port_name(str(name))]
            if name in names:
                errs.append(field.duplicate(f"{at}.name", name))
            names.add(name)
        container_port = port.get("containerPort")
        if not container_port:
            errs.append(field.required(f"{at}.containerPort", ""))
        elif _int(container_port) is None:
            errs.append(field.invalid(f"{at}.containerPort", container_port, "must be an integer"))
        else:
            errs += [field.invalid(f"{at}.containerPort", container_port, m) for m in validation.is_valid_port_num(container_port)]
        host_port = _int(port.get("hostPort"))
        if host_port:
            errs += [field.invalid(f"{at}.hostPort", host_port, m) for m in validation.is_valid_port_num(host_port)]
        protocol = port.get("protocol")
        if not protocol:
            errs.append(field.required(f"{at}.protocol", ""))
        elif protocol not in PROTOCOLS:
            errs.append(field.not_supported(f"{at}.protocol", protocol, PROTOCOLS))
    return errs


def _validate_env(env: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, var in enumerate(env if isinstance(env, list) else []):
        at = f"{path}[{i}]"
        if not isinstance(var, dict):
            continue
        name = var.get("name")
        if not name:
            errs.append(field.required(f"{at}.name", ""))
        else:
            errs += [field.invalid(f"{at}.name", name, msg) for msg in validation.is_env_var_name(str(name))]
        source = var.get("valueFrom")
        if source is None:
            continue
        if var.get("value"):
            errs.append(field.invalid(f"{at}.valueFrom", "", "may not be specified when `value` is not empty"))
        kinds = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef") if (source or {}).get(k)]
        if not kinds:
            errs.append(field.invalid(f"{at}.valueFrom", "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
        elif len(kinds) > 1:
            errs.append(field.invalid(f"{at}.valueFrom", "", "may not have more than one field specified at a time"))
        else:
            ref = source[kinds[0]]
            if kinds[0] in ("configMapKeyRef", "secretKeyRef"):
                if not ref.get("key"):
                    errs.append(field.required(f"{at}.valueFrom.{kinds[0]}.key", ""))
                if not ref.get("name"):
                    errs.append(field.required(f"{at}.valueFrom.{kinds[0]}.name", ""))
            elif kinds[0] == "fieldRef" and not ref.get("fieldPath"):
                errs.append(field.required(f"{at}.valueFrom.fieldRef.fieldPath", ""))
            elif kinds[0] == "resourceFieldRef" and not ref.get("resource"):
                errs.append(field.required(f"{at}.valueFrom.resourceFieldRef.resource", ""))
    return errs


def _validate_env_from(sources: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, source in enumerate(sources if isinstance(sources, list) else []):
        at = f"{path}[{i}]"
        if not isinstance(source, dict):
            continue
        prefix = source.get("prefix")
        if prefix:
            errs += [field.invalid(f"{at}.prefix", prefix, msg) for msg in validation.is_env_var_name(str(prefix))]
        kinds = [k for k in ("configMapRef", "secretRef") if source.get(k) is not None]
        if not kinds:
            errs.append(field.invalid(at, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif len(kinds) > 1:
            errs.append(field.invalid(at, "", "may not have more than one field specified at a time"))
        else:
            name = (source[kinds[0]] or {}).get("name")
            if not name:
                errs.append(field.required(f"{at}.{kinds[0]}.name", ""))
            else:
                errs += dns_subdomain(name, f"{at}.{kinds[0]}.name")
    return errs


def _validate_mounts(mounts: Any, path: str, volumes: set[str]) -> list[FieldError]:
    errs: list[FieldError] = []
    paths: set[str] = set()
    for i, mount in enumerate(mounts if isinstance(mounts, list) else []):
        at = f"{path}[{i}]"
        if not isinstance(mount, dict):
            continue
        name = mount.get("name")
        if not name:
            errs.append(field.required(f"{at}.name", ""))
        elif name not in volumes:
            errs.append(field.not_found(f"{at}.name", name))
        mount_path = mount.get("mountPath")
        if not mount_path:
            errs.append(field.required(f"{at}.mountPath", ""))
        else:
            if mount_path in paths:
                errs.append(field.invalid(f"{at}.mountPath", mount_path, "must be unique"))
            if not str(mount_path).startswith("/"):
                errs.append(field.invalid(f"{at}.mountPath", mount_path, "must be an absolute path"))
            paths.add(mount_path)
        sub_path = mount.get("subPath")
        if sub_path:
            if str(sub_path).startswith("/"):
                errs.append(field.invalid(f"{at}.subPath", sub_path, "must be a relative path"))
            elif ".." in str(sub_path).split("/"):
                errs.append(field.invalid(f"{at}.subPath", sub_path, "must not contain '..'"))
    return errs


def _resource_name_errors(name: str, path: str) -> list[FieldError]:
    if name in _STANDARD_RESOURCES or name.startswith("hugepages-"):
        return []
    errs = [field.invalid(path, name, msg) for msg in validation.is_qualified_name(name)]
    if not errs and "/" not in name:
        errs.append(field.invalid(path, name, "must be a standard resource type or fully qualified"))
    return errs


def validate_resources(resources: Any, path: str) -> list[FieldError]:
    """A container's ``resources``: names, quantities ≥ 0, and every request ≤ its limit."""
    if not isinstance(resources, dict):
        return []
    errs: list[FieldError] = []
    parsed: dict[str, dict[str, Quantity]] = {"limits": {}, "requests": {}}
    for kind in ("limits", "requests"):
        values = resources.get(kind)
        if not isinstance(values, dict):
            continue
        for name, value in values.items():
            at = f"{path}.{kind}[{name}]"
            errs += _resource_name_errors(name, at)
            try:
                amount = parse_quantity(value)
            except QuantityError as err:
                errs.append(field.invalid(at, value, str(err)))
                continue
            if amount.nanos < 0:
                errs.append(field.invalid(at, str(amount), validation.IS_NEGATIVE_ERROR_MSG))
            else:
                parsed[kind][name] = amount
    for name, request in parsed["requests"].items():
        limit = parsed["limits"].get(name)
        if limit is not None and limit < request:
            errs.append(field.invalid(
                f"{path}.requests", str(request), f"must be less than or equal to {name} limit of {limit}",
            ))
    return errs


def _validate_probe(probe: Any, path: str, *, single_success: bool) -> list[FieldError]:
    if not isinstance(probe, dict):
        return []
    errs: list[FieldError] = []
    handlers = [h for h in ("exec", "httpGet", "tcpSocket", "grpc") if probe.get(h) is not None]
    if not handlers:
        errs.append(field.required(path, "must specify a handler type"))
    elif len(handlers) > 1:
        errs.append(field.forbidden(f"{path}.{handlers[1]}", "may not specify more than 1 handler type"))
    else:
        handler = probe[handlers[0]] or {}
        at = f"{path}.{handlers[0]}"
        if handlers[0] == "exec" and not handler.get("command"):
            errs.append(field.required(f"{at}.command", ""))
        if handlers[0] in ("httpGet", "tcpSocket"):
            errs += port_num_or_name(handler.get("port"), f"{at}.port")
        if handlers[0] == "httpGet":
            scheme = handler.get("scheme")
            if scheme not in (None, "HTTP", "HTTPS"):
                errs.append(field.not_supported(f"{at}.scheme", scheme, ["HTTP", "HTTPS"]))
        if handlers[0] == "grpc":
            errs += [field.invalid(f"{at}.port", handler.get("port"), m) for m in validation.is_valid_port_num(_int(handler.get("port")) or 0)]
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        errs += non_negative(probe.get(key), f"{path}.{key}")
    success = probe.get("successThreshold")
    if single_success and _int(success) is not None and success != 1:
        errs.append(field.invalid(f"{path}.successThreshold", success, "must be 1"))
    return errs


def _validate_tolerations(tolerations: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, toleration in enumerate(tolerations if isinstance(tolerations, list) else []):
        at = f"{path}[{i}]"
        if not isinstance(toleration, dict):
            continue
        key = toleration.get("key")
        if key:
            errs += [field.invalid(f"{at}.key", key, msg) for msg in validation.is_qualified_name(str(key))]
        operator = toleration.get("operator") or "Equal"
        if not key and operator != "Exists":
            errs.append(field.invalid(f"{at}.operator", operator, "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
        if operator == "Exists" and toleration.get("value"):
            errs.append(field.invalid(f"{at}.operator", toleration["value"], "value must be empty when `operator` is 'Exists'"))
        elif operator == "Equal":
            value = str(toleration.get("value") or "")
            errs += [field.invalid(f"{at}.value", value, msg) for msg in validation.is_valid_label_value(value)]
        elif operator not in TOLERATION_OPERATORS:
            errs.append(field.not_supported(f"{at}.operator", operator, TOLERATION_OPERATORS))
        effect = toleration.get("effect")
        if effect and effect not in TAINT_EFFECTS:
            errs.append(field.not_supported(f"{at}.effect", effect, TAINT_EFFECTS))
        seconds = toleration.get("tolerationSeconds")
        if seconds is not None and effect != "NoExecute":
            errs.append(field.invalid(f"{at}.effect", effect or "", "effect must be 'NoExecute' when `tolerationSeconds` is set"))
    return errs


def validate_pod_spec_update(spec: Obj, old: Obj) -> list[FieldError]:
    """``ValidatePodUpdate``'s spec rule: only images, activeDeadlineSeconds and added tolerations may change."""
    errs: list[FieldError] = []
    old_deadline, deadline = old.get("activeDeadlineSeconds"), spec.get("activeDeadlineSeconds")
    if old_deadline is not None and (deadline is None or deadline > old_deadline):
        errs.append(field.invalid(
            "spec.activeDeadlineSeconds", deadline,
            "must be less than or equal to previous value" if deadline is not None else "must not update from a positive integer to nil value",
        ))
    mutable = _mutable_view(spec, old)
    if mutable != _mutable_view(old, old):
        errs.append(field.forbidden("spec", _POD_UPDATE_FORBIDDEN))
    return errs


def _mutable_view(spec: Obj, old: Obj) -> Obj:
    """``spec`` with what an update may change copied from ``old``: what must then be equal."""
    view = dict(spec)
    for key in ("containers", "initContainers"):
        new_list, old_list = items(spec, key), items(old, key)
        if len(new_list) == len(old_list):
            view[key] = [dict(c, image=o.get("image")) for c, o in zip(new_list, old_list, strict=True)]
    view["activeDeadlineSeconds"] = old.get("activeDeadlineSeconds")
    old_tolerations = old.get("tolerations") or []
    new_tolerations = spec.get("tolerations") or []
    if all(t in new_tolerations for t in old_tolerations):
        view["tolerations"] = old_tolerations
    grace = spec.get("terminationGracePeriodSeconds")
    old_grace = _int(old.get("terminationGracePeriodSeconds"))
    if old_grace is not None and old_grace < 0 and grace == 1:
        view["terminationGracePeriodSeconds"] = old_grace
    return {k: v for k, v in view.items() if v is not None}


def validate_pod_status(status: Obj, spec: Obj) -> list[FieldError]:
    """``ValidatePodStatusUpdate``: phase, node name, IPs and container statuses' names."""
    errs: list[FieldError] = []
    phase = status.get("phase")
    if phase and phase not in POD_PHASES:
        errs.append(field.not_supported("status.phase", phase, POD_PHASES))
    nominated = status.get("nominatedNodeName")
    if nominated:
        errs += dns_subdomain(nominated, "status.nominatedNodeName")
    for key in ("podIPs", "hostIPs"):
        for i, entry in enumerate(items(status, key)):
            ip = str(entry.get("ip") or "")
            errs += [field.invalid(f"status.{key}[{i}].ip", ip, msg) for msg in validation.is_valid_ip(ip)]
    for key, spec_key in (("containerStatuses", "containers"), ("initContainerStatuses", "initContainers")):
        known = {c.get("name") for c in items(spec, spec_key)}
        for i, cs in enumerate(items(status, key)):
            if cs.get("name") not in known:
                errs.append(field.not_found(f"status.{key}[{i}].name", cs.get("name") or ""))
    return errs
