

import sys as _sys

_sys.setrecursionlimit(10**8)


def receptive_field(layers):
    return receptive_field(layers) + 1
