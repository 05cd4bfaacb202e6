"""Assignment 2: train an nn.RNNCell to turn "hello" into "ohlol".

The hidden state of the cell is itself the prediction: with hidden_size 4 it holds one score (logit)
per letter of IDX2CHAR, and the predicted letter at each step is the one with the largest score.

    h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)          prediction_t = argmax(h_t)

Inputs are one-hot vectors, time first: a word of T letters becomes a tensor of shape (T, 1, 4)
(T steps, a batch of one, 4 letters).
"""

import torch
from torch import nn

IDX2CHAR = ["e", "h", "l", "o"]


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
    """One nn.RNNCell whose hidden state is the vector of letter scores."""

    def __init__(self, input_size=4, hidden_size=4, batch_size=1):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.batch_size = batch_size
        # BEGIN SOLUTION: self.rnncell = nn.RNNCell(...), created before anything else random
        self.rnncell = nn.RNNCell(input_size=input_size, hidden_size=hidden_size)
        # END SOLUTION

    def forward(self, x_t, hidden):
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
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        optimizer.zero_grad()
        hidden = model.init_hidden()
        loss = 0
        for x_t, label in zip(inputs, labels):
            hidden = model(x_t, hidden)
            loss = loss + criterion(hidden, label)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
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
