#!/usr/bin/env bash
# The GPU measurements in four phases, each under 10 minutes on one H100/H200-class GPU. Run from the
# repository root on the GPU machine, with CIFAR packed beside the checkout if it has no copy:
#
#   first:   python3 benchmarks/pack_cifar_lt.py --out data/packed/cifar100    # 60.6 MiB
#            (and, for the CIFAR-10-LT rows, pack_cifar_lt.py --dataset cifar10_lt, benchmarks/README.md)
#   then:    bash benchmarks/gpu_session.sh smoke                               ~2 min
#            bash benchmarks/gpu_session.sh speed                               ~6 min
#            bash benchmarks/gpu_session.sh time                                ~3 min
#            bash benchmarks/gpu_session.sh reproduce    (repeat: it resumes)   9 min per run
#
# Every phase appends what it prints to $OUT/<phase>.log. `reproduce` runs benchmarks/reproduce.py's
# plan, paper-backbone rows first, PARALLEL rows at once (default 3) for TIME_LIMIT seconds (default
# 480: no row starts that would not fit, except a stage 1 that checkpoints; at the limit the running
# rows save a checkpoint), and packs the records and tables into one archive, $OUT/results.tgz: unpack
# it here with `tar xzf results.tgz -C benchmarks/results` and commit. ONLY=... narrows the rows
# (reproduce.py --only). FAST holds the fast-path options; if `smoke` fails with
# compile_mode=reduce-overhead, rerun with FAST_COMPILE_MODE=default (and say so where the figures are
# quoted).
set -euo pipefail
cd "$(dirname "$0")/.."
phase="${1:?usage: gpu_session.sh smoke|speed|time|reproduce}"
OUT="${OUT:-out}"
mkdir -p "$OUT"
ROOT="${ROOT:-data/packed/cifar100}"
ROOT10="${ROOT10:-data/packed/cifar10}"
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
  reproduce)  # the plan; stops itself before the 10-minute mark and resumes in the next call
    # records accumulate in runs/results (the checkout's own records seed it once, so recorded rows
    # are skipped); the run folders stay in runs/reproduce for the stage-2 rows of later calls
    mkdir -p runs/results && cp -rn benchmarks/results/. runs/results/
    SELECT=(--dataset cifar100_lt); ROOTS=(--root "cifar100_lt=$ROOT")  # CIFAR-10-LT rows only with its data
    if [ -d "$ROOT10" ]; then SELECT=(); ROOTS+=(--root "cifar10_lt=$ROOT10"); fi
    python3 benchmarks/reproduce.py "${ROOTS[@]}" ${SELECT[@]+"${SELECT[@]}"} ${ONLY:+--only $ONLY} --results runs/results \
      --parallel "${PARALLEL:-3}" --time-limit "${TIME_LIMIT:-480}" --start-partial --grace 45 \
      "${FAST[@]}" 2>&1 | grep -v "^W" | tee -a "$OUT/$phase.log" || true
    tar czf "$OUT/results.tgz" -C runs/results .
    python3 benchmarks/reproduce.py --list --results runs/results ${SELECT[@]+"${SELECT[@]}"} | tail -1 | tee -a "$OUT/$phase.log"
    ;;
  *) echo "unknown phase $phase: smoke|speed|time|reproduce" >&2; exit 2 ;;
esac
