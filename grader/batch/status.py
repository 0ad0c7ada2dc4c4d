"""How one submission's grading run ended, as the batch records it (grades.csv's `status`, batch.json, index.html)."""

from __future__ import annotations

import enum


class RunStatus(enum.StrEnum):
    GRADED = "graded"  # the run wrote a verdict (whatever the score)
    CRASHED = "crashed"  # the grading process died without one; the result says a TA will look
    TIMEOUT = "timeout"  # stopped after `grader batch --timeout`
    NO_ZIP = "no-zip"  # a participant of the Moodle download who handed in no zip: nothing was run

    @property
    def failed(self) -> bool:
        """The run itself failed (not the submission): its result is not sent to Moodle."""
        return self in (RunStatus.CRASHED, RunStatus.TIMEOUT)
