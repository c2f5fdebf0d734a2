"""nbgrader configuration of this course: kubelab's settings, plus any local overrides below.

``kubelab course build|check`` and ``kubelab grade`` load this file. Plain ``nbgrader``
commands read it too when run from the repository root with
``--config autograder/nbgrader_config.py``. The settings themselves live in
``kubelab.autograde.settings`` so that an instructor who installed kubelab with pip has them.
"""

from kubelab.autograde.settings import configure

c = get_config()  # noqa: F821 - injected by traitlets when it loads this file
configure(c)
