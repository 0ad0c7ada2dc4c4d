# A 16 MB import error: the worker cuts str(exc) but not the exception's type name.
print("p" * 16_000_000)
raise type("E" * 16_000_000, (Exception,), {})("x" * 1000)
