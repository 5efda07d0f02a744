#!/usr/bin/env bash
# The GPU measurements in four phases, each under 10 minutes on one H100/H200-class GPU. Run from the
# repository root on the GPU machine, with CIFAR-100 packed beside the checkout if it has no copy:
#
#   first:   python3 benchmarks/pack_cifar_lt.py --out .carry/cifar100        # 60.6 MiB
#   then:    bash benchmarks/gpu_session.sh smoke                               ~2 min
#            bash benchmarks/gpu_session.sh speed                               ~6 min
#            bash benchmarks/gpu_session.sh time                                ~3 min
#            bash benchmarks/gpu_session.sh reproduce    (repeat: it resumes)   9 min per run
#
# Every phase appends what it prints to $OUT/<phase>.log; `reproduce` also returns the run records
# and table as $OUT/results.tgz (unpack into benchmarks/results/cifar100_lt/ here and commit).
# FAST holds the fast-path options; if `smoke` fails with compile_mode=reduce-overhead, rerun
# with FAST_COMPILE_MODE=default (and say so where the figures are quoted).
set -euo pipefail
cd "$(dirname "$0")/.."
phase="${1:?usage: gpu_session.sh smoke|speed|time|reproduce}"
OUT="${OUT:-out}"
mkdir -p "$OUT"
ROOT="${ROOT:-.carry/cifar100}"
MODE="${FAST_COMPILE_MODE:-reduce-overhead}"
FAST=(--set data.loader=device --set mixed_precision=bf16 --set engine.channels_last=true
      --set engine.fused_optimizer=true --set engine.compile=true --set "engine.compile_mode=$MODE")
# No network is needed: the machine's own torch / timm / accelerate (python3) and ltzoo from this checkout.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 -c "import torch, torchvision, timm, accelerate, ltzoo; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'timm', timm.__version__, 'accelerate', accelerate.__version__)" | tee -a "$OUT/$phase.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$OUT/$phase.log" || true

case "$phase" in
  smoke)  # 2 epochs of the IWB recipe with every fast option: does the whole path run here?
    python3 benchmarks/time_to_result.py --config recipes/cifar100_lt/iwb.yaml --set "data.root=$ROOT" \
      --set output_dir=runs/smoke --set stage1.epochs=2 --set stage2.epochs=1 "${FAST[@]}" 2>&1 | tail -30 | tee -a "$OUT/$phase.log"
    ;;
  speed)  # benchmarks 1 and 3, and the JPEG decoder
    python3 benchmarks/throughput.py --root "$ROOT" --batch-sizes 64 512 --steps 300 --workers 8 2>&1 | tee -a "$OUT/$phase.log"
    python3 benchmarks/throughput.py --root "$ROOT" --batch-sizes 64 512 --steps 300 --workers 8 --compile \
      --compile-mode "$MODE" 2>&1 | grep -v "^W" | tee -a "$OUT/$phase.log"
    python3 benchmarks/stage2_cache.py --dataset cifar100_lt --root "$ROOT" --epochs 10 2>&1 | tee -a "$OUT/$phase.log"
    python3 benchmarks/jpeg_decode.py --device cuda --num-images 2000 --workers 8 2>&1 | tee -a "$OUT/$phase.log"
    ;;
  time)  # benchmark 2: the whole CIFAR-100-LT IF 100 IWB recipe, 200 + 10 epochs
    python3 benchmarks/time_to_result.py --config recipes/cifar100_lt/iwb.yaml --set "data.root=$ROOT" \
      --set output_dir=runs/time_to_result "${FAST[@]}" 2>&1 | grep -v "^W" | tail -40 | tee -a "$OUT/$phase.log"
    ;;
  reproduce)  # the table; stops cleanly near the call's 10-minute limit and resumes next call
    # the records go to runs/results (kept while the machine is warm) and come back as one archive:
    # the device tool returns at most 8 files from $OUT
    timeout --signal=TERM 540 python3 benchmarks/reproduce_cifar100_lt.py --root "$ROOT" --results runs/results \
      "${FAST[@]}" 2>&1 | grep -v "^W" | grep -E "^\[IF|copied|^\||Machine|resumed|Error" | tee -a "$OUT/$phase.log" || true
    python3 benchmarks/reproduce_cifar100_lt.py --results runs/results --table-only | tee -a "$OUT/$phase.log"
    tar czf "$OUT/results.tgz" -C runs results
    ;;
  *) echo "unknown phase $phase: smoke|speed|time|reproduce" >&2; exit 2 ;;
esac
