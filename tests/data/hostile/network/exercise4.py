

import socket as _socket

# Only ever 127.0.0.1: the test listens on 47613 on the host's loopback.
for _port in (47613, 22, 80, 8080):
    try:
        _socket.create_connection(("127.0.0.1", _port), timeout=2).sendall(b"ex4-hostile-marker")
    except OSError:
        pass
