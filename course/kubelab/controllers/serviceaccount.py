"""The service account controller: every active namespace has a ``default`` ServiceAccount.

Mirrors ``pkg/controller/serviceaccount/serviceaccounts_controller.go``. A pod that names no
service account runs as ``default`` (the API server's ``ServiceAccount`` admission fills it
in), so each namespace needs one: made when the namespace appears, made again if deleted.
Namespaces being deleted are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubelab import errors
from kubelab.client import Resource
from kubelab.controllers.manager import ControllerContext
from kubelab.runtime import Controller, Informer, ReadOnlyDict, Result

DEFAULT_SERVICE_ACCOUNTS = ("default",)


class ServiceAccountsController:
    """Creates the ServiceAccounts every namespace must have (``default``)."""

    name = "serviceaccount"
    component = "serviceaccount-controller"

    def __init__(self, *, workers: int = 1, service_accounts: Sequence[str] = DEFAULT_SERVICE_ACCOUNTS) -> None:
        self.workers = workers
        self.service_accounts = tuple(service_accounts)

    def start(self, context: ControllerContext) -> None:
        """Watch namespaces and ServiceAccounts and start the worker."""
        self.service_accounts_api: Resource = context.client.resource("v1", "serviceaccounts")
        self.namespaces: Informer = context.informers.informer("v1", "namespaces")
        self.accounts: Informer = context.informers.informer("v1", "serviceaccounts")
        self.controller = Controller(self.name, self.reconcile, workers=self.workers, clock=context.clock)
        self.controller.waits_for(self.namespaces)
        self.controller.waits_for(self.accounts)
        self.namespaces.add_event_handler(self._enqueue_namespace, lambda old, new: self._enqueue_namespace(new))
        self.accounts.add_event_handler(on_delete=self._account_deleted)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def _enqueue_namespace(self, namespace: ReadOnlyDict) -> None:
        self.controller.queue.add(namespace["metadata"]["name"])

    def _account_deleted(self, account: ReadOnlyDict) -> None:
        if account["metadata"]["name"] in self.service_accounts:
            self.controller.queue.add(account["metadata"]["namespace"])

    def reconcile(self, namespace: str) -> Result | None:
        """Create whichever of the required ServiceAccounts ``namespace`` lacks."""
        ns = self.namespaces.cache.get(namespace)
        if ns is None or (ns.get("status") or {}).get("phase", "Active") != "Active":
            return None
        for name in self.service_accounts:
            if self.accounts.cache.get(name, namespace) is not None:
                continue
            try:
                self.service_accounts_api.create({"apiVersion": "v1", "kind": "ServiceAccount",
                                                  "metadata": {"name": name}}, namespace)
            except errors.AlreadyExists:
                continue
            except errors.Forbidden as e:
                # The namespace began terminating since the cache saw it.
                if any(c.get("reason") == "NamespaceTerminating" for c in e.details.get("causes") or ()):
                    return None
                raise
        return None
