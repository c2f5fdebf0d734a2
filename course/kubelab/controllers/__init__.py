"""The controllers of the controller-manager, built on :mod:`kubelab.runtime`.

Each module is one controller, named as upstream names it (``replicaset``, ``deployment``);
:mod:`~kubelab.controllers.manager` runs them together on one shared set of informers.
"""

import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())
