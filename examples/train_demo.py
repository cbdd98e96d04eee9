"""The main job: unsupervised SimCSE from the embedded all-MiniLM-L6-v2 on a small corpus.

Reports STS-B dev Spearman before and after. Data come from the data dir (SIMCSE_DATA_DIR);
what is missing there (the SentEval archive for STS-B dev, the wiki1m corpus) is downloaded
from the official sources first. Without internet, the demo data packaged with simcse
(the 3,200 wiki1m lines the demo trains on and STS-B dev; see simcse/demo_data/ATTRIBUTION.txt)
are written to runs/demo-data and used instead.
"""

import sys

from simcse import demo_data
from simcse.cli import main
from simcse.data_dir import data_dir
from simcse.download import DownloadError, download, find_training_file

root = data_dir()
try:
    if not (root / "downstream" / "STS" / "STSBenchmark" / "sts-dev.csv").is_file():
        print(f"STS-B dev not in {root}: downloading the SentEval data", flush=True)
        download("senteval", root, timeout=15)
    if find_training_file("wiki1m_for_simcse.txt", root, allow_prefix_copy=True) is None:
        print(f"wiki1m not in {root}: downloading it", flush=True)
        download("wiki1m", root, timeout=15)
except DownloadError as err:
    root = demo_data.write_data_dir("runs/demo-data")
    print(f"download failed ({err.__cause__ or err}): using the demo data packaged with simcse, in {root}", flush=True)
sys.exit(main(["train", "--preset", "demo-minilm", "--data-dir", str(root), *sys.argv[1:]]))
