"""Validation of names, labels and object metadata, with upstream's exact messages.

Mirrors ``k8s.io/apimachinery/pkg/util/validation`` (the ``is_*`` checks: each returns a list
of message strings, empty when the value is fine) and ``pkg/api/validation/objectmeta.go``
plus ``pkg/apis/meta/v1/validation`` (``validate_*``: each returns a list of
:class:`~kubelab.api.field.FieldError`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from kubelab.api import field
from kubelab.api.field import FieldError

NameFn = Callable[[str, bool], list[str]]
"""Validates a name, or a ``generateName`` prefix when the flag is True (``ValidateNameFunc``)."""

DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
DNS1035_LABEL_MAX_LENGTH = 63
QUALIFIED_NAME_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63
TOTAL_ANNOTATION_SIZE_LIMIT_B = 256 * 1024
FIELD_MANAGER_MAX_LENGTH = 128
MAX_SUBRESOURCE_NAME_LENGTH = 256
FIELD_IMMUTABLE_ERROR_MSG = "field is immutable"
IS_NEGATIVE_ERROR_MSG = "must be greater than or equal to 0"
BANNED_OWNERS = frozenset({("", "v1", "Event")})

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
_WILDCARD_FMT = "\\*\\." + _DNS1123_SUBDOMAIN_FMT
_WILDCARD_MSG = (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, "
    "which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character"
)
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)
_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_C_IDENTIFIER_FMT = "[A-Za-z_][A-Za-z0-9_]*"
_C_IDENTIFIER_MSG = (
    "a valid C identifier must start with alphabetic character or '_', "
    "followed by a string of alphanumeric characters or '_'"
)
_ENV_VAR_NAME_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
_ENV_VAR_NAME_MSG = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', "
    "and must not start with a digit"
)
_CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_MAP_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
_PERCENT_FMT = "[0-9]+%"
_PERCENT_MSG = "a valid percent string must be a numeric string followed by an ending '%'"
_HTTP_HEADER_FMT = "[-A-Za-z0-9]+"
_HTTP_HEADER_MSG = "a valid HTTP header must consist of alphanumeric characters or '-'"


def _full(fmt: str) -> re.Pattern[str]:
    # Go's regexp is RE2: no backtracking blow-ups and "$" matches only at the very end.
    return re.compile(fmt + r"\Z")


_DNS1123_LABEL = _full(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN = _full(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL = _full(_DNS1035_LABEL_FMT)
_WILDCARD = _full(_WILDCARD_FMT)
_QUALIFIED_NAME = _full(_QUALIFIED_NAME_FMT)
_LABEL_VALUE = _full(_LABEL_VALUE_FMT)
_C_IDENTIFIER = _full(_C_IDENTIFIER_FMT)
_ENV_VAR_NAME = _full(_ENV_VAR_NAME_FMT)
_CONFIG_MAP_KEY = _full(_CONFIG_MAP_KEY_FMT)
_PERCENT = _full(_PERCENT_FMT)
_HTTP_HEADER = _full(_HTTP_HEADER_FMT)
_PORT_NAME_CHARSET = _full("[-a-z0-9]+")


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def empty_error() -> str:
    return "must be non-empty"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """A regex failure explained as upstream does: ``msg (e.g. 'a' or 'b', regex used for validation is '...')``."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _length(value: str) -> int:
    # Go's len() counts bytes.
    return len(value.encode())


