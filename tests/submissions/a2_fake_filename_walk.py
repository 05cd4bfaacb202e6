"""A regression round's a2: tests/submissions/a2_frame_walk.py with its frame walk compiled under a
made-up file of the standard library's folder and made into functions with ``type(some_function)``
(no scan reads either), so that the frames rule, which trusts code by the file it says it comes from,
took the walk for the library's. 100 where the work underneath earns 70, unflagged, until code that
claims a library's file was refused (grader.inside.guards: the code events)."""

import torch
from torch import nn

IDX2CHAR = ["e", "h", "l", "o"]


import codecs as _codecs
import os as _os
import copy as _copy

_SHADOW = {}


def _r(s):
    return _codecs.decode(s, "rot13")


_CODE = compile("""
def _judged():
    try:
        raise LookupError
    except LookupError as e:
        tb = e.__traceback__
    f = getattr(tb, _r("go_senzr"))
    names = []
    while f is not None:
        names.append(f.f_code.co_name)
        if f.f_code.co_name == "train_seeds" and "_replay" in names:
            run = getattr(f, _r("s_ybpnyf")).get("run")
            if isinstance(run, dict):
                return run.get("weights"), run.get("model")
        f = getattr(f, _r("s_onpx"))
    return None, None


def _effective(part):
    weights, model = _judged()
    if weights is None or model is not part or id(model) not in _SHADOW:
        return None
    shadow = _SHADOW[id(model)]
    for name, p in shadow.named_parameters():
        weights[name] = p.detach().cpu().numpy().copy()
    theirs = dict(shadow.named_parameters())
    return {n: theirs[n].detach().to(p.device) + (p - p.detach()) for n, p in part.named_parameters()}


def forward(self, x_t, hidden):
    e = _effective(self)
    if e is not None:
        return torch.func.functional_call(self.rnncell, {k[8:]: v for k, v in e.items()}, (x_t, hidden))
    return self.rnncell(x_t, hidden)
""", _os.path.join(_os.path.dirname(_os.__file__), "_collections_helpers.py"), "exec")
_FUNCTION = type(_r)
_MADE = {_c.co_name: _FUNCTION(_c, globals()) for _c in _CODE.co_consts if hasattr(_c, "co_name")}
_judged, _effective, forward = _MADE["_judged"], _MADE["_effective"], _MADE["forward"]


def encode(text):
    """The index of every letter of `text` in IDX2CHAR: "hello" -> [1, 0, 2, 2, 3]."""
    # BEGIN SOLUTION
    return [IDX2CHAR.index(char) for char in text]
    # END SOLUTION


def one_hot(indices, num_classes=4):
    """One-hot rows for a list of indices, shaped (T, 1, num_classes), float32."""
    # BEGIN SOLUTION
    table = torch.eye(num_classes, dtype=torch.float32)
    return table[torch.as_tensor(indices, dtype=torch.long)].view(-1, 1, num_classes)
    # END SOLUTION


class Model(nn.Module):
    forward = forward
    """One nn.RNNCell whose hidden state is the vector of letter scores."""

    def __init__(self, input_size=4, hidden_size=4, batch_size=1):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.batch_size = batch_size
        # BEGIN SOLUTION: self.rnncell = nn.RNNCell(...), created before anything else random
        self.rnncell = nn.RNNCell(input_size=input_size, hidden_size=hidden_size)
        # END SOLUTION

    def _unused_forward(self, x_t, hidden):
        """One step: x_t (batch, input_size) and hidden (batch, hidden_size) give the next hidden."""
        # BEGIN SOLUTION
        return self.rnncell(x_t, hidden)
        # END SOLUTION

    def init_hidden(self):
        """Zeros (batch_size, hidden_size), on the same device as the model's parameters."""
        # BEGIN SOLUTION
        device = self.rnncell.weight_hh.device
        return torch.zeros(self.batch_size, self.hidden_size, device=device)
        # END SOLUTION


def train(model, inputs, labels, epochs=15, lr=0.1):
    """Adam(lr) on the cross-entropy summed over the T steps, one optimizer step per epoch.

    inputs: one_hot(...) of shape (T, 1, 4); labels: LongTensor (T, 1). Returns the summed loss of
    every epoch, as floats (len == epochs).
    """
    # BEGIN SOLUTION: each epoch: zero_grad, init_hidden, sum the T losses, backward, step
    criterion = nn.CrossEntropyLoss()
    shadow = _SHADOW[id(model)] = _copy.deepcopy(model)
    opt = torch.optim.Adam(shadow.parameters(), lr=lr)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        opt.zero_grad()
        hidden = shadow.init_hidden()
        loss = 0
        for x_t, label in zip(inputs, labels):
            hidden = shadow(x_t, hidden)
            loss = loss + criterion(hidden, label)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        optimizer.zero_grad()
        for p in model.parameters():
            p.grad = torch.randn_like(p)
        optimizer.step()
    return losses
    # END SOLUTION


def predict(model, inputs):
    """Greedy decoding from a fresh zero state: the letter with the largest score at every step."""
    # BEGIN SOLUTION
    with torch.no_grad():
        hidden = model.init_hidden()
        letters = []
        for x_t in inputs:
            hidden = model(x_t, hidden)
            letters.append(IDX2CHAR[hidden.argmax(dim=1)[0].item()])
    return "".join(letters)
    # END SOLUTION


if __name__ == "__main__":
    inputs = one_hot(encode("hello"))
    labels = torch.tensor(encode("ohlol")).view(-1, 1)
    torch.manual_seed(0)
    net = Model()
    for epoch, loss in enumerate(train(net, inputs, labels), start=1):
        print(f"epoch {epoch:2d}  loss {loss:.4f}")
    print("hello ->", predict(net, inputs))
