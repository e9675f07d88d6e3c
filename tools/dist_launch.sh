#!/usr/bin/env bash
# torchrun (mmengine's `pytorch` launcher) around one kdseg tool; used by dist_train.sh and
# dist_test.sh.   bash tools/dist_launch.sh {train.py|test.py} NUM_PROCS [tool args...]
# NNODES, NODE_RANK, MASTER_ADDR and PORT configure multi-node runs. PYTHON picks the interpreter;
# by default the checkout's .venv (what `make install` creates, no activation needed), else python.
# Without CUDA the processes run on CPU with the gloo backend (kdseg.apis.cli.runner_setup.cpu_distributed).
set -euo pipefail
TOOL=$1
NPROCS=$2
shift 2
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
    PYTHON=python
    [ -x "$ROOT/.venv/bin/python" ] && PYTHON="$ROOT/.venv/bin/python"
fi
PYTHONPATH="$ROOT:${PYTHONPATH:-}" exec "$PYTHON" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROCS" "$ROOT/tools/$TOOL" "$@" --launcher pytorch
