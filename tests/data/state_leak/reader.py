
# ---- the reader: no solution of its own; it takes the writer's, from wherever it finds it.
FOUND = {}


def _read_all():
    ring_ids = dict(_RINGS)
    persistent = _persistent()
    if persistent > 0:
        ring_ids["persistent"] = persistent
    for name, ring in ring_ids.items():
        serial = _libc.syscall(250, 10, _ct.c_long(ring), b"user", f"{_MARK}-{name}".encode(), _ct.c_long(0))
        if serial > 0:
            buffer = _ct.create_string_buffer(65536)
            size = _libc.syscall(250, 11, _ct.c_long(serial), buffer, _ct.c_long(65536))
            FOUND[f"key:{name}"] = buffer.raw[:max(size, 0)]
    for folder in _FOLDERS:
        path = _os.path.join(folder, f"{_MARK}-file")
        if _os.path.exists(path):
            FOUND[f"file:{folder}"] = open(path, "rb").read()
    shm = _libc.shmget(_KEY, 0, 0)
    if shm >= 0:
        FOUND["sysv:shm"] = _ct.string_at(_libc.shmat(shm, None, 0))
    if _libc.msgget(_KEY, 0) >= 0:
        FOUND["sysv:msg"] = b""
    if _libc.semget(_KEY, 0, 0) >= 0:
        FOUND["sysv:sem"] = b""
    if _libc.mq_open(_MQ, _os.O_RDONLY) >= 0:
        FOUND["posix:mq"] = b""
    if "EX4_LEAK" in _os.environ:
        FOUND["environment"] = b""
    try:
        with _socket.socket(_socket.AF_UNIX) as sock:
            sock.settimeout(3)
            sock.connect(_SOCKET)
            FOUND["process+socket"] = b"".join(iter(lambda: sock.recv(65536), b""))
    except OSError:
        pass
    for pid in (p for p in _os.listdir("/proc") if p.isdigit()):
        try:
            if b"ex4-hostile-marker" in open(f"/proc/{pid}/cmdline", "rb").read():
                FOUND["process"] = b""
        except OSError:
            pass


_read_all()
print("EX4-LEAK-FOUND " + _json.dumps(sorted(FOUND)), flush=True)
for _payload in FOUND.values():
    if b"def conv_relu" in _payload:
        exec(compile(_payload.decode(), "<leaked>", "exec"), globals())  # the collusion: 41 of 41, no solution
        break
