"""The lab harness: what every lab notebook uses around the learner's code.

    from kubelab import lab

    cluster = lab.start("03-scheduler", nodes=2)      # a fresh cluster (or namespace) for this lab
    cluster.kubectl("get nodes")
    cluster.plug("scheduler", MyScheduler())           # embedded: replace the cluster's own
    cluster.run(MyScheduler(name="my-scheduler"))      # any cluster: run beside the real one
    lab.wait_for(lambda: pod_is_running(), what="pod web to run")
    check.my_work()                                    # the lab's visible checks, in plain words

Each lab's own helpers and visible checks live in a module here named for the lab
(:mod:`kubelab.lab.orientation`, :mod:`kubelab.lab.etcd`, ...).
"""

from kubelab.lab.checks import Checks, Outcome
from kubelab.lab.diagram import Diagram, DiagramError, architecture, render_svg
from kubelab.lab.hybrid import hybrid
from kubelab.lab.progress import WaitTimeout, in_notebook, wait_for
from kubelab.lab.session import BACKENDS, LabCluster, LabError, Output, backend, close_all, start

__all__ = [
    "BACKENDS",
    "Checks",
    "Diagram",
    "DiagramError",
    "LabCluster",
    "LabError",
    "Outcome",
    "Output",
    "WaitTimeout",
    "architecture",
    "backend",
    "close_all",
    "hybrid",
    "in_notebook",
    "render_svg",
    "start",
    "wait_for",
]
