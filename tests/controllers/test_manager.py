"""The controller-manager: which controllers run, replacing one, and the command line."""

from __future__ import annotations

import pytest

from kubelab.controllers.deployment import DeploymentController
from kubelab.controllers.manager import (
    BUILTIN_CONTROLLERS,
    ControllerContext,
    ControllerManager,
    _disabled,
    main,
)
from kubelab.controllers.replicaset import ReplicaSetController


class Mine:
    def __init__(self):
        self.started_with = None

    def start(self, context: ControllerContext) -> None:
        self.started_with = context

    def stop(self) -> None:
        pass


def test_every_builtin_controller_runs_by_default():
    manager = ControllerManager()
    assert list(manager.controllers) == list(BUILTIN_CONTROLLERS)
    assert {"replicaset", "deployment", "garbagecollector"} <= set(manager.controllers)
    assert isinstance(manager.controllers["replicaset"], ReplicaSetController)
    assert isinstance(manager.controllers["deployment"], DeploymentController)


def test_a_controller_can_be_replaced_added_or_disabled():
    mine, extra = Mine(), Mine()
    others = [n for n in BUILTIN_CONTROLLERS if n not in ("replicaset", "deployment")]
    manager = ControllerManager(controllers={"replicaset": mine, "mine": extra}, disabled=["deployment", *others])
    assert manager.controllers == {"replicaset": mine, "mine": extra}


def test_bad_controllers_are_refused_with_a_reason():
    with pytest.raises(TypeError, match="must have start\\(context\\) and stop\\(\\)"):
        ControllerManager(controllers={"replicaset": object()})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="cannot disable unknown controllers nope"):
        ControllerManager(disabled=["nope"])


@pytest.mark.parametrize(
    "controllers, disable, expected",
    [
        ("*", [], set()),
        ("*,-deployment", [], {"deployment"}),
        ("replicaset", [], set(BUILTIN_CONTROLLERS) - {"replicaset"}),
        ("*", ["replicaset"], {"replicaset"}),
        ("*", ["replicaset,deployment"], {"replicaset", "deployment"}),
    ],
)
def test_command_line_controller_selection(controllers, disable, expected):
    assert _disabled(controllers, disable) == expected


def test_unknown_names_on_the_command_line_are_an_error(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--kubeconfig", "k", "--controllers", "*,nope"])
    assert exit.value.code == 2
    assert f"'nope' is not in the list of known controllers: {', '.join(BUILTIN_CONTROLLERS)}" in capsys.readouterr().err
