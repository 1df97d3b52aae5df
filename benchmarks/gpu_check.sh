#!/usr/bin/env bash
# One short pass on a GPU machine (about 3-6 minutes on one H100/H200; no network needed):
#   bash benchmarks/gpu_check.sh            # from the repository root; results in $OUT if set
# 1. the card (nvidia-smi) and the PyTorch build;
# 2. benchmarks/gpu_checks.py: the fast paths on CUDA against the simple ones (distances
#    batched vs pairwise, sparsemax, the ResNet1D step) and one step of each trainer;
# 3. tiny end-to-end runs of run_exp.py with --device cuda (MotifDist, then RelCon on a packed tree);
# 4. benchmarks/bench.py --device cuda at the reference shapes (both attention paths, the simple
#    distance loop for comparison, channels-last off (default on CUDA) and on).
# Each step has its own time limit, and a failed step does not stop the others.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/out/gpu}"
mkdir -p "$OUT"
status=0
step() {  # step NAME SECONDS COMMAND...: run, log to $OUT/NAME.log, remember failures
    local name=$1 limit=$2; shift 2
    echo "=== $name (limit ${limit}s): $*"
    local t0=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "=== $name: exit $rc after $((SECONDS - t0))s"
    [ "$rc" -eq 0 ] || status=1
}

step nvidia-smi 30 nvidia-smi
step torch-info 60 python -c "import torch; print(torch.__version__, 'CUDA', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), torch.cuda.get_device_name(0), torch.cuda.device_count(), 'device(s)')"
step gpu-checks 240 python benchmarks/gpu_checks.py --device cuda --json "$OUT/gpu_checks.json"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
step tiny-runs 180 env RELCON_OUT="$TMP/out" RELCON_CONFIGS="$TMP/cfg" python - "$TMP" <<'PY'
import subprocess, sys
from pathlib import Path
sys.path[:0] = [".", "tests"]
from conftest import write_tree
from tinyconfigs import write_tiny_configs
from relcon.data.process.pack_dataset import pack_dataset
tmp = Path(sys.argv[1])
tree = write_tree(tmp / "tree", subjects=(2, 1, 1), hours=2, segments=6)
pack_dataset(tree, tmp / "packed", progress=False)
(tmp / "cfg").mkdir()
write_tiny_configs(tmp / "cfg", tmp / "packed")
r = subprocess.run([sys.executable, "run_exp.py", "--config", "tiny_relcon", "--device", "cuda"])
log = (tmp / "out" / "tiny_relcon" / "log.txt").read_text()
print(log[-1500:])
sys.exit(r.returncode or ("device cuda" not in log))
PY

step bench-cuda 420 python benchmarks/bench.py --device cuda --step-attention sparsemax,softmax --simple \
    --repeats 5 --json "$OUT/bench-cuda.json"
step bench-cuda-channels-last 120 python benchmarks/bench.py --device cuda --only relcon_step --channels-last on \
    --repeats 5 --json "$OUT/bench-cuda-channels-last.json"
echo "results in $OUT; overall exit $status"
exit $status
