"""``simcse data download`` against a local HTTP server with Range support."""

from __future__ import annotations

import http.server
import io
import socket
import tarfile
import threading

import pytest

from simcse import download as dl
from simcse.cli import main
from simcse.errors import DownloadError, SimCSEError

PAYLOAD = b"".join(b"sentence number %d\n" % i for i in range(5000))  # ~100 kB


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    cut_next_after: int | None = None  # send only this many bytes of the next response, then hang up
    ranges: list[str | None] = []

    def do_GET(self):  # noqa: N802
        body = self.files.get(self.path.rsplit("/", 1)[-1])
        if body is None:
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        type(self).ranges.append(rng)
        start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
        if start >= len(body):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.end_headers()
            return
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        cut = type(self).cut_next_after
        type(self).cut_next_after = None
        self.wfile.write(body[start:] if cut is None else body[start : start + cut])
        self.wfile.flush()
        if cut is not None:
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.files = {"wiki1m_for_simcse.txt": PAYLOAD}
    _Handler.ranges = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/base"
    httpd.shutdown()
    httpd.server_close()


def test_interrupted_download_resumes_with_range(server, tmp_path):
    _Handler.cut_next_after = 30000
    with pytest.raises(dl.DownloadError, match="run again to resume"):
        dl.download("wiki1m", tmp_path, mirror=server)
    part = tmp_path / "training" / "wiki1m_for_simcse.txt.part"
    assert part.stat().st_size == 30000 and not (tmp_path / "training" / "wiki1m_for_simcse.txt").exists()
    assert main(["data", "download", "wiki1m", "--data-dir", str(tmp_path), "--mirror", server]) == 0
    assert _Handler.ranges == [None, "bytes=30000-"]
    assert (tmp_path / "training" / "wiki1m_for_simcse.txt").read_bytes() == PAYLOAD and not part.exists()


def test_size_and_checksum_checked(server, tmp_path, monkeypatch):
    spec = dl.RemoteFile("wiki1m_for_simcse.txt", "training/wiki1m_for_simcse.txt", sha256="0" * 64)
    monkeypatch.setitem(dl.DATASETS, "wiki1m", (spec,))
    with pytest.raises(dl.DownloadError, match="SHA-256 mismatch"):
        dl.download("wiki1m", tmp_path, mirror=server)
    spec = dl.RemoteFile("wiki1m_for_simcse.txt", "training/wiki1m_for_simcse.txt", size=len(PAYLOAD) - 1)
    monkeypatch.setitem(dl.DATASETS, "wiki1m", (spec,))
    with pytest.raises(dl.DownloadError, match="expected .*; removed"):
        dl.download("wiki1m", tmp_path / "b", mirror=server)
    with pytest.raises(dl.DownloadError, match="HTTP 404"):
        dl.download("nli", tmp_path, mirror=server)


def test_from_folder_and_senteval_tar_extracted(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"g\tf\t2012\t0\t5.0\ta\tb\n"
        info = tarfile.TarInfo("STS/STSBenchmark/sts-dev.csv")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (src / "senteval.tar").write_bytes(buf.getvalue())
    (src / "nli_for_simcse.csv").write_text("sent0,sent1,hard_neg\na,b,c\n")
    root = tmp_path / "data"
    assert main(["data", "download", "senteval", "--data-dir", str(root), "--from-folder", str(src)]) == 0
    assert (root / "downstream" / "STS" / "STSBenchmark" / "sts-dev.csv").read_bytes() == data
    dl.download("nli", root, from_folder=src)
    assert (root / "training" / "nli_for_simcse.csv").is_file()
    assert dl.find_training_file("nli_for_simcse.csv", root) == root / "training" / "nli_for_simcse.csv"
    with pytest.raises(ValueError, match="valid: wiki1m, nli, senteval"):
        dl.download("wiki", root)


# Failures a user meets: one line naming the URL (or file) and the ways out, a non-zero exit, no traceback.
WAYS_OUT = ("--mirror URL", "--from-folder DIR", "SIMCSE_DATA_DIR / --data-dir")


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers (a stalled server)."""
    sock = socket.create_server(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/base"
    sock.close()


def _cli_failure(capsys, argv: list[str]) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc != 0 and "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"simcse {argv[0]}: error: ") and all(way in lines[0] for way in WAYS_OUT)
    return lines[0]


@pytest.mark.parametrize("case", ["refused", "http404", "timeout", "interrupted", "folder_missing_file"])
def test_failed_download_is_one_line_with_the_ways_out(case, server, silent_port, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(dl, "TIMEOUT", 0.5)
    name, source = "wiki1m", ["--mirror", server]
    if case == "refused":  # nothing listens on the discard port: like a DNS failure, a URLError
        source = ["--mirror", "http://127.0.0.1:9/"]
    elif case == "http404":
        name = "nli"
    elif case == "timeout":
        source = ["--mirror", silent_port]
    elif case == "interrupted":
        _Handler.cut_next_after = 1000
    else:
        source = ["--from-folder", str(tmp_path / "empty")]
    where = str(tmp_path / "empty" / "wiki1m_for_simcse.txt") if case == "folder_missing_file" else (
        f"{source[1].rstrip('/')}/{dl.DATASETS[name][0].name}")
    line = _cli_failure(capsys, ["data", "download", name, "--data-dir", str(tmp_path / "d"), *source])
    assert where in line and f"simcse data download {name}" in line
    reason = {"refused": "Connection refused", "http404": "HTTP 404", "timeout": "timed out",
              "interrupted": "run again to resume", "folder_missing_file": "no such file"}[case]
    assert reason in line


def test_library_errors_are_simcse_errors(tmp_path):
    with pytest.raises(SimCSEError) as info:
        dl.download("wiki1m", tmp_path, mirror="http://127.0.0.1:9/")
    assert isinstance(info.value, RuntimeError) and dl.DownloadError is DownloadError
    assert "http://127.0.0.1:9/wiki1m_for_simcse.txt" in str(info.value) and "--from-folder DIR" in str(info.value)
    assert "--from-folder" not in str(info.value.__cause__)  # the bare reason, for callers that fall back
    with pytest.raises(FileNotFoundError, match="no such file"):  # MissingFileError keeps the built-in base
        dl.download("nli", tmp_path, from_folder=tmp_path / "nowhere")
    (tmp_path / "senteval.tar").write_bytes(b"not a tar")
    with pytest.raises(DownloadError, match=r"not a readable tar archive .*senteval.tar unpacked"):
        dl.download("senteval", tmp_path / "d", from_folder=tmp_path)


def test_train_that_must_download_fails_in_one_line(tiny_bert, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(dl, "OFFICIAL_BASE", "http://127.0.0.1:9")  # the official server, unreachable
    line = _cli_failure(capsys, ["train", "--model", str(tiny_bert), "--train-file", "wiki1m_for_simcse.txt",
                                 "--data-dir", str(tmp_path / "d"), "--output-dir", str(tmp_path / "run"), "--no-progress"])
    assert "http://127.0.0.1:9/wiki1m_for_simcse.txt" in line and "training/wiki1m_for_simcse.txt" in line
