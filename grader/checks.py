"""What check authors import: markers and judges.

from grader.checks import points, hidden, timeout, assert_close, CheckFailure, PartialCredit

@points(10)
def test_forward(judge):
    \"\"\"rnn_forward equals torch.nn.RNN on random weights\"\"\"
    judge.compare("forward", T=5, B=3, D=4, H=6, activation="tanh", seed=1)
"""

import pytest

from grader.judging.compare import CheckFailure, PartialCredit, assert_close, is_close

points = pytest.mark.points
hidden = pytest.mark.hidden
timeout = pytest.mark.timeout

__all__ = ["CheckFailure", "PartialCredit", "assert_close", "hidden", "is_close", "points", "timeout"]
