"""Code that runs inside the student's worker process.

This package is copied on its own into the sandbox: it imports nothing from the rest of
`grader` (which holds the hidden checks and the reference) and only stdlib, numpy and torch.
"""
