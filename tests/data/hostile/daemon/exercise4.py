

import os as _os
import sys as _sys

# Double fork and a session of its own: the classic daemon that outlives its parent.
if _os.fork() == 0:
    _os.setsid()
    if _os.fork() == 0:
        _os.execv(_sys.executable, [_sys.executable, "-c", "import time; time.sleep(100000)", "ex4-hostile-marker"])
    _os._exit(0)
_os.wait()
