"""Assignment 3: a multi-layer RNN written from tensors, equal to torch.nn.RNN.

Layer k reads the hidden states of layer k-1 (layer 0 reads the input x):

    h_t^(k) = f(x_t^(k) W_ih_k^T + b_ih_k + h_{t-1}^(k) W_hh_k^T + b_hh_k)      x_t^(k) = h_t^(k-1)

f is tanh or relu. `output` holds the top layer's h_t at every step; `h_n` holds every layer's last
h_T. Parameters are named and shaped exactly like torch.nn.RNN's, so its state_dict loads into
CraftRNN. Not allowed in this file: nn.RNN, nn.RNNCell, nn.LSTM, nn.GRU, torch._VF, torch.rnn_tanh,
torch.rnn_relu (they are ready-made RNNs).
"""

import math

import torch
from torch import nn

NONLINEARITIES = ("tanh", "relu")


class CraftRNN(nn.Module):
    """A drop-in replacement for torch.nn.RNN (unidirectional, no dropout)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False):
        super().__init__()
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"unknown nonlinearity {nonlinearity!r}; use one of {NONLINEARITIES}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.nonlinearity = nonlinearity
        self.bias = bias
        self.batch_first = batch_first
        # Hint: per layer k, in this order: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}
        raise NotImplementedError  # your code here
        self.reset_parameters()

    def reset_parameters(self):
        """Like nn.RNN: every parameter uniform in (-1/sqrt(H), 1/sqrt(H)), in registration order."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def layer_parameters(self, layer):
        """(W_ih, W_hh, b_ih, b_hh) of one layer; the biases are None when bias=False."""
        raise NotImplementedError  # your code here

    def forward(self, x, h0=None):
        """x (T, B, D), or (B, T, D) when batch_first, or unbatched (T, D); h0 (num_layers, B, H),
        (num_layers, H) when unbatched, or None for zeros. Returns (output, h_n): output is the top
        layer's hidden state at every step, laid out like x; h_n (num_layers, B, H) is every layer's last.
        """
        raise NotImplementedError  # your code here


class SequenceClassifier(nn.Module):
    """Reads a batch-first sequence with CraftRNN and classifies it from the top layer's last step."""

    def __init__(self, input_size, hidden_size, output_size, num_layers=1):
        super().__init__()
        # Hint: self.rnn = CraftRNN(..., batch_first=True), then self.fc = nn.Linear(...)
        raise NotImplementedError  # your code here

    def forward(self, x):
        """x (B, T, input_size) -> logits (B, output_size)."""
        raise NotImplementedError  # your code here
