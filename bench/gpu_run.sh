#!/bin/bash
# On a lent GPU machine (bench/gpu_carry.sh prepares .gpu/ here first): install the peer's
# missing packages from the carried wheels, then bench/gpu_figures.py; results under $OUT/g.
#   device run: command "BUDGET=520 bash .gpu/run.sh", carry [".gpu"], timeout_s 590
set -u
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee $OUT/nvidia-smi.txt
python3 -c "import pyarrow, fsspec; print('system pyarrow', pyarrow.__version__, 'fsspec', fsspec.__version__)"
W=".gpu/whl/datasets-*.whl .gpu/whl/dill-*.whl .gpu/whl/multiprocess-*.whl"
python3 -c "import sys, pyarrow; sys.exit(int(pyarrow.__version__.split('.')[0]) < 24)" || W="$W .gpu/whl/pyarrow-*.whl"
python3 -c "import sys, fsspec; from packaging.version import Version as V; sys.exit(not V('2023.1.0') <= V(fsspec.__version__) <= V('2026.9.0'))" || W="$W .gpu/whl/fsspec-*.whl"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $W || exit 1
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
python3 -c "import datasets, sentence_transformers, transformers, torch; print('datasets', datasets.__version__, 'st', sentence_transformers.__version__, 'tf', transformers.__version__, 'torch', torch.__version__)"
python3 bench/gpu_figures.py --data-dir .gpu/data --tokenizer .gpu/tok --work /tmp/gf-models --out $OUT/g --budget ${BUDGET:-520} "$@" 2>&1 | tee $OUT/stdout.txt
