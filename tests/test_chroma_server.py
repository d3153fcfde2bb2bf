"""The store against a real `chroma run` server (KB_CHROMA_URL mode)."""
import shutil
import socket
import subprocess
import time
from dataclasses import replace
from pathlib import Path
import sys

import pytest

from kb.store import StoreError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory):
    exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    if not Path(exe).exists():
        pytest.fail("the 'chroma' server command is missing: chromadb is not installed correctly")
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen([exe, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    import chromadb
    deadline = time.time() + 60
    while True:
        try:
            chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
            break
        except Exception:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("chroma server did not start")
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(10)


def test_ingest_search_remove_through_chroma_server(settings, docs, chroma_url):
    from kb.service import KnowledgeBase
    kb = KnowledgeBase(replace(settings, chroma_url=chroma_url))
    s = kb.ingest([docs], progress=False)
    assert s.ingested == 4 and not s.errors
    assert kb.store.stats()["chroma"] == chroma_url
    assert not (Path(settings.data_dir) / "chroma").exists()     # vectors live on the server
    hits = kb.search("ระบบ e-Filing ยื่นคำร้องทางอิเล็กทรอนิกส์", k=3, mode="dense")
    assert hits[0].file_name == "efiling-policy-2564.md"
    kb.remove("efiling-policy-2564.md")
    assert all(h.file_name != "efiling-policy-2564.md"
               for h in kb.search("ระบบ e-Filing", k=10, mode="dense"))


def test_unreachable_server_is_a_clear_error(settings):
    from kb.store import Store
    store = Store(replace(settings, chroma_url=f"http://127.0.0.1:{_free_port()}"))
    with pytest.raises(StoreError, match="cannot open Chroma server at http://127.0.0.1"):
        store.vectors
