
# ---- the writer: leaves PAYLOAD (this very module's source) in every channel it can think of.
PAYLOAD = open(__file__, encoding="utf-8").read().split("\n# ---- the writer")[0].encode()
WROTE = {}


def _write_all():
    for name, ring in _RINGS.items():
        serial = _libc.syscall(248, b"user", f"{_MARK}-{name}".encode(), PAYLOAD, _ct.c_size_t(len(PAYLOAD)),
                               _ct.c_long(ring))
        WROTE[f"key:{name}"] = "ok" if serial > 0 else _err()
    ring = _persistent()
    if ring > 0:
        serial = _libc.syscall(248, b"user", f"{_MARK}-persistent".encode(), PAYLOAD, _ct.c_size_t(len(PAYLOAD)),
                               _ct.c_long(ring))
        WROTE["key:persistent"] = "ok" if serial > 0 else _err()
    else:
        WROTE["key:persistent"] = _err()
    for folder in _FOLDERS:
        try:
            with open(_os.path.join(folder, f"{_MARK}-file"), "wb") as fh:
                fh.write(PAYLOAD)
            WROTE[f"file:{folder}"] = "ok"
        except OSError as exc:
            WROTE[f"file:{folder}"] = type(exc).__name__
    shm = _libc.shmget(_KEY, len(PAYLOAD) + 8, 0o1000 | 0o666)
    if shm >= 0:
        address = _libc.shmat(shm, None, 0)
        _ct.memmove(address, PAYLOAD, len(PAYLOAD))
    WROTE["sysv:shm"] = "ok" if shm >= 0 else _err()
    WROTE["sysv:msg"] = "ok" if _libc.msgget(_KEY, 0o1000 | 0o666) >= 0 else _err()
    WROTE["sysv:sem"] = "ok" if _libc.semget(_KEY, 1, 0o1000 | 0o666) >= 0 else _err()
    WROTE["posix:mq"] = "ok" if _libc.mq_open(_MQ, _os.O_CREAT | _os.O_RDWR, 0o666, None) >= 0 else _err()
    _os.environ["EX4_LEAK"] = "1"
    # A background process that outlives the worker if it can, serving PAYLOAD on an abstract socket.
    server = (f"import socket\ndata = {PAYLOAD!r}\ns = socket.socket(socket.AF_UNIX)\ns.bind({_SOCKET!r})\n"
              "s.listen(4)\nwhile True:\n    c, _ = s.accept()\n    c.sendall(data)\n    c.close()\n")
    if _os.fork() == 0:
        _os.setsid()
        if _os.fork() == 0:
            _os.execv(_sys.executable, [_sys.executable, "-c", server, "ex4-hostile-marker"])
        _os._exit(0)
    _os.wait()
    WROTE["process+socket"] = "started"


_write_all()
print("EX4-LEAK-WROTE " + _json.dumps(WROTE), flush=True)
