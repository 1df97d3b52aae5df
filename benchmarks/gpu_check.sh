#!/usr/bin/env bash
# One short pass on a GPU machine (about 6-9 minutes on one H100/H200 with the reference timed too;
# no network needed):
#   bash benchmarks/gpu_check.sh            # from the repository root; results in $OUT if set
#   GPU_CHECK_BUDGET=540 RELCON_REFERENCE=../relcon-reference bash benchmarks/gpu_check.sh
# 1. the card (nvidia-smi) and the PyTorch build;
# 2. benchmarks/gpu_checks.py: the fast paths on CUDA against the simple ones (distances
#    batched vs pairwise, sparsemax, the ResNet1D step) and one step of each trainer;
# 3. benchmarks/bench.py --device cuda at the reference shapes (B=64, K=20), fp32 against bf16;
#    with RELCON_REFERENCE set to a checkout of github.com/maxxu05/relcon, the reference
#    implementation at the same shapes on the same card (benchmarks/bench_reference.py);
# 4. the loader (CPU side, pinned batches) and a tiny end-to-end run_exp.py --device cuda
#    (MotifDist, then RelCon on a packed tree);
# 5. batch 256 in fp32 and bf16 (and the reference at batch 256), then the simple distance loop
#    and the softmax step for comparison, and channels-last on (off is the CUDA default).
# Each step has its own time limit and a failed step does not stop the others. GPU_CHECK_BUDGET
# (seconds, default none) caps the whole pass: a step gets at most what is left, and steps that
# would get under 15 s are skipped and listed as skipped. Keep the output on the terminal (or
# `| tee`): each step prints as it goes, so a pass cut short still shows how far it came.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/out/gpu}"
mkdir -p "$OUT"
status=0
BUDGET="${GPU_CHECK_BUDGET:-0}"
REFERENCE="${RELCON_REFERENCE:-}"
step() {  # step NAME SECONDS COMMAND...: run, log to $OUT/NAME.log, remember failures
    local name=$1 limit=$2; shift 2
    if [ "$BUDGET" -gt 0 ]; then
        local left=$((BUDGET - SECONDS))
        if [ "$left" -lt 15 ]; then echo "=== $name: skipped (budget of ${BUDGET}s spent)"; status=1; return; fi
        [ "$left" -lt "$limit" ] && limit=$left
    fi
    echo "=== $name (limit ${limit}s): $*"
    local t0=$SECONDS
    # -k: a process that outlives SIGTERM (e.g. inside a CUDA call) is killed 10 s later, so a
    # step never holds the pass past its limit
    timeout -k 10 "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "=== $name: exit $rc after $((SECONDS - t0))s"
    [ "$rc" -eq 0 ] || status=1
}

step nvidia-smi 20 nvidia-smi
step torch-info 30 python -c "import torch; print(torch.__version__, 'CUDA', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), torch.cuda.get_device_name(0), torch.cuda.device_count(), 'device(s)')"
step python-deps 30 python -c "
import importlib
missing = [m for m in ('numpy', 'scipy', 'tqdm') if importlib.util.find_spec(m) is None]
print('missing:', missing or 'none')
raise SystemExit(1 if missing else 0)"
step gpu-checks 75 python benchmarks/gpu_checks.py --device cuda --json "$OUT/gpu_checks.json"

step bench-cuda-precision 120 python benchmarks/bench.py --device cuda --only relcon_step,distance,motifdist_step \
    --precision fp32,bf16 --repeats 5 --json "$OUT/bench-cuda-precision.json"
if [ -n "$REFERENCE" ]; then
    step reference-cuda 150 python benchmarks/bench_reference.py --reference-path "$REFERENCE" --device cuda \
        --step-attention sparsemax,softmax --repeats 3 --json "$OUT/bench-reference-cuda.json" \
        --compare "$OUT/bench-cuda-precision.json"
fi
step bench-loader 60 python benchmarks/bench.py --device cuda --only loader --json "$OUT/bench-loader.json"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
step tiny-runs 50 env RELCON_OUT="$TMP/out" RELCON_CONFIGS="$TMP/cfg" python - "$TMP" <<'PY'
import subprocess, sys
from pathlib import Path
import numpy as np
sys.path[:0] = [".", "tests"]
from tinyconfigs import write_tiny_configs
from relcon.data.process.pack_dataset import pack_dataset
tmp = Path(sys.argv[1])
rng = np.random.default_rng(0)
for s, split in enumerate(("train", "train", "val", "test")):
    for h in range(2):
        folder = tmp / "tree" / split / f"subject_{s}" / f"hour_{h}"
        folder.mkdir(parents=True)
        for i in range(6):
            np.save(folder / f"ts_{i}.npy", rng.standard_normal((256, 3)))
pack_dataset(tmp / "tree", tmp / "packed", progress=False)
(tmp / "cfg").mkdir()
write_tiny_configs(tmp / "cfg", tmp / "packed")
r = subprocess.run([sys.executable, "run_exp.py", "--config", "tiny_relcon", "--device", "cuda"])
log = (tmp / "out" / "tiny_relcon" / "log.txt").read_text()
print(log[-1500:])
sys.exit(r.returncode or ("device cuda" not in log))
PY

step bench-cuda-batch256 150 python benchmarks/bench.py --device cuda --only relcon_step,distance \
    --precision fp32,bf16 --batch-size 256 --repeats 3 --json "$OUT/bench-cuda-batch256.json"
if [ -n "$REFERENCE" ]; then
    step reference-cuda-batch256 180 python benchmarks/bench_reference.py --reference-path "$REFERENCE" --device cuda \
        --batch-size 256 --only relcon_step,distance --repeats 2 --json "$OUT/bench-reference-cuda-batch256.json" \
        --compare "$OUT/bench-cuda-batch256.json"
fi
step bench-cuda 120 python benchmarks/bench.py --device cuda --only relcon_step,distance \
    --step-attention sparsemax,softmax --simple --repeats 3 --json "$OUT/bench-cuda.json"
step bench-cuda-channels-last 45 python benchmarks/bench.py --device cuda --only relcon_step --channels-last on \
    --repeats 3 --json "$OUT/bench-cuda-channels-last.json"
echo "results in $OUT; overall exit $status"
exit $status
