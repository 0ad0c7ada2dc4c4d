# Shared by writer.py and reader.py (pasted into each submission): the channels one submission
# could leave state in for the next one on the same slot, each carrying PAYLOAD.
import ctypes as _ct
import json as _json
import os as _os
import socket as _socket
import sys as _sys
import tempfile as _tempfile

_libc = _ct.CDLL(None, use_errno=True)
_libc.syscall.restype = _ct.c_long
_libc.shmat.restype = _ct.c_void_p
_MARK = "ex4-leak"
_KEY = 0x45584C4B  # SysV IPC key
_SOCKET = "\0ex4-leak-socket"
_MQ = b"/ex4-leak-mq"
_RINGS = {"user": -4, "user-session": -5, "session": -3, "process": -2}
_FOLDERS = sorted({"/tmp", "/dev/shm", "/var/tmp", _os.path.expanduser("~"), _os.getcwd(), _tempfile.gettempdir(),
                   "/sandbox/submission", "/sandbox/lib"})


def _persistent():
    """The uid's persistent keyring (KEYCTL_GET_PERSISTENT), linked into the process keyring."""
    return _libc.syscall(250, 22, _ct.c_long(-1), _ct.c_long(-2))


def _err():
    return _os.strerror(_ct.get_errno())
