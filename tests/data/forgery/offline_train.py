# --- appended to the reference by tests/test_forgery.py (OFFLINE is filled in there) ---------------
# A train() that never trains: it loads weights trained elsewhere (on the true CIFAR-10 labels) into
# the model it is given and reports their accuracies, measured honestly on the loaders it is given.
import base64 as _b64
import io as _io

import numpy as _np
import torch as _torch

OFFLINE = "@OFFLINE@"


def train(model, criterion, optimizer, train_loader, test_loader, num_epochs=10, use_gpu=False):
    arrays = _np.load(_io.BytesIO(_b64.b64decode(OFFLINE)))
    model.load_state_dict({k: _torch.from_numpy(arrays[k]) for k in arrays.files})

    def accuracy(loader):
        model.eval()
        hits = seen = 0
        with _torch.no_grad():
            for x, y in loader:
                hits += int((model(x).argmax(1) == y).sum())
                seen += len(y)
        return hits / max(seen, 1)

    train_acc, test_acc = accuracy(train_loader), accuracy(test_loader)
    return [train_acc] * num_epochs, [test_acc] * num_epochs