def is_dns1123_label(value: str) -> list[str]:
    """A DNS label (RFC 1123): Namespace names, Service names' labels, container names."""
    errs = []
    if _length(value) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _DNS1123_LABEL.match(value):
        if _DNS1123_SUBDOMAIN.match(value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    """A DNS subdomain (RFC 1123): most object names."""
    errs = []
    if _length(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _DNS1123_SUBDOMAIN.match(value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    """A DNS label that starts with a letter (RFC 1035): Service names."""
    errs = []
    if _length(value) > DNS1035_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1035_LABEL_MAX_LENGTH))
    if not _DNS1035_LABEL.match(value):
        errs.append(regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_wildcard_dns1123_subdomain(value: str) -> list[str]:
    """A wildcard host such as ``*.example.com`` (Ingress rules)."""
    errs = []
    if _length(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _WILDCARD.match(value):
        errs.append(regex_error(_WILDCARD_MSG, _WILDCARD_FMT, "*.example.com"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """A label key, annotation key or finalizer: ``name`` or ``dns.prefix/name``."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + empty_error())
        else:
            errs.extend("prefix part " + msg for msg in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part " + empty_error())
    elif _length(name) > QUALIFIED_NAME_MAX_LENGTH:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _QUALIFIED_NAME.match(name):
        errs.append("name part " + regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def is_valid_label_value(value: str) -> list[str]:
    """A label value: empty, or up to 63 alphanumerics with ``-_.`` inside."""
    errs = []
    if _length(value) > LABEL_VALUE_MAX_LENGTH:
        errs.append(max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _LABEL_VALUE.match(value):
        errs.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def is_c_identifier(value: str) -> list[str]:
    """A C identifier (``[A-Za-z_][A-Za-z0-9_]*``)."""
    if not _C_IDENTIFIER.match(value):
        return [regex_error(_C_IDENTIFIER_MSG, _C_IDENTIFIER_FMT, "my_name", "MY_NAME", "MyName")]
    return []


def _chdir_prefix(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def is_env_var_name(value: str) -> list[str]:
    """A container environment variable name (``env[].name``, ``envFrom`` keys)."""
    errs = []
    if not _ENV_VAR_NAME.match(value):
        errs.append(regex_error(_ENV_VAR_NAME_MSG, _ENV_VAR_NAME_FMT, "my.env-name", "MY_ENV.NAME", "MyEnvName1"))
    return errs + _chdir_prefix(value)


def is_config_map_key(value: str) -> list[str]:
    """A key of a ConfigMap's or Secret's ``data``."""
    errs = []
    if _length(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _CONFIG_MAP_KEY.match(value):
        errs.append(regex_error(_CONFIG_MAP_KEY_MSG, _CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    return errs + _chdir_prefix(value)


def is_valid_port_num(port: int) -> list[str]:
    """A non-zero TCP/UDP port number."""
    return [] if 1 <= port <= 65535 else [inclusive_range_error(1, 65535)]


def is_in_range(value: int, lo: int, hi: int) -> list[str]:
    return [] if lo <= value <= hi else [inclusive_range_error(lo, hi)]


def is_valid_port_name(port: str) -> list[str]:
    """A named port (IANA_SVC_NAME): up to 15 of ``[-a-z0-9]``, at least one letter, no ``--``, no edge ``-``."""
    errs = []
    if _length(port) > 15:
        errs.append(max_len_error(15))
    if not _PORT_NAME_CHARSET.match(port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    # Upstream parses "sloppily": IPv4 parts may carry leading zeros; IPv6 zones are not IPs.
    parts = value.split(".")
    if len(parts) == 4 and all(p.isascii() and p.isdigit() for p in parts):
        octets = [int(p) for p in parts]
        return ipaddress.IPv4Address(bytes(octets)) if all(o <= 255 for o in octets) else None
    if "%" in value or ":" not in value:
        return None
    try:
        return ipaddress.IPv6Address(value)
    except ValueError:
        return None


def is_valid_ip(value: str) -> list[str]:
    """An IPv4 or IPv6 address (Service ``clusterIP``, ``externalIPs``, Endpoints)."""
    if _parse_ip(value) is None:
        return ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
    return []


def is_valid_ipv4_address(value: str) -> list[str]:
    ip = _parse_ip(value)
    if ip is None or not (ip.version == 4 or getattr(ip, "ipv4_mapped", None)):
        return ["must be a valid IPv4 address"]
    return []


def is_valid_ipv6_address(value: str) -> list[str]:
    ip = _parse_ip(value)
    if ip is None or ip.version == 4 or getattr(ip, "ipv4_mapped", None):
        return ["must be a valid IPv6 address"]
    return []


def is_valid_cidr(value: str) -> list[str]:
    """A CIDR such as ``10.96.0.0/12``; host bits may be set, as upstream allows."""
    address, _, bits = value.partition("/")
    ip = _parse_ip(address)
    limit = 32 if ip is not None and ip.version == 4 else 128
    if ip is None or not bits.isascii() or not bits.isdigit() or int(bits) > limit:
        return ["must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"]
    return []


def is_valid_percent(value: str) -> list[str]:
    """A percentage such as ``25%`` (``maxSurge``, ``maxUnavailable``)."""
    if not _PERCENT.match(value):
        return [regex_error(_PERCENT_MSG, _PERCENT_FMT, "1%", "93%")]
    return []


def is_http_header_name(value: str) -> list[str]:
    if not _HTTP_HEADER.match(value):
        return [regex_error(_HTTP_HEADER_MSG, _HTTP_HEADER_FMT, "X-Header-Name")]
    return []


# Name functions: each validates an object's name, or a generateName prefix (``prefix=True``).

def _mask_trailing_dash(name: str) -> str:
    # A generateName prefix may end in "-": random characters follow it.
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    """Most kinds: ConfigMaps, Deployments, Pods, Secrets, Nodes..."""
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    """Namespaces."""
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    """Services."""
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


def validate_path_segment_name(name: str, prefix: bool) -> list[str]:
    """Kinds whose names need only be usable in a URL path (RBAC roles, Events' names...)."""
    if not prefix and name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


validate_namespace_name = name_is_dns_label


# Metadata validation.

def _str_map(value: Any, path: str) -> tuple[dict[str, str], list[FieldError]]:
    if value is None:
        return {}, []
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return {}, [field.type_invalid(path, value, "must be a map of string keys to string values")]
    return value, []


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    """Each label key a qualified name, each value a valid label value (``ValidateLabels``)."""
    mapping, errs = _str_map(labels, path)
    for key, value in mapping.items():
        errs += [field.invalid(path, key, msg) for msg in is_qualified_name(key)]
        errs += [field.invalid(path, value, msg) for msg in is_valid_label_value(value)]
    return errs


def validate_annotations(annotations: Any, path: str) -> list[FieldError]:
    """Keys qualified names (any case), total size of keys and values at most 256 KiB."""
    mapping, errs = _str_map(annotations, path)
    for key in mapping:
        errs += [field.invalid(path, key, msg) for msg in is_qualified_name(key.lower())]
    if sum(_length(k) + _length(v) for k, v in mapping.items()) > TOTAL_ANNOTATION_SIZE_LIMIT_B:
        errs.append(field.too_long(path, "", TOTAL_ANNOTATION_SIZE_LIMIT_B))
    return errs


def _group_version_kind(api_version: str, kind: str) -> tuple[str, str, str]:
    # schema.FromAPIVersionAndKind: an unparsable apiVersion leaves group and version empty.
    parts = api_version.split("/") if api_version else [""]
    if len(parts) == 1:
        return "", parts[0], kind
    if len(parts) == 2:
        return parts[0], parts[1], kind
    return "", "", kind


def validate_owner_references(refs: Any, path: str) -> list[FieldError]:
    """apiVersion, kind, name and uid set; no Event owners; at most one ``controller: true``."""
    if refs is None:
        return []
    if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
        return [field.type_invalid(path, refs, "must be a list of owner references")]
    errs: list[FieldError] = []
    first_controller = ""
    for ref in refs:
        api_version, kind = str(ref.get("apiVersion") or ""), str(ref.get("kind") or "")
        gvk = _group_version_kind(api_version, kind)
        if not gvk[1]:
            errs.append(field.invalid(f"{path}.apiVersion", api_version, "version must not be empty"))
        if not gvk[2]:
            errs.append(field.invalid(f"{path}.kind", kind, "must not be empty"))
        if not ref.get("name"):
            errs.append(field.invalid(f"{path}.name", ref.get("name") or "", "must not be empty"))
        if not ref.get("uid"):
            errs.append(field.invalid(f"{path}.uid", ref.get("uid") or "", "must not be empty"))
        if gvk in BANNED_OWNERS:
            errs.append(field.invalid(path, ref, f"{gvk[0]}/{gvk[1]}, Kind={gvk[2]} is disallowed from being an owner"))
        if ref.get("controller") is True:
            current = f"{kind}/{ref.get('name') or ''}"
            if first_controller:
                errs.append(field.invalid(
                    path, refs,
                    "Only one reference can have Controller set to true. "
                    f'Found "true" in references for {first_controller} and {current}',
                ))
            else:
                first_controller = current
    return errs


def validate_finalizers(finalizers: Any, path: str) -> list[FieldError]:
    """Each finalizer a qualified name; ``orphan`` and ``foregroundDeletion`` not both."""
    if finalizers is None:
        return []
    if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
        return [field.type_invalid(path, finalizers, "must be a list of strings")]
    errs = [field.invalid(path, f, msg) for f in finalizers for msg in is_qualified_name(f)]
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        errs.append(field.invalid(path, finalizers, "finalizer orphan and foregroundDeletion cannot be both set"))
    return errs


def validate_field_manager(manager: str, path: str) -> list[FieldError]:
    """A field manager name: at most 128 bytes, printable characters only."""
    errs = []
    if _length(manager) > FIELD_MANAGER_MAX_LENGTH:
        errs.append(field.too_long(path, manager, FIELD_MANAGER_MAX_LENGTH))
    position = 0
    for ch in manager:
        if not ch.isprintable():
            errs.append(field.invalid(path, manager, f"invalid character U+{ord(ch):04X} (at position {position})"))
        position += _length(ch)
    return errs


def validate_managed_fields(entries: Any, path: str) -> list[FieldError]:
    """Each managedFields entry: operation Apply or Update, fieldsType FieldsV1, a valid manager."""
    if entries is None:
        return []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        return [field.type_invalid(path, entries, "must be a list of managed fields entries")]
    errs: list[FieldError] = []
    for i, entry in enumerate(entries):
        at = f"{path}[{i}]"
        if entry.get("operation") not in ("Apply", "Update"):
            errs.append(field.invalid(f"{at}.operation", entry.get("operation") or "", "must be `Apply` or `Update`"))
        if entry.get("fieldsType") and entry["fieldsType"] != "FieldsV1":
            errs.append(field.invalid(f"{at}.fieldsType", entry["fieldsType"], "must be `FieldsV1`"))
        errs += validate_field_manager(str(entry.get("manager") or ""), f"{at}.manager")
        subresource = str(entry.get("subresource") or "")
        if _length(subresource) > MAX_SUBRESOURCE_NAME_LENGTH:
            errs.append(field.too_long(f"{at}.subresource", subresource, MAX_SUBRESOURCE_NAME_LENGTH))
    return errs


def _validate_meta_common(meta: dict[str, Any], namespaced: bool, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    namespace = meta.get("namespace") or ""
    if namespaced:
        if not namespace:
            errs.append(field.required(f"{path}.namespace"))
        else:
            errs += [field.invalid(f"{path}.namespace", namespace, m) for m in validate_namespace_name(namespace, False)]
    elif namespace:
        errs.append(field.forbidden(f"{path}.namespace", "not allowed on this type"))
    generation = meta.get("generation") or 0
    if isinstance(generation, int) and generation < 0:
        errs.append(field.invalid(f"{path}.generation", generation, IS_NEGATIVE_ERROR_MSG))
    errs += validate_labels(meta.get("labels"), f"{path}.labels")
    errs += validate_annotations(meta.get("annotations"), f"{path}.annotations")
    errs += validate_owner_references(meta.get("ownerReferences"), f"{path}.ownerReferences")
    errs += validate_finalizers(meta.get("finalizers"), f"{path}.finalizers")
    errs += validate_managed_fields(meta.get("managedFields"), f"{path}.managedFields")
    return errs


def validate_object_meta(
    meta: dict[str, Any], *, namespaced: bool, name_fn: NameFn, path: str = "metadata"
) -> list[FieldError]:
    """Field errors of a new object's metadata (``ValidateObjectMetaAccessor``).

    Run after name generation: a ``generateName`` is checked as a prefix, and a name is
    still required.
    """
    errs: list[FieldError] = []
    generate_name = meta.get("generateName") or ""
    if generate_name:
        errs += [field.invalid(f"{path}.generateName", generate_name, m) for m in name_fn(generate_name, True)]
    name = meta.get("name") or ""
    if not name:
        errs.append(field.required(f"{path}.name", "name or generateName is required"))
    else:
        errs += [field.invalid(f"{path}.name", name, m) for m in name_fn(name, False)]
    return errs + _validate_meta_common(meta, namespaced, path)


def validate_immutable_field(new: Any, old: Any, path: str) -> list[FieldError]:
    """``field is immutable`` unless ``new`` equals ``old`` (missing and empty count as equal)."""
    if (new or None) != (old or None):
        return [field.invalid(path, new, FIELD_IMMUTABLE_ERROR_MSG)]
    return []


def validate_object_meta_update(
    new: dict[str, Any], old: dict[str, Any], path: str = "metadata"
) -> list[FieldError]:
    """Field errors of an update's metadata (``ValidateObjectMetaAccessorUpdate``).

    name, namespace, uid, creationTimestamp, deletionTimestamp and deletionGracePeriodSeconds
    are immutable; resourceVersion is required; generation may not go down; no finalizer may
    be added once the object is being deleted.
    """
    errs: list[FieldError] = []
    if old.get("deletionTimestamp"):
        old_finalizers = set(old.get("finalizers") or [])
        extra = sorted(set(new.get("finalizers") or []) - old_finalizers)
        if extra:
            errs.append(field.forbidden(
                f"{path}.finalizers",
                "no new finalizers can be added if the object is being deleted, "
                f"found new finalizers {field.go_value(extra)}",
            ))
    if not new.get("resourceVersion"):
        errs.append(field.invalid(f"{path}.resourceVersion", new.get("resourceVersion") or "", "must be specified for an update"))
    if (new.get("generation") or 0) < (old.get("generation") or 0):
        errs.append(field.invalid(f"{path}.generation", new.get("generation") or 0, "must not be decremented"))
    for name in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
        errs += validate_immutable_field(new.get(name), old.get(name), f"{path}.{name}")
    errs += validate_labels(new.get("labels"), f"{path}.labels")
    errs += validate_annotations(new.get("annotations"), f"{path}.annotations")
    errs += validate_owner_references(new.get("ownerReferences"), f"{path}.ownerReferences")
    errs += validate_managed_fields(new.get("managedFields"), f"{path}.managedFields")
    return errs


def validate_label_selector(selector: Any, path: str) -> list[FieldError]:
    """Field errors of a ``metav1.LabelSelector`` (``ValidateLabelSelector``); None is valid."""
    if selector is None:
        return []
    if not isinstance(selector, dict):
        return [field.type_invalid(path, selector, "must be a label selector object")]
    errs = validate_labels(selector.get("matchLabels"), f"{path}.matchLabels")
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, list) or not all(isinstance(e, dict) for e in expressions):
        return errs + [field.type_invalid(f"{path}.matchExpressions", expressions, "must be a list of requirements")]
    for i, requirement in enumerate(expressions):
        at = f"{path}.matchExpressions[{i}]"
        operator, values = requirement.get("operator"), requirement.get("values") or []
        if operator in ("In", "NotIn"):
            if not values:
                errs.append(field.required(f"{at}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                errs.append(field.forbidden(f"{at}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            errs.append(field.invalid(f"{at}.operator", operator or "", "not a valid selector operator"))
        key = str(requirement.get("key") or "")
        errs += [field.invalid(f"{at}.key", key, m) for m in is_qualified_name(key)]
        for j, value in enumerate(values):
            errs += [field.invalid(f"{at}.values[{j}]", value, m) for m in is_valid_label_value(str(value))]
    return errs
