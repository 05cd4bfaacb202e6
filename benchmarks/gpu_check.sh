#!/usr/bin/env bash
# The checks only a machine with an NVIDIA GPU can make, as figures: the references graded on the GPU
# (scores, wall time, against the CPU on the same machine), then the a2-a5 class tests with every
# `grade submit` and `grade report` on the GPU (GRADER_TESTS_DEVICE=cuda, tests/conftest.py), then the
# sandbox's GPU rules. Run from the repository root with the grader installed (`grade` on PATH);
# LOGS=folder keeps each step's whole output there. Each step runs on even when one before it failed.
#
#   bash benchmarks/gpu_check.sh            # about 3 minutes on one H200 and 16 cores
#
# On a machine whose Python already holds a CUDA torch (an image with no package index), the grader
# needs its other packages as wheels (nbformat and what it requires: fastjsonschema, jsonschema,
# jsonschema-specifications, referencing, rpds-py, jupyter_core, traitlets, platformdirs; pytest-xdist),
# `pip install --no-index --no-deps WHEELS` and `pip install --no-deps --no-build-isolation -e .`, and a
# bwrap binary on PATH (Debian's bubblewrap package runs as is on Ubuntu 24.04). The first GPU lent to
# us (2026-12-04, H200, torch 2.11) showed what this script is for: every a2-a5 check failed there.
set -u
LOGS=${LOGS:-$(mktemp -d)}
WORKERS=${WORKERS:-8}
export GRADER_CACHE_DIR=${GRADER_CACHE_DIR:-$(mktemp -d)}
mkdir -p "$LOGS"

step() {  # step NAME SECONDS COMMAND...: the command's wall time and exit status, its output in LOGS/NAME.log
    local name=$1 limit=$2
    shift 2
    local start=$(date +%s%N)
    timeout "$limit" "$@" >"$LOGS/$name.log" 2>&1
    local status=$? tenths=$((($(date +%s%N) - start) / 100000000))
    printf '%-22s exit %-3s %5d.%d s\n' "$name" "$status" $((tenths / 10)) $((tenths % 10))
    tail -n "${TAIL:-12}" "$LOGS/$name.log" | sed 's/^/    /'
}

echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch, numpy, sys; print("python", sys.version.split()[0], "torch", torch.__version__, "numpy", numpy.__version__, "cuda", torch.cuda.is_available())'
python3 -c 'from grader.sandbox.isolation import bubblewrap_problem as p; print("bubblewrap:", p() or "works")'
# What the GPU runtime holds after a training step (threads, resident memory, open files), which the
# student's budgets must not pay (grader/inside/gpu.py: LATER_THREADS, LATER_OPEN_FILES).
python3 -c 'from grader.inside.gpu import runtime_use as use; before = use(); import torch
m = torch.nn.LSTM(8, 16, bidirectional=True, device="cuda"); o = torch.optim.Adam(m.parameters())
m(torch.ones(5, 3, 8, device="cuda"))[0].sum().backward(); o.step(); torch.cuda.synchronize()
print("the GPU runtime, before -> after a training step:", before, use())'
echo "== references (a fresh expected-data cache: the first run computes the reference answers on the CPU)"
step submit-cuda-cold 300 grade submit solutions/ --device cuda --out "$LOGS/feedback-cuda"
step submit-cuda-warm 300 grade submit solutions/ --device cuda --out "$LOGS/feedback-cuda"
step submit-cpu-warm 300 grade submit solutions/ --device cpu --out "$LOGS/feedback-cpu"
step stubs-cuda 300 grade submit student_template/ --device cuda --out "$LOGS/feedback-stubs"
echo "== class tests a2-a5 with grading on the GPU"
TAIL=25 GRADER_TESTS_DEVICE=cuda step tests-a2-a5-cuda 420 python3 -m pytest -q -n "$WORKERS" -p no:cacheprovider \
    --junitxml="$LOGS/tests-a2-a5-cuda.xml" tests/test_a2_ohlol.py tests/test_a3_craft_rnn.py \
    tests/test_a3_integrity.py tests/test_a4_seq2seq.py tests/test_a5_sentiment.py
echo "== the sandbox's GPU rules"
TAIL=15 step sandbox-cuda 240 python3 -m pytest -q -p no:cacheprovider -k "cuda or gpu or GPU" \
    tests/test_sandbox.py tests/test_isolation.py tests/test_submission.py tests/test_time_limits.py tests/test_report.py
