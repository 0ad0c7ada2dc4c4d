"""Writes a full-marks results.json wherever it can."""

import json
import os

FAKE = json.dumps({"score": 999, "tests": [], "extra_data": {"fake": "ex4-hostile-marker"}})
TARGETS = {os.getcwd(), os.path.expanduser("~"), "/tmp", "/sandbox", "/sandbox/submission", "/sandbox/lib",
           os.path.dirname(os.path.abspath(__file__)), "..", "../..", "/", "/work/main/reports", "/root",
           "/tmp/ex4-hostile-canary"}
for folder, dirs, files in os.walk("/"):
    if folder.startswith(("/proc", "/sys", "/dev")):
        dirs[:] = []
        continue
    if os.access(folder, os.W_OK):
        TARGETS.add(folder)
for folder in TARGETS:
    for name in ("results.json", "../results.json", "Mustermann-123456/results.json"):
        try:
            os.makedirs(os.path.dirname(os.path.join(folder, name)), exist_ok=True)
            with open(os.path.join(folder, name), "w") as fh:
                fh.write(FAKE)
        except OSError:
            pass
