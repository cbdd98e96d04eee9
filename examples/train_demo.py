"""The main job: unsupervised SimCSE from the embedded all-MiniLM-L6-v2 on a small corpus.

Reports STS-B dev Spearman before and after. Data come from the data dir (SIMCSE_DATA_DIR);
what is missing there (the SentEval archive for STS-B dev, the wiki1m corpus) is downloaded
from the official sources first, which needs internet.
"""

import sys

from simcse.cli import main
from simcse.data_dir import data_dir
from simcse.download import download, find_training_file

root = data_dir()
if not (root / "downstream" / "STS" / "STSBenchmark" / "sts-dev.csv").is_file():
    print(f"STS-B dev not in {root}: downloading the SentEval data", flush=True)
    download("senteval", root)
if find_training_file("wiki1m_for_simcse.txt", root, allow_prefix_copy=True) is None:
    print(f"wiki1m not in {root}: downloading it", flush=True)
    download("wiki1m", root)
sys.exit(main(["train", "--preset", "demo-minilm", *sys.argv[1:]]))
