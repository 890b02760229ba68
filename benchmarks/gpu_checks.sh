#!/usr/bin/env bash
# The GPU checks, as one script for a lent CUDA machine (never needed by CI or the tests):
#   1. the CUDA tests (tests/infer/test_trainer_gpu.py, tests/test_estimator_gpu.py);
#   2. the VaDE SVI step on the GPU, pyroclust vs plain PyTorch (benchmarks/speed.py);
#   3. k-DVAE's batched networks vs a Python loop over 50 networks on the GPU (kdvae.py speed);
#   4. the quick start's main job (`pyroclust fit vade`, the embedded digits) with --device cuda;
#   5. (only when asked for: `suite`) the whole test suite where "auto" means the GPU
#      (PYROCLUST_SUITE_ON_GPU=1; without it the suite hides CUDA outside the tests marked
#      cuda), in smoke mode, 8 processes, the tutorials left out (no Jupyter kernel there).
# `bash benchmarks/gpu_checks.sh [tests] [speed] [kdvae] [fit]` runs those steps (all by
# default). Logs go to $OUT (or ./gpu-checks). Packages the machine lacks travel as wheels in .whl/
# (see ../.library/device/README.md); MNIST for step 3 in .gpudata/mnist when carried.
set -uo pipefail
steps=" ${*:-tests speed kdvae fit} "
want() { [[ $steps == *" $1 "* ]]; }
OUT=${OUT:-gpu-checks}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
if [ -d .gpudata/mnist ] && [ ! -e ../shared/data ]; then
    mkdir -p ../shared && ln -s "$PWD/.gpudata" ../shared/data
fi
widths=64
[ -e ../shared/data/mnist ] && widths=64,784
{
    nvidia-smi -L
    python3 -c "import torch, pyro; print('torch', torch.__version__, 'pyro', pyro.__version__, torch.cuda.get_device_name())"
} 2>&1 | tee "$OUT/machine.log"
want tests && timeout 200 python3 -m pytest -q -p no:cacheprovider -rs tests/infer/test_trainer_gpu.py \
    tests/test_estimator_gpu.py 2>&1 | tee "$OUT/tests.log"
want speed && timeout 90 python3 benchmarks/speed.py --device cuda --batch-sizes 256 1024 --repeats 3 \
    --no-record 2>&1 | tee "$OUT/speed.log"
want kdvae && timeout 120 python3 benchmarks/kdvae.py speed --device cuda --widths "$widths" --threads 1 \
    --steps 10 --repeats 3 --no-record 2>&1 | tee "$OUT/kdvae_speed.log"
want fit && timeout 120 python3 -m pyroclust fit vade --device cuda --out "$OUT/run" 2>&1 |
    tee "$OUT/fit_vade.log"
rm -rf "$OUT/run"
[[ $steps == *" suite "* ]] && PYROCLUST_SMOKE=1 PYROCLUST_SUITE_ON_GPU=1 timeout 300 python3 -m pytest -q -n 8 \
    -p no:cacheprovider -p no:benchmark --tb=line -rf --ignore=tests/test_tutorials.py tests 2>&1 |
    tee "$OUT/suite.log"
true
