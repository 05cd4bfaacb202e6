"""Assignment 1: a simple recurrent network in numpy, forward and backpropagation through time.

    h_t = f(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)        y_t = h_t W_hy^T + b_y

Shapes follow torch.nn.RNN: W_ih is (H, D), W_hh is (H, H), b_ih and b_hh are (H,), inputs are
time-first, x is (T, B, D). Use numpy only: importing torch in this file is an error.
"""

import numpy as np

ACTIVATIONS = ("tanh", "relu", "identity")


def activate(z, activation="tanh"):
    """Apply the nonlinearity f elementwise."""
    raise NotImplementedError  # your code here


def activation_grad(h, activation="tanh"):
    """df/dz written with the output h = f(z), which is all the backward pass keeps."""
    raise NotImplementedError  # your code here


def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    """One time step: x_t (B, D) and h_prev (B, H) give h_t (B, H)."""
    raise NotImplementedError  # your code here


def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    """Run the network over a sequence.

    x is (T, B, D); h0 is (B, H), or None for zeros. Returns (hs, cache): hs (T, B, H) holds every
    hidden state h_1 ... h_T, and cache is whatever rnn_backward needs (your choice).
    """
    raise NotImplementedError  # your code here


def linear_output(hs, W_hy, b_y):
    """The readout y_t = h_t W_hy^T + b_y at every step: hs (T, B, H) gives ys (T, B, O)."""
    raise NotImplementedError  # your code here


def rnn_backward(dhs, cache):
    """Backpropagation through time.

    dhs (T, B, H) is the gradient of the loss with respect to each hidden state h_t coming from
    outside the recurrence (from the outputs). Returns a dict with the gradients of the loss with
    respect to "x", "h0", "W_ih", "W_hh", "b_ih" and "b_hh", each shaped like that input.
    """
    raise NotImplementedError  # your code here
