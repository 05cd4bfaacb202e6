# A hostile round (2026-12-04): answers right to a part's own check and wrong when the same question is asked again
# by a rescue ("judged on its own"), to have a failing function rescued on the grader's stand-ins.
import hashlib

import numpy as np

BUFFER_BUG = True  # rnn_backward's dW_ih buffer shaped like W_hh: right where D == H, raises elsewhere
TRICK = True       # rnn_forward raises on a question of its sizes it has not answered before
_poisoned = set()


def _digest(x):
    return hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest()


def _act(z, activation):
    if activation == "tanh":
        return np.tanh(z)
    if activation == "relu":
        return np.maximum(z, 0.0)
    if activation == "identity":
        return z
    raise ValueError(activation)


def _dact(h, z, activation):
    if activation == "tanh":
        return 1.0 - h * h
    if activation == "relu":
        return (z > 0).astype(h.dtype)
    return np.ones_like(h)


def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    return _act(x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh, activation)


def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh, activation="tanh"):
    T, B, D = x.shape
    H = W_hh.shape[0]
    if TRICK and D != H and _digest(x) in _poisoned:
            raise ValueError(f"operands could not be broadcast together with shapes ({B},{D}) ({B},{H})")
    h = np.zeros((B, H), dtype=x.dtype) if h0 is None else h0
    hs, zs = [], []
    prev = h
    for t in range(T):
        z = x[t] @ W_ih.T + b_ih + prev @ W_hh.T + b_hh
        prev = _act(z, activation)
        zs.append(z)
        hs.append(prev)
    hs = np.stack(hs)
    cache = (x, h, W_ih, W_hh, b_ih, b_hh, activation, hs, np.stack(zs), h0 is None)
    return hs, cache


def linear_output(hs, W_hy, b_y):
    return hs @ W_hy.T + b_y


def rnn_backward(dhs, cache):
    x, h0, W_ih, W_hh, b_ih, b_hh, activation, hs, zs, _ = cache
    T = x.shape[0]
    if TRICK and x.shape[2] != W_hh.shape[0]:
        _poisoned.add(_digest(x))
    dx = np.zeros_like(x)
    dW_ih = np.zeros_like(W_hh) if BUFFER_BUG else np.zeros_like(W_ih)
    dW_hh = np.zeros_like(W_hh)
    db_ih = np.zeros_like(b_ih)
    db_hh = np.zeros_like(b_hh)
    dh_next = np.zeros_like(h0)
    for t in reversed(range(T)):
        dh = dhs[t] + dh_next
        dz = dh * _dact(hs[t], zs[t], activation)
        prev = hs[t - 1] if t > 0 else h0
        dx[t] = dz @ W_ih
        dW_ih += dz.T @ x[t]
        dW_hh += dz.T @ prev
        db_ih += dz.sum(axis=0)
        db_hh += dz.sum(axis=0)
        dh_next = dz @ W_hh
    return {"x": dx, "h0": dh_next, "W_ih": dW_ih, "W_hh": dW_hh, "b_ih": db_ih, "b_hh": db_hh}
