"""Agents to evaluate: anything with `policy(observation, info) -> str`, the same interface as DIVE-v0 rollouts.

- `HFAgent`: a local transformers causal LM (the packaged SmolLM2-135M-Instruct by default).
- `OpenAIAgent`: any OpenAI-compatible `/chat/completions` endpoint (vLLM, SGLang, Ollama, llama.cpp, an API).
- `ReplayAgent` (answers every task correctly by replaying its evidence) and `NoAnswerAgent` (never answers):
  scripted, for demos and tests.

Both model agents see the conversation in the one format of `dive.env.chat_format` (tools in the system
message, `<tool_call>` blocks, `<tool_response>` results, `<answer>` at the end), which is also what training
renders, so an evaluated model reads exactly what it was trained on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dive.env.chat_format import render_tool_call, to_plain_messages
from dive.env.rollouts import ReplayAgent
from dive.synth.records import Task

Agent = Callable[[str, dict[str, Any]], str]
"""`agent(observation, info) -> the next turn's text`, where `info` is DIVE-v0's (messages, tools, task_id, turn)."""

__all__ = ["Agent", "HFAgent", "NoAnswerAgent", "OpenAIAgent", "ReplayAgent", "prompt_messages",
           "scripted_agent"]


def prompt_messages(info: Mapping[str, Any]) -> list[dict[str, str]]:
    """The conversation so far as plain role/content messages, with the task's tools offered exactly once.

    DIVE-v0's `info["messages"]` open with its system prompt, which already lists the tools: that is kept as is.
    Messages without one get the system prompt made from `info["tools"]`.
    """
    messages = list(info["messages"])
    has_system = any(m.get("role") == "system" for m in messages)
    return to_plain_messages(messages, None if has_system else list(info.get("tools") or []))


class NoAnswerAgent:
    """Never calls a tool and never answers: every turn is unreadable and the episode runs out of turns."""

    text = "I do not know."

    def __call__(self, observation: str, info: dict[str, Any]) -> str:
        return self.text


def scripted_agent(name: str, tasks: Sequence[Task]) -> Agent:
    """A scripted agent by name: `replay` (replays each task's solution and answers correctly) or `none`."""
    if name == "replay":
        return ReplayAgent(tasks, answer="correct")
    if name == "none":
        return NoAnswerAgent()
    raise ValueError(f"unknown scripted agent {name!r}: use 'replay' (answers correctly) or 'none' (never answers)")


class HFAgent:
    """A local transformers causal LM: renders the conversation with the tokenizer's chat template, generates
    the next turn (greedy, or sampled with `temperature > 0`) and returns the new text.

    Args:
        model: a Hugging Face model id or folder; None (or "smollm2-135m") for the packaged default.
        temperature: 0 for greedy decoding.
        max_new_tokens: the most tokens one turn may have.
        device: default `cuda` when available, else `cpu`.
        seed: seeds sampling (once, at construction), so a sampled evaluation is repeatable.
    """

    def __init__(self, model: str | os.PathLike[str] | None = None, *, temperature: float = 0.0,
                 max_new_tokens: int = 512, top_p: float = 1.0, device: str | None = None, dtype: Any = None,
                 seed: int = 0) -> None:
        import torch

        from dive.train.models import load_model_and_tokenizer

        self.name = os.fspath(model) if model is not None else "smollm2-135m"
        self.model, self.tokenizer = load_model_and_tokenizer(model, device=device, dtype=dtype)
        self.model.eval()
        self.device = str(self.model.device)
        self.temperature = temperature
        self.max_new_tokens = max_new_tokens
        self.top_p = top_p
        limit = getattr(self.model.config, "max_position_embeddings", None) or 8192
        self.max_prompt_tokens = max(64, int(limit) - max_new_tokens)
        self.clipped_prompts = 0
        """Prompts longer than the model's context, cut in the middle of the tool list to fit."""
        torch.manual_seed(seed)

    def prompt(self, info: Mapping[str, Any]) -> str:
        """The text the model continues: the conversation through the chat template, with the generation prompt."""
        return self.tokenizer.apply_chat_template(prompt_messages(info), tokenize=False, add_generation_prompt=True)

    def __call__(self, observation: str, info: dict[str, Any]) -> str:
        import torch

        ids = self.tokenizer(self.prompt(info), add_special_tokens=False, return_tensors="pt").input_ids
        if ids.shape[1] > self.max_prompt_tokens:
            # Cut from the middle (inside the tool list): the opening of the system prompt, the call format that
            # follows the tools, the question and the latest turns are what the model can least do without.
            head = min(256, self.max_prompt_tokens // 8)
            ids = torch.cat([ids[:, :head], ids[:, ids.shape[1] - (self.max_prompt_tokens - head):]], dim=1)
            self.clipped_prompts += 1
        ids = ids.to(self.device)
        sampling: dict[str, Any] = ({"do_sample": True, "temperature": self.temperature, "top_p": self.top_p}
                                    if self.temperature > 0 else {"do_sample": False})
        eos = self.tokenizer.eos_token_id
        with torch.no_grad():
            out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                      max_new_tokens=self.max_new_tokens, eos_token_id=eos,
                                      pad_token_id=self.tokenizer.pad_token_id if self.tokenizer.pad_token_id
                                      is not None else eos, **sampling)
        return self.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()


class OpenAIAgent:
    """A model behind an OpenAI-compatible chat-completions endpoint (`POST {base_url}/chat/completions`).

    The conversation is sent as plain messages in DIVE's format (tools in the system message). A reply that
    uses the API's native `tool_calls` instead is turned into `<tool_call>` blocks, so both kinds of server
    are read the same way. Connection errors, timeouts, 429 and 5xx are retried; other failures raise
    `dive.synth.openai_backend.EndpointError` with the server's message.

    Args:
        base_url: e.g. `http://127.0.0.1:8000/v1`.
        model: the model name the server knows.
        api_key: default: `DIVE_OPENAI_API_KEY` or `OPENAI_API_KEY` when set; local servers need none.
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None, *, temperature: float = 0.0,
                 max_tokens: int | None = 1024, timeout: float = 120.0, retries: int = 4,
                 check: bool = True) -> None:
        from dive.synth.openai_backend import OpenAIBackend, api_key_from_env

        if api_key is None:
            api_key = api_key_from_env()
        self.name = model
        self.endpoint = OpenAIBackend(base_url, model, api_key=api_key, timeout=timeout, retries=retries,
                                      temperature=temperature, max_tokens=max_tokens)
        if check:  # an unreachable endpoint or a refused key fails now, not after the first episode
            self.endpoint.check_endpoint()

    def __call__(self, observation: str, info: dict[str, Any]) -> str:
        import anyio

        reply = anyio.run(self.endpoint.chat, prompt_messages(info))
        native = [c for c in reply.tool_calls if c.native]
        if not native:  # text-only replies (answers, <tool_call> blocks in the text) go to the env as written
            return reply.content
        calls = [render_tool_call(c.name, c.raw_arguments if c.error else c.arguments) for c in native]
        return "\n".join([reply.content, *calls]) if reply.content else "\n".join(calls)
