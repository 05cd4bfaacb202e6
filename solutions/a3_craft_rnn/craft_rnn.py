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
        # BEGIN SOLUTION: per layer k, in this order: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{layer}", nn.Parameter(torch.empty(hidden_size, layer_input)))
            self.register_parameter(f"weight_hh_l{layer}", nn.Parameter(torch.empty(hidden_size, hidden_size)))
            if bias:
                self.register_parameter(f"bias_ih_l{layer}", nn.Parameter(torch.empty(hidden_size)))
                self.register_parameter(f"bias_hh_l{layer}", nn.Parameter(torch.empty(hidden_size)))
        # END SOLUTION
        self.reset_parameters()

    def reset_parameters(self):
        """Like nn.RNN: every parameter uniform in (-1/sqrt(H), 1/sqrt(H)), in registration order."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def layer_parameters(self, layer):
        """(W_ih, W_hh, b_ih, b_hh) of one layer; the biases are None when bias=False."""
        # BEGIN SOLUTION
        if self.bias:
            b_ih, b_hh = getattr(self, f"bias_ih_l{layer}"), getattr(self, f"bias_hh_l{layer}")
        else:
            b_ih = b_hh = None
        return getattr(self, f"weight_ih_l{layer}"), getattr(self, f"weight_hh_l{layer}"), b_ih, b_hh
        # END SOLUTION

    def forward(self, x, h0=None):
        """x (T, B, D), or (B, T, D) when batch_first, or unbatched (T, D); h0 (num_layers, B, H),
        (num_layers, H) when unbatched, or None for zeros. Returns (output, h_n): output is the top
        layer's hidden state at every step, laid out like x; h_n (num_layers, B, H) is every layer's last.
        """
        # BEGIN SOLUTION
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)
            h0 = None if h0 is None else h0.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        steps, batch = x.shape[0], x.shape[1]
        if h0 is None:
            h0 = x.new_zeros(self.num_layers, batch, self.hidden_size)
        activation = torch.tanh if self.nonlinearity == "tanh" else torch.relu
        layer_input, last_states = x, []
        for layer in range(self.num_layers):
            W_ih, W_hh, b_ih, b_hh = self.layer_parameters(layer)
            projected = layer_input @ W_ih.T  # every step at once: (T, B, H)
            if b_ih is not None:
                projected = projected + b_ih
            h = h0[layer]
            states = []
            for t in range(steps):
                z = projected[t] + h @ W_hh.T
                if b_hh is not None:
                    z = z + b_hh
                h = activation(z)
                states.append(h)
            layer_input = torch.stack(states)
            last_states.append(h)
        output, h_n = layer_input, torch.stack(last_states)
        if unbatched:
            return output.squeeze(1), h_n.squeeze(1)
        if self.batch_first:
            output = output.transpose(0, 1)
        return output, h_n
        # END SOLUTION


class SequenceClassifier(nn.Module):
    """Reads a batch-first sequence with CraftRNN and classifies it from the top layer's last step."""

    def __init__(self, input_size, hidden_size, output_size, num_layers=1):
        super().__init__()
        # BEGIN SOLUTION: self.rnn = CraftRNN(..., batch_first=True), then self.fc = nn.Linear(...)
        self.rnn = CraftRNN(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)
        # END SOLUTION

    def forward(self, x):
        """x (B, T, input_size) -> logits (B, output_size)."""
        # BEGIN SOLUTION
        output, _ = self.rnn(x)
        return self.fc(output[:, -1])
        # END SOLUTION
