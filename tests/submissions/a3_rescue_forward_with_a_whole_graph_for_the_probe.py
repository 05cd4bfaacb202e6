# A hostile round (2026-12-04): a forward that cuts its graph between steps, except where it recognises the
# own-derivative probe, where it answers a slip with a whole graph, to have its gradients credited "judged on
# their own".
import torch
from torch import nn

CUT = True    # truncated backpropagation: the state is detached between steps
TRICK = True  # the gradient-rule's own-derivative question gets a full graph with a small offset


class CraftRNN(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.nonlinearity, self.bias, self.batch_first = nonlinearity, bias, batch_first
        k = hidden_size ** -0.5
        for layer in range(num_layers):
            d = input_size if layer == 0 else hidden_size
            setattr(self, f"weight_ih_l{layer}", nn.Parameter(torch.empty(hidden_size, d).uniform_(-k, k)))
            setattr(self, f"weight_hh_l{layer}", nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-k, k)))
            if bias:
                setattr(self, f"bias_ih_l{layer}", nn.Parameter(torch.empty(hidden_size).uniform_(-k, k)))
                setattr(self, f"bias_hh_l{layer}", nn.Parameter(torch.empty(hidden_size).uniform_(-k, k)))
        self._mode = None

    def forward(self, x, h0=None):
        mode = "plain"
        if TRICK:
            if self._mode is None:
                self._mode = "first_grad" if (torch.is_grad_enabled() and x.requires_grad) else (
                    "first_nograd" if not torch.is_grad_enabled() else "train")
            elif self._mode == "first_nograd" and torch.is_grad_enabled() and x.requires_grad:
                self._mode = "own"
            mode = "own" if self._mode == "own" else "plain"
        cut = CUT and mode != "own"
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)
            if h0 is not None:
                h0 = h0.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        T, B, _ = x.shape
        if h0 is None:
            h0 = x.new_zeros(self.num_layers, B, self.hidden_size)
        act = torch.tanh if self.nonlinearity == "tanh" else torch.relu
        layer_input = x
        finals = []
        for layer in range(self.num_layers):
            w_ih = getattr(self, f"weight_ih_l{layer}")
            w_hh = getattr(self, f"weight_hh_l{layer}")
            h = h0[layer]
            outs = []
            for t in range(T):
                hp = h.detach() if (cut and t > 0) else h
                z = layer_input[t] @ w_ih.T + hp @ w_hh.T
                if self.bias:
                    z = z + getattr(self, f"bias_ih_l{layer}") + getattr(self, f"bias_hh_l{layer}")
                h = act(z)
                outs.append(h)
            layer_input = torch.stack(outs)
            finals.append(h)
        output, h_n = layer_input, torch.stack(finals)
        if mode == "own":
            output, h_n = output + 0.01, h_n + 0.01
        if unbatched:
            return output.squeeze(1), h_n.squeeze(1)
        if self.batch_first:
            output = output.transpose(0, 1)
        return output, h_n


class SequenceClassifier(nn.Module):
    def __init__(self, input_size, hidden_size, output_size, num_layers=1):
        super().__init__()
        self.rnn = CraftRNN(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        output, _ = self.rnn(x)
        return self.fc(output[:, -1])
