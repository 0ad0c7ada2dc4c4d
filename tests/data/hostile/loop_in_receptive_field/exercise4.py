

def receptive_field(layers):
    n = 0
    while True:
        n += 1
