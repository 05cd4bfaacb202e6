"""rnn-autograder: grades a recurrent-neural-network course's assignments.

Kept import-light on purpose: the sandboxed worker imports ``grader.inside`` through this package.
"""

__version__ = "0.1.0"
