#!/bin/bash
# Second call: supervised 512 with length groups, and encode with and without per-batch copies.
set -u
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee $OUT/nvidia-smi.txt
W=".gpu/whl/datasets-*.whl .gpu/whl/dill-*.whl .gpu/whl/multiprocess-*.whl"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $W || exit 1
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
python3 -c "import sys; sys.path.insert(0, 'bench'); from pathlib import Path; from _models import random_bert; print(random_bert('random-bert-base', Path('/tmp/gf-models'), '.gpu/tok'))" > $OUT/model.txt 2>&1
M=$(tail -1 $OUT/model.txt); ls $M >/dev/null || exit 3
C="--data-dir .gpu/data --model $M --device cuda --precision bf16 --trials 1 --json $OUT/r2.jsonl --steps 30 --warm 10 --objective sup --batch-size 512"
timeout 80 python3 bench/train_speed.py $C --label sup-512 > $OUT/sup.txt 2>&1; echo sup rc $?; tail -4 $OUT/sup.txt
timeout 40 python3 bench/train_speed.py $C --which ours --ours length_groups=4 --label sup-512-lg4 > $OUT/sup-lg4.txt 2>&1; echo lg4 rc $?; tail -3 $OUT/sup-lg4.txt
timeout 90 python3 .gpu/enc_prof2.py $M cuda 20000 > $OUT/enc.txt 2>&1; echo enc rc $?; head -8 $OUT/enc.txt
