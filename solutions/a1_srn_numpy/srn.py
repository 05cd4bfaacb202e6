"""Assignment 1: a simple recurrent network in numpy, forward and backpropagation through time.

    h_t = f(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)        y_t = h_t W_hy^T + b_y

Shapes follow torch.nn.RNN: W_ih is (H, D), W_hh is (H, H), b_ih and b_hh are (H,), inputs are
time-first, x is (T, B, D). Use numpy only: importing torch in this file is an error.
"""

import numpy as np

ACTIVATIONS = ("tanh", "relu", "identity")


def activate(z, activation="tanh"):
    """Apply the nonlinearity f elementwise."""
    # BEGIN SOLUTION
    if activation == "tanh":
        return np.tanh(z)
    if activation == "relu":
        return np.maximum(z, 0.0)
    if activation == "identity":
        return z
    raise ValueError(f"unknown activation {activation!r}; use one of {ACTIVATIONS}")
    # END SOLUTION


def activation_grad(h, activation="tanh"):
    """df/dz written with the output h = f(z), which is all the backward pass keeps."""
    # BEGIN SOLUTION
    if activation == "tanh":
        return 1.0 - h * h
    if activation == "relu":
        return (h > 0).astype(h.dtype)
    return np.ones_like(h)
    # END SOLUTION


def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    """One time step: x_t (B, D) and h_prev (B, H) give h_t (B, H)."""
    # BEGIN SOLUTION
    z = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    return activate(z, activation)
    # END SOLUTION


def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    """Run the network over a sequence.

    x is (T, B, D); h0 is (B, H), or None for zeros. Returns (hs, cache): hs (T, B, H) holds every
    hidden state h_1 ... h_T, and cache is whatever rnn_backward needs (your choice).
    """
    # BEGIN SOLUTION
    T, B, _ = x.shape
    H = W_hh.shape[0]
    h = np.zeros((B, H), dtype=x.dtype) if h0 is None else h0
    h_init = h
    hs = np.empty((T, B, H), dtype=np.result_type(x, W_ih))
    for t in range(T):
        h = rnn_step(x[t], h, W_ih, W_hh, b_ih, b_hh, activation)
        hs[t] = h
    cache = {"x": x, "h0": h_init, "hs": hs, "W_ih": W_ih, "W_hh": W_hh, "activation": activation}
    return hs, cache
    # END SOLUTION


def linear_output(hs, W_hy, b_y):
    """The readout y_t = h_t W_hy^T + b_y at every step: hs (T, B, H) gives ys (T, B, O)."""
    # BEGIN SOLUTION
    return hs @ W_hy.T + b_y
    # END SOLUTION


def rnn_backward(dhs, cache):
    """Backpropagation through time.

    dhs (T, B, H) is the gradient of the loss with respect to each hidden state h_t coming from
    outside the recurrence (from the outputs). Returns a dict with the gradients of the loss with
    respect to "x", "h0", "W_ih", "W_hh", "b_ih" and "b_hh", each shaped like that input.
    """
    # BEGIN SOLUTION
    x, h0, hs = cache["x"], cache["h0"], cache["hs"]
    W_ih, W_hh, activation = cache["W_ih"], cache["W_hh"], cache["activation"]
    T = x.shape[0]
    grads = {
        "x": np.zeros_like(x),
        "W_ih": np.zeros_like(W_ih),
        "W_hh": np.zeros_like(W_hh),
        "b_ih": np.zeros(W_ih.shape[0], dtype=hs.dtype),
        "b_hh": np.zeros(W_hh.shape[0], dtype=hs.dtype),
    }
    dh_next = np.zeros_like(h0, dtype=hs.dtype)
    for t in reversed(range(T)):
        h_prev = hs[t - 1] if t > 0 else h0
        dh = dhs[t] + dh_next
        dz = dh * activation_grad(hs[t], activation)
        grads["W_ih"] += dz.T @ x[t]
        grads["W_hh"] += dz.T @ h_prev
        grads["b_ih"] += dz.sum(axis=0)
        grads["b_hh"] += dz.sum(axis=0)
        grads["x"][t] = dz @ W_ih
        dh_next = dz @ W_hh
    grads["h0"] = dh_next
    return grads
    # END SOLUTION
