"""An optional OpenAI-compatible chat model (vLLM, Ollama, llama.cpp server, a Thai model
service, OpenAI …), reached through llama-index's `OpenAILike`.

Configured only by the environment, so the same code serves a laptop and an agency server:

    KB_LLM_BASE_URL   e.g. http://127.0.0.1:8080/v1   (required for the LLM drafter)
    KB_LLM_MODEL      the model name the server expects (default: "local")
    KB_LLM_API_KEY    sent as a bearer token (default: "none"; local servers ignore it)
    KB_LLM_TIMEOUT    seconds to wait for one answer (default 120)
    KB_LLM_RETRIES    retries after a connection error or timeout (default 1)
    KB_LLM_MAX_TOKENS longest answer (default 1024)

Every failure becomes an `LLMError` whose message names the server and says what to do:
a drafting request must fail clearly, never hang or print a stack trace.
"""
from __future__ import annotations

import os
from dataclasses import dataclass


class LLMError(Exception):
    """The LLM could not be used (not configured, unreachable, too slow, refused the request)."""


@dataclass(frozen=True)
class LLMSettings:
    base_url: str
    model: str = "local"
    api_key: str = "none"
    timeout: float = 120.0
    retries: int = 1
    max_tokens: int = 1024

    @classmethod
    def from_env(cls) -> "LLMSettings":
        env = os.environ
        url = (env.get("KB_LLM_BASE_URL") or "").strip()
        if not url:
            raise LLMError("ยังไม่ได้ตั้งค่า LLM: กำหนด KB_LLM_BASE_URL (เช่น http://127.0.0.1:8080/v1) "
                           "และ KB_LLM_MODEL หรือใช้ตัวร่างแบบคัดข้อความ (--drafter extractive)")
        try:
            return cls(base_url=url.rstrip("/"), model=env.get("KB_LLM_MODEL") or "local",
                       api_key=env.get("KB_LLM_API_KEY") or "none",
                       timeout=float(env.get("KB_LLM_TIMEOUT", "120")),
                       retries=int(env.get("KB_LLM_RETRIES", "1")),
                       max_tokens=int(env.get("KB_LLM_MAX_TOKENS", "1024")))
        except ValueError as err:
            raise LLMError(f"ค่าตั้ง KB_LLM_* ไม่ถูกต้อง: {err}") from err


def make_llm(settings: LLMSettings):
    from llama_index.llms.openai_like import OpenAILike
    # temperature 0: the same evidence should give the same draft; is_chat_model: every
    # server we target speaks /chat/completions, and chat keeps our rules in the system role.
    return OpenAILike(model=settings.model, api_base=settings.base_url, api_key=settings.api_key,
                      is_chat_model=True, temperature=0.0, max_tokens=settings.max_tokens,
                      timeout=settings.timeout, max_retries=settings.retries, context_window=8192)


def chat(settings: LLMSettings, system: str, user: str, llm=None) -> str:
    """One chat turn; the assistant's text. Raises LLMError with a clear message."""
    import openai
    from llama_index.core.llms import ChatMessage
    llm = llm or make_llm(settings)
    where = f"{settings.base_url} (model {settings.model})"
    try:
        response = llm.chat([ChatMessage(role="system", content=system),
                             ChatMessage(role="user", content=user)])
    except openai.APITimeoutError as err:
        raise LLMError(f"LLM ที่ {where} ไม่ตอบภายใน {settings.timeout:g} วินาที "
                       "(เพิ่ม KB_LLM_TIMEOUT หรือใช้โมเดลที่เล็กลง)") from err
    except openai.APIConnectionError as err:
        raise LLMError(f"ติดต่อ LLM ที่ {where} ไม่ได้: {_cause(err)} "
                       "(ตรวจว่าเซิร์ฟเวอร์ทำงานอยู่และ KB_LLM_BASE_URL ถูกต้อง)") from err
    except openai.APIStatusError as err:
        raise LLMError(f"LLM ที่ {where} ตอบกลับด้วยข้อผิดพลาด HTTP {err.status_code}: "
                       f"{_short(err.message)}") from err
    except openai.OpenAIError as err:
        raise LLMError(f"LLM ที่ {where} ตอบกลับไม่ได้ตามรูปแบบ OpenAI: {_short(str(err))}") from err
    except (ValueError, TypeError, KeyError) as err:   # a reply that is not the JSON we expect
        raise LLMError(f"LLM ที่ {where} ตอบกลับไม่ได้ตามรูปแบบ OpenAI: {_short(str(err))}") from err
    return response.message.content or ""


def _cause(err: BaseException) -> str:
    # openai's message is just "Connection error."; the reason is further down the chain
    inner = err
    while inner.__cause__ is not None:
        inner = inner.__cause__
    return _short(str(inner) or type(inner).__name__)


def _short(text: str, width: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width] + "…"
