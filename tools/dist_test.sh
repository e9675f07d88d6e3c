#!/usr/bin/env bash
# Multi-process evaluation through torchrun.
#   bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py args]
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROCS=$3
shift 3
exec bash "$(dirname "$0")/dist_launch.sh" test.py "$NPROCS" "$CONFIG" "$CHECKPOINT" "$@"
