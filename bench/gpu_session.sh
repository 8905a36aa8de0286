#!/usr/bin/env bash
# Issue 22's GPU figures in ONE device call (about 8 minutes on one H200): training throughput at batch 32 and 256,
# compiled and not; the profiler's kernel breakdown; `bertstudio predict` at batch 256; startup to the first step;
# the accuracy of the GPU's automatic batch (3 seeds). Details: bench/gpu_session.py.
#
# Before the device call, here (once per session): bash bench/gpu_carry.sh
#   (wheels of what the device machine lacks, the bundled tokenizer, MiniLM in fp16 and 30,000 SST-2 rows, into
#   .gpu_carry/, which git ignores).
# The device call (the run tool), from the repository root:
#   command: bash bench/gpu_session.sh      carry: [".gpu_carry"]      timeout_s: 600
# Its files come back from $OUT: session.json, report.md (the text for bench/RESULTS.md), kernels.txt, log.txt.
# Check it without a GPU: OUT=/tmp/gs bash bench/gpu_session.sh --tiny --device cpu
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/_out/gpu_session}
mkdir -p "$OUT"
CARRY=.gpu_carry
if ls "$CARRY"/wheels/*.whl >/dev/null 2>&1 && ! python3 -c "import datasets, pydantic" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        "$CARRY"/wheels/*.whl || { echo "Installing the carried wheels failed." | tee "$OUT/log.txt"; exit 1; }
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=true
extra=()
[ -f "$CARRY/tokenizer/vocab.txt" ] && extra+=(--tokenizer "$CARRY/tokenizer")
[ -f "$CARRY/sst2.csv" ] && extra+=(--accuracy-data "$CARRY/sst2.csv")
[ -f "$CARRY/minilm/config.json" ] && extra+=(--accuracy-model "$CARRY/minilm")
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv \
    | tee "$OUT/log.txt"
# 540 s: the tool's 600 s limit less the start; the script's own budget (450 s) leaves the last part time to end.
timeout 540 python3 bench/gpu_session.py --out "$OUT" "${extra[@]}" "$@" 2>&1 | tee -a "$OUT/log.txt"
echo "exit ${PIPESTATUS[0]}" | tee -a "$OUT/log.txt"
