#!/usr/bin/env bash
# Multi-process training through torchrun.   bash tools/dist_train.sh CONFIG NUM_PROCS [train.py args]
set -euo pipefail
CONFIG=$1
NPROCS=$2
shift 2
exec bash "$(dirname "$0")/dist_launch.sh" train.py "$NPROCS" "$CONFIG" "$@"
