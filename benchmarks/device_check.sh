#!/usr/bin/env bash
# The device check as ONE command on a lent GPU machine (benchmarks/device_check.py says what it runs).
# Prepare here first, at no device time:   .venv/bin/python -m benchmarks.stage_device
# Then the device tool's run, with carry ["var/device"] and timeout_s 600:   bash benchmarks/device_check.sh
# Arguments go on to benchmarks.device_check (e.g. --budget 300). PYTHON picks the interpreter
# (default python3: the device's, with its own torch); STAGED the staged folder (default var/device).
set -u
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
STAGED="${STAGED:-var/device}"
export PYTHONUNBUFFERED=1 CUDA_DEVICE_ORDER=PCI_BUS_ID
# the pydantic stack backend.training.config needs, and Optuna for the search part, unless this Python has them
if ! "$PYTHON" -c "import pydantic, pydantic_settings, dotenv, optuna" 2>/dev/null; then
  if ! ls "$STAGED"/wheels/*.whl >/dev/null 2>&1; then
    echo "error: $PYTHON lacks pydantic or optuna and $STAGED/wheels holds no wheels: run python -m benchmarks.stage_device here first" >&2
    exit 2
  fi
  SITE="${SITE:-/tmp/site}"
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
    "$STAGED"/wheels/*.whl || exit 2
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
exec "$PYTHON" -m benchmarks.device_check --staged "$STAGED" "$@"
