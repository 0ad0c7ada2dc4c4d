"""``python -m grader.batch job TARGET ZIP SETTINGS_JSON``: the child process grading one zip (:mod:`grader.batch.child`)."""

import sys

from grader.batch.child import main

main(sys.argv[1:])
