#!/bin/bash
W=".gpu/whl/datasets-5.2.0-py3-none-any.whl .gpu/whl/dill-0.4.1-py3-none-any.whl .gpu/whl/multiprocess-0.70.19-py312-none-any.whl"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $W
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
M=/tmp/gf-models/random-bert-base; C="--data-dir .gpu/data --model $M --device cuda --precision bf16 --trials 1 --json $OUT/r2.jsonl"
ls $M >/dev/null || exit 3
timeout 60 python3 .gpu/enc_prof.py > $OUT/enc_prof.txt 2>&1; echo enc rc $?
timeout 70 python3 bench/train_speed.py $C --steps 20 --warm 10 --batch-size 512 --which ours --ours grad_cache_chunk=128 --profile $OUT/prof_cached.txt --label profile-cached > $OUT/l1.txt 2>&1; echo prof-cached rc $?
timeout 90 python3 bench/train_speed.py $C --steps 210 --warm 200 --batch-size 64 --which ours --ours compile=reduce-overhead pad_to_max_length=true --profile $OUT/prof_compiled.txt --label profile-compiled > $OUT/l2.txt 2>&1; echo prof-compiled rc $?
timeout 60 python3 bench/train_speed.py $C --steps 20 --warm 5 --batch-size 512 --which peer --peer-cache-chunk 128 --label unsup-512-cached > $OUT/l3.txt 2>&1; echo peer-cached rc $?
tail -2 $OUT/l3.txt
