"""Making sure a container's image is on the node before it starts (``pkg/kubelet/images``).

``imagePullPolicy`` decides: ``Always`` pulls at every start, ``IfNotPresent`` pulls only
what the node lacks, ``Never`` never pulls. Every step is an event on the pod, worded as
the kubelet words it (Pulling, Pulled, Failed, BackOff), and a failed pull is not retried
until its back-off (10 s doubling to 5 min) has passed: ``ImagePullBackOff``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubelab import images
from kubelab.kubelet.backoff import Backoff
from kubelab.kubelet.runtime import ImageService, RuntimeServiceError

Recorder = Callable[[str, str, str], None]
"""Record an event on the pod: (type, reason, message)."""


class ImagePullError(Exception):
    """The image could not be made present; ``reason`` is the container's waiting reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def go_duration(seconds: float) -> str:
    """A duration truncated to milliseconds, printed as Go prints it (``523ms``, ``1.234s``, ``1m2.5s``)."""
    ms = int(seconds * 1000)
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    minutes, ms = divmod(ms, 60_000)
    text = f"{ms / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{minutes}m{text}" if minutes else text


def _quote(text: str) -> str:
    return json.dumps(text)


class ImageManager:
    """Ensures images for one node, through its runtime's image service."""

    def __init__(self, images_service: ImageService, backoff: Backoff) -> None:
        self.images = images_service
        self.backoff = backoff

    @staticmethod
    def backoff_key(pod: Mapping[str, Any], container: Mapping[str, Any]) -> str:
        return f"{(pod.get('metadata') or {}).get('uid')}_{container.get('image') or ''}"

    def ensure_image_exists(self, pod: Mapping[str, Any], container: Mapping[str, Any], record: Recorder) -> str:
        """Pull the container's image if its policy says so; return the image reference, or raise :class:`ImagePullError`."""
        image = container.get("image") or ""
        try:
            images.parse_reference(image)
        except images.InvalidImageName as e:
            message = f"Failed to apply default image tag {_quote(image)}: {e}"
            record("Warning", "InspectFailed", message)
            raise ImagePullError("InvalidImageName", message) from e
        present = self.images.image_status(image)
        policy = container.get("imagePullPolicy") or "IfNotPresent"
        if policy == "Never" or (policy == "IfNotPresent" and present is not None):
            if present is not None:
                record("Normal", "Pulled", f"Container image {_quote(image)} already present on machine")
                return present.id
            message = f"Container image {_quote(image)} is not present with pull policy of Never"
            record("Warning", "ErrImageNeverPull", message)
            raise ImagePullError("ErrImageNeverPull", message)
        key = self.backoff_key(pod, container)
        if self.backoff.is_in_backoff_since_update(key):
            message = f"Back-off pulling image {_quote(image)}"
            record("Normal", "BackOff", message)
            raise ImagePullError("ImagePullBackOff", message)
        record("Normal", "Pulling", f"Pulling image {_quote(image)}")
        started = time.monotonic()
        try:
            image_ref = self.images.pull_image(image)
        except RuntimeServiceError as e:
            record("Warning", "Failed", f"Failed to pull image {_quote(image)}: {e}")
            self.backoff.next(key, self.backoff.clock.wall())
            raise ImagePullError("ErrImagePull", str(e)) from e
        took = go_duration(time.monotonic() - started)
        status = self.images.image_status(image)
        size = status.size if status else 0
        record("Normal", "Pulled",
               f"Successfully pulled image {_quote(image)} in {took} ({took} including waiting). Image size: {size} bytes.")
        return image_ref
