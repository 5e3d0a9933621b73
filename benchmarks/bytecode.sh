# Sourced by the benchmark scripts (bash, from the repository's root): Python's bytecode, as a pip install leaves it.
# pip compiles every package's bytecode once; an image without it (one that sets PYTHONDONTWRITEBYTECODE=1 and ships
# torch with no __pycache__, as the GPU machine of 2026-12-02 did) compiles the sources of torch, JAX and Brax again
# in every process: about 10 s more start-up than a user's install (Ant, warm caches: 20-21 s against 10.7 s; the
# imports, and torch's first optimiser, which imports torch._dynamo). Such an image gets a bytecode cache here.
if [ -n "${PYTHONDONTWRITEBYTECODE:-}" ] || ! python3 -c "import os, sys, torch
sys.exit(not os.path.isdir(os.path.join(os.path.dirname(torch.__file__), '__pycache__')))"; then
    unset PYTHONDONTWRITEBYTECODE
    export PYTHONPYCACHEPREFIX=${PYTHONPYCACHEPREFIX:-/tmp/benchmarks-pycache}
    echo "compiling Python's bytecode into $PYTHONPYCACHEPREFIX (this Python has none cached)"
    python3 -m compileall -q -j 0 $(python3 -c "import sys; print(' '.join(p for p in sys.path[1:] if p))") > /dev/null || true
fi
