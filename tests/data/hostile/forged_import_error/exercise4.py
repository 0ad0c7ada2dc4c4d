# Written against the public protocol (the reply fd is the bootstrap's argv[5]): an import reply of its own, with 3 MB strings, before the worker's.
import json
import os
import struct
import sys

_payload = json.dumps({"ok": False, "error": {"type": "T" * 3_000_000, "message": "m" * 500_000,
                                             "traceback": "t" * 500_000}}).encode()
os.write(int(sys.argv[5]), struct.pack("!4sQI", b"EX4\x01", len(_payload), 0) + _payload)
