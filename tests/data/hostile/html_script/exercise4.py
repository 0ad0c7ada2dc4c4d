

print("<script>alert('stdout')</script>")

ANSWERS = {
    "1b": "<script>alert('answer')</script>",
    "1d": "<img src=x onerror=alert('answer')>",
}


class ScriptError(Exception):
    pass


def conv_output_size(n, k, s=1, p=0, d=1):
    raise ScriptError("<script>alert('exception')</script>")
