"""The nbgrader settings every kubelab course uses."""

from __future__ import annotations

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades
from traitlets.config import Config

from kubelab.autograde.feedback import ClearHiddenOutputs

COURSE_ID = "kubelab"
SOURCE = "solutions"
RELEASE = "labs"
SUBMITTED = "submitted"
AUTOGRADED = "autograded"
FEEDBACK = "feedback"
BUGS_FILE = "bugs.yaml"
CELL_TIMEOUT = 60


def configure(c: Config) -> Config:
    """Put kubelab's settings into the nbgrader config ``c`` and return it."""
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.source_directory = SOURCE
    c.CourseDirectory.release_directory = RELEASE
    c.CourseDirectory.submitted_directory = SUBMITTED
    c.CourseDirectory.autograded_directory = AUTOGRADED
    c.CourseDirectory.feedback_directory = FEEDBACK
    # bugs.yaml holds the planted bugs that prove a lab's tests bite: never release it.
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*", BUGS_FILE]

    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

    # Labs start embedded clusters in graded cells: a cell gets a minute, then is interrupted.
    c.Execute.timeout = CELL_TIMEOUT
    c.Execute.interrupt_on_timeout = True
    c.Execute.startup_timeout = 60

    # A student who deleted a test cell is graded on it anyway, not left at "needs manual grade".
    c.OverwriteCells.add_missing_cells = True

    # Feedback shows neither the source of hidden tests nor anything a hidden-test cell printed
    # (ClearHiddenOutputs must see the hidden-test markers, so it runs before ClearHiddenTests).
    c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenOutputs, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
    return c
