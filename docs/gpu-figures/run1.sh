#!/bin/bash
# device run: install the peer's missing packages, then bench/gpu_figures.py (results under $OUT/g)
set -u
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee $OUT/nvidia-smi.txt
python3 -c "import pyarrow, fsspec; print('system pyarrow', pyarrow.__version__, 'fsspec', fsspec.__version__)"
W=".gpu/whl/datasets-5.2.0-py3-none-any.whl .gpu/whl/dill-0.4.1-py3-none-any.whl .gpu/whl/multiprocess-0.70.19-py312-none-any.whl"
python3 -c "import sys, pyarrow; sys.exit(int(pyarrow.__version__.split('.')[0]) < 24)" || W="$W .gpu/whl/pyarrow-26.0.1-cp312-cp312-manylinux_2_28_x86_64.whl"
python3 -c "import sys, fsspec; from packaging.version import Version as V; sys.exit(not V('2023.1.0') <= V(fsspec.__version__) <= V('2026.9.0'))" || W="$W .gpu/whl/fsspec-2026.9.0-py3-none-any.whl"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $W || exit 1
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
python3 -c "import datasets, sentence_transformers, transformers, torch; print('datasets', datasets.__version__, 'st', sentence_transformers.__version__, 'tf', transformers.__version__, 'torch', torch.__version__)"
python3 bench/gpu_figures.py --data-dir .gpu/data --tokenizer .gpu/tok --work /tmp/gf-models --out $OUT/g --budget ${BUDGET:-420} "$@" 2>&1 | tee $OUT/stdout.txt
