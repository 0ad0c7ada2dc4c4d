

import sys as _sys

for _ in range(200):
    _sys.stdout.write("<script>alert('flood')</script> " * 4000 + "\n")
    _sys.stderr.write("x" * 100_000 + "\n")
_sys.stdout.flush()
