# A hostile round (2026-12-04): answers right to a part's own check and wrong when the same question is asked again
# by a rescue ("judged on its own"), to have a failing function rescued on the grader's stand-ins.
import torch
from torch import nn

IDX2CHAR = ["e", "h", "l", "o"]
DETACH = True
TRICK = True
_in_train = [0]
_trained = [False]


def encode(text):
    return [IDX2CHAR.index(c) for c in text]


def one_hot(indices, num_classes=4):
    out = torch.zeros(len(indices), 1, num_classes, dtype=torch.float32)
    for t, i in enumerate(indices):
        out[t, 0, i] = 1.0
    return out


class Model(nn.Module):
    def __init__(self, input_size=4, hidden_size=4, batch_size=1):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.batch_size = batch_size
        self.rnncell = nn.RNNCell(input_size, hidden_size)

    def forward(self, x_t, hidden):
        if DETACH:
            hidden = hidden.detach()
        return self.rnncell(x_t, hidden)

    def init_hidden(self):
        h = torch.zeros(self.batch_size, self.hidden_size, device=self.rnncell.weight_hh.device)
        if TRICK and not _in_train[0] and _trained[0] and self.hidden_size == 4 and self.batch_size == 1:
            h = h + 1.0
        return h


def train(model, inputs, labels, epochs=15, lr=0.1):
    _in_train[0] += 1
    _trained[0] = True
    try:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        criterion = nn.CrossEntropyLoss()
        losses = []
        for _ in range(epochs):
            optimizer.zero_grad()
            hidden = model.init_hidden()
            loss = 0
            for x_t, y_t in zip(inputs, labels):
                hidden = model(x_t, hidden)
                loss = loss + criterion(hidden, y_t)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.item()))
        return losses
    finally:
        _in_train[0] -= 1


def predict(model, inputs):
    _in_train[0] += 1
    try:
        with torch.no_grad():
            hidden = model.init_hidden()
            out = []
            for x_t in inputs:
                hidden = model(x_t, hidden)
                out.append(IDX2CHAR[int(hidden.argmax(dim=1)[0])])
        return "".join(out)
    finally:
        _in_train[0] -= 1
