"""Supervised fine-tuning on a `dive synth` dataset with TRL's SFTTrainer.

Each row of `sft.jsonl` is rendered by `dive.train.chat` (DIVE's tool layer over the model's chat template, tools
in the `full` or `compact` rendering) and tokenized here into `input_ids` plus `assistant_masks`; SFTTrainer
turns the mask into labels, so the loss falls on what the assistant wrote (its tool calls and its answer) and
never on the prompt or the tool results. A conversation longer than `max_length` is never cut: the schemas of
tools it does not call are left out, whole, until it fits, and one that does not fit even then is left out;
both are counted and reported. The output folder holds the final model (LoRA adapters merged) and its tokenizer,
whose chat template is the one training used, a model card (README.md: base model, data, command), the
trainer's checkpoints, `metrics.jsonl` (one line per logged step), `loss.png` and `sft_result.json`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from dive.synth.export import read_records
from pydantic import BaseModel, Field
from transformers import TrainerCallback

from dive import __version__

from .chat import (
    TokenizedConversation,
    ToolFormat,
    parse_tools,
    render_conversation,
    template_tools_format,
    tokenize_conversation,
)
from .models import base_model_name, load_model_and_tokenizer, locate_model

logger = logging.getLogger(__name__)

SFT_FILE = "sft.jsonl"
METRICS_FILE = "metrics.jsonl"
LOSS_PLOT = "loss.png"
RESULT_FILE = "sft_result.json"
MODEL_CARD = "README.md"


class SFTExample(BaseModel):
    """One row of sft.jsonl: a solved task as chat messages (tool calls with object arguments, tool results) and
    its tool schemas (JSON text in files written before the format changed, still read)."""

    id: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | str | None = None


class StepMetrics(BaseModel):
    """One line of metrics.jsonl."""

    step: int
    loss: float
    learning_rate: float
    tokens_per_second: float
    """Tokens (prompt and tool results included) through the model per second of training steps since the
    previous line."""
    num_tokens: int
    """Tokens trained on so far in this run (padding excluded)."""
    epoch: float | None = None
    grad_norm: float | None = None
    mean_token_accuracy: float | None = None


class SFTResult(BaseModel):
    """What `train_sft` produced."""

    out: str
    model: str
    base_model: str
    """The model the run started from, as the model card names it (a hub id for the packaged default)."""
    data: str
    tools_format: str
    """How tools were offered in training: `full` (JSON schemas) or `compact` (one line a tool)."""
    max_length: int | None
    steps: int
    examples: int
    """Conversations trained on."""
    fitted: int
    """Conversations longer than `max_length` that fit once the schemas of tools they never call were left out."""
    tools_left_out: int
    """Tool schemas left out of those conversations, in all."""
    skipped: int
    """Conversations left out: longer than `max_length` even with only the tools they call."""
    lora: bool
    first_loss: float | None
    last_loss: float | None
    tokens_per_second: float | None
    train_seconds: float
    metrics: list[StepMetrics] = Field(default_factory=list, exclude=True)


def load_sft_examples(data: str | os.PathLike[str]) -> list[SFTExample]:
    """The rows of a `dive synth --out` folder's sft.jsonl (or of an sft.jsonl file)."""
    path = sft_path(data)
    if not path.is_file():
        raise FileNotFoundError(f"no SFT data at {path}: point at a `dive synth --out` folder or its {SFT_FILE}")
    examples = read_records(path, SFTExample, "an SFT row ({id, messages, tools})")
    if not examples:
        raise ValueError(f"{path} holds no examples: synthesize some tasks first (`dive synth`)")
    return examples


class Fitting(BaseModel):
    """What `tokenize_examples` did to conversations longer than `max_length`."""

    fitted: int = 0
    tools_left_out: int = 0
    skipped: list[str] = Field(default_factory=list)
    """Ids of the conversations left out."""

    def summary(self, total: int, max_length: int | None, tools_format: str | None = None) -> str | None:
        """One sentence for the log, or None when every conversation fitted as it was."""
        if not self.fitted and not self.skipped:
            return None
        parts = []
        if self.fitted:
            parts.append(f"{self.fitted} of {total} conversations were over max_length={max_length} tokens and fit "
                         f"once {self.tools_left_out} schemas of tools they never call were left out of their tool "
                         "lists (whole)")
        if self.skipped:
            parts.append(f"{len(self.skipped)} of {total} were left out, over max_length even with only the tools "
                         "they call")
        return "; ".join(parts) + (" (a shorter rendering: --tools compact)" if tools_format == "full" else "")


def called_tools(messages: list[dict[str, Any]]) -> set[str]:
    """The names of the tools a conversation's assistant turns call."""
    return {(call.get("function") or call).get("name") for message in messages
            for call in message.get("tool_calls") or []}


def fit_conversation(tokenizer: Any, example: SFTExample, max_length: int | None
                     ) -> tuple[TokenizedConversation | None, int]:
    """The example's tokens within `max_length`, and how many tool schemas were left out for it to fit.

    Only whole schemas of tools the conversation never calls are left out (the last listed first); a conversation
    over `max_length` even with only the tools it calls gives None. Nothing is ever cut inside the tool list.
    """
    tools = parse_tools(example.tools)
    tokens = tokenize_conversation(tokenizer, example.messages, tools)
    if max_length is None or len(tokens.input_ids) <= max_length:
        return tokens, 0
    called = called_tools(example.messages)
    spare = [i for i, tool in enumerate(tools or []) if (tool.get("function") or tool).get("name") not in called]

    def keeping(count: int) -> list[dict[str, Any]]:
        dropped = set(spare[count:])
        return [tool for i, tool in enumerate(tools or []) if i not in dropped]

    def length(count: int) -> int:
        text = render_conversation(tokenizer, example.messages, keeping(count))
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    if not spare or length(0) > max_length:
        return None, 0
    low, high = 0, len(spare) - 1  # the most spare tools that still fit: length(low) fits, length(high + 1) not
    while low < high:
        middle = (low + high + 1) // 2
        if length(middle) <= max_length:
            low = middle
        else:
            high = middle - 1
    return tokenize_conversation(tokenizer, example.messages, keeping(low)), len(spare) - low


def tokenize_examples(tokenizer: Any, examples: list[SFTExample], max_length: int | None
                      ) -> tuple[list[dict[str, list[int]]], Fitting]:
    """Rows of `input_ids` and `assistant_masks` for SFTTrainer, and what was done to fit `max_length`
    (see `fit_conversation`). Rows left without an assistant token are dropped."""
    rows, fitting = [], Fitting()
    for example in examples:
        tokens, left_out = fit_conversation(tokenizer, example, max_length)
        if tokens is None:
            fitting.skipped.append(example.id)
            continue
        if left_out:
            fitting.fitted += 1
            fitting.tools_left_out += left_out
        if any(tokens.assistant_mask):
            rows.append({"input_ids": tokens.input_ids, "assistant_masks": tokens.assistant_mask})
    if not rows:
        raise ValueError(f"no conversation fits max_length={max_length} tokens, even with only the tools it calls: "
                         "raise --max-length or use --tools compact")
    return rows, fitting


def assistant_loss(model: Any, tokenizer: Any, examples: list[SFTExample], *, max_length: int | None = None) -> float:
    """Mean cross-entropy per assistant token over `examples` (the quantity SFT minimises), without gradients."""
    import torch

    rows, _ = tokenize_examples(tokenizer, examples, max_length)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for row in rows:
            ids = torch.tensor([row["input_ids"]], device=device)
            labels = ids.masked_fill(torch.tensor([row["assistant_masks"]], device=device) == 0, -100)
            logits = model(input_ids=ids).logits[:, :-1].float()
            target = labels[:, 1:]
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1),
                                                     ignore_index=-100, reduction="sum")
            total += loss.item()
            count += int((target != -100).sum())
    model.train(was_training)
    return total / max(count, 1)


def train_sft(
    data_dir: str | os.PathLike[str],
    model: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] = "runs/sft",
    *,
    lora: bool = False,
    max_steps: int | None = None,
    epochs: float = 1.0,
    batch_size: int = 1,
    grad_accum: int = 1,
    lr: float | None = None,
    seed: int = 0,
    resume: bool = False,
    max_length: int | None = 4096,
    save_steps: int = 50,
    logging_steps: int = 1,
    gradient_checkpointing: bool = False,
    lora_r: int = 16,
    tools_format: ToolFormat | None = None,
    command: str | None = None,
) -> SFTResult:
    """Fine-tune `model` (default SmolLM2-135M-Instruct; any Hugging Face id or folder) on `data_dir`/sft.jsonl.

    `max_steps` (optimizer steps) overrides `epochs`. `lr` defaults to 2e-5, or 2e-4 with `lora`. On a GPU the
    run uses bf16 mixed precision when the GPU has it; on CPU, float32. `resume` continues an interrupted run
    from the latest checkpoint in `out` (every `save_steps` steps), with the same settings: the optimizer and
    learning-rate schedule come from the checkpoint. Without it, a folder that already holds a run is refused.
    `max_length`: tokens per conversation (see `fit_conversation` for longer ones; None: no limit).
    `tools_format`: `full` (JSON schemas) or `compact` (one line a tool); default: the one a model trained here
    was trained with, else `full`. `command`: how the run was started, for the model card (the CLI passes it).
    """
    from transformers.trainer_utils import get_last_checkpoint

    out = Path(out)
    last_checkpoint = get_last_checkpoint(out) if out.is_dir() else None
    if not resume and (last_checkpoint or (out / METRICS_FILE).exists()):
        raise FileExistsError(f"{out} already holds a training run: pass resume=True (--resume) to continue it, "
                              "or choose another output folder")
    examples = load_sft_examples(data_dir)
    locate_model(model)  # an unknown model fails here, before torch and TRL load

    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer
    if resume and last_checkpoint:
        trained_with = template_tools_format(_saved_template(Path(last_checkpoint)))
        if tools_format and trained_with and tools_format != trained_with:
            raise ValueError(f"{out} was trained with --tools {trained_with}: resume it with the same tool format")
        tools_format = tools_format or trained_with
    network, tokenizer = load_model_and_tokenizer(model, device="cpu", dtype=torch.float32, tools_format=tools_format)
    tools_format = template_tools_format(tokenizer.chat_template)
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        (out / METRICS_FILE).unlink(missing_ok=True)
    else:  # steps logged after the checkpoint will be trained, and logged, again
        resumed_at = int(Path(last_checkpoint).name.split("-")[-1]) if last_checkpoint else 0
        kept = [m for m in read_metrics(out / METRICS_FILE) if m.step <= resumed_at]
        (out / METRICS_FILE).write_text("".join(m.model_dump_json() + "\n" for m in kept))

    cuda = torch.cuda.is_available()
    rows, fitting = tokenize_examples(tokenizer, examples, max_length)
    if note := fitting.summary(len(examples), max_length, tools_format):
        logger.warning(note)
    dataset = Dataset.from_list(rows)

    args = SFTConfig(
        output_dir=str(out),
        max_steps=max_steps if max_steps is not None else -1,
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=grad_accum,
        learning_rate=lr if lr is not None else (2e-4 if lora else 2e-5),
        seed=seed,
        data_seed=seed,
        max_length=None,  # conversations were fitted to max_length above, never cut
        logging_steps=logging_steps,
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=2,
        report_to="none",
        use_cpu=not cuda,
        bf16=cuda and torch.cuda.is_bf16_supported(),
        activation_checkpointing=gradient_checkpointing,  # transformers' new name for it
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    peft_config = None
    if lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=lora_r, lora_alpha=2 * lora_r, lora_dropout=0.05, target_modules="all-linear",
                                 task_type="CAUSAL_LM")
    recorder = MetricsRecorder(out / METRICS_FILE)
    trainer = SFTTrainer(model=network, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=peft_config, callbacks=[recorder])
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=last_checkpoint if resume else None)
    seconds = time.perf_counter() - started

    final = trainer.model.merge_and_unload() if lora else trainer.model
    final.save_pretrained(out)
    tokenizer.save_pretrained(out)  # with the chat template training rendered with
    history = read_metrics(out / METRICS_FILE)
    plot_loss(history, out / LOSS_PLOT)
    result = SFTResult(
        out=str(out), model=str(model or "smollm2-135m"), base_model=base_model_name(model),
        data=str(sft_path(data_dir)), tools_format=tools_format or "full", max_length=max_length,
        steps=trainer.state.global_step, examples=len(rows), fitted=fitting.fitted,
        tools_left_out=fitting.tools_left_out, skipped=len(fitting.skipped), lora=lora,
        first_loss=history[0].loss if history else None, last_loss=history[-1].loss if history else None,
        tokens_per_second=recorder.overall_tokens_per_second(), train_seconds=round(seconds, 2), metrics=history,
    )
    (out / RESULT_FILE).write_text(result.model_dump_json(indent=2))
    write_model_card(out / MODEL_CARD, result, command=command or _python_call(
        data_dir, model, out, lora=lora, max_steps=max_steps, epochs=epochs, batch_size=batch_size, lr=lr,
        seed=seed, max_length=max_length, tools_format=tools_format))
    return result


def sft_path(data: str | os.PathLike[str]) -> Path:
    """The sft.jsonl of a `dive synth` folder, or the file itself."""
    path = Path(data)
    return path / SFT_FILE if path.is_dir() else path


def _saved_template(folder: Path) -> str | None:
    """The chat template a saved tokenizer carries (transformers writes it to chat_template.jinja)."""
    path = folder / "chat_template.jinja"
    return path.read_text() if path.is_file() else None


def _python_call(data: Any, model: Any, out: Path, **settings: Any) -> str:
    shown = ", ".join(f"{k}={v!r}" for k, v in settings.items())
    return f"dive.train.train_sft({os.fspath(data)!r}, {None if model is None else os.fspath(model)!r}, " \
           f"{str(out)!r}, {shown})"


def write_model_card(path: Path, result: SFTResult, *, command: str) -> None:
    """The model card of an SFT run: the base model, the data (with its synthesis manifest when there is one),
    the command, the tool rendering and chat template, and the run's figures (Hugging Face's front matter on top,
    so the hub shows the base model and tags)."""
    data = Path(result.data)
    digest = hashlib.sha256(data.read_bytes()).hexdigest() if data.is_file() else None
    manifest_path = data.parent / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    synthesis = ""
    if manifest:
        options = manifest.get("options", {})
        synthesis = (f" Synthesized by dive-gym {manifest.get('dive_gym')} (synthesis version "
                     f"{manifest.get('synthesis')}; `--n {options.get('n')} --seed {options.get('seed')}`, domains "
                     f"{', '.join(options.get('domains') or []) or 'the training domains'}).")
    rendering = {"full": "each tool's JSON schema in the system message (what DIVE-v0 shows)",
                 "compact": "one line a tool in the system message: name, typed parameters, first sentence of its "
                            "description"}[result.tools_format]
    fitted = (f" {result.fitted} conversations over max_length offered fewer tools ({result.tools_left_out} schemas "
              f"of tools they never call left out, whole); {result.skipped} were left out as too long."
              if result.fitted or result.skipped else "")
    lines = [
        "---",
        f"base_model: {result.base_model}",
        "library_name: transformers",
        "pipeline_tag: text-generation",
        "tags:",
        "- dive-gym",
        "- sft",
        "- trl",
        "- tool-use",
        "---",
        "",
        f"# {Path(result.out).name}",
        "",
        (f"Fine-tuned from [{result.base_model}]({_model_link(result.base_model)}) by supervised fine-tuning "
        f"(TRL `SFTTrainer`{', LoRA merged' if result.lora else ''}) with DIVE Gym {__version__}, on verified "
        "tool-use trajectories; the loss is on the assistant's tokens only."),
        "",
        "## Data",
        "",
        f"`{result.data}`: {result.examples} conversations trained on"
        + (f" (sha256 `{digest}`)." if digest else ".") + synthesis + fitted,
        "",
        "## Command",
        "",
        "```",
        command,
        "```",
        "",
        "## Chat format",
        "",
        (f"Tools: `{result.tools_format}`, {rendering}. Tool calls are `<tool_call>{{\"name\": ..., \"arguments\": "
        "{...}}</tool_call>` blocks in the assistant's text, tool results come back in a user turn between "
        "`<tool_response>` tags, and the final answer is `<answer>...</answer>`. The tokenizer's chat template is "
        "the one training rendered with: `tokenizer.apply_chat_template(messages, tools=tools)` on OpenAI-form "
        "messages (tool calls with object arguments, `tool` results) gives the text the model was trained on."),
        "",
        "## Training",
        "",
        f"- steps: {result.steps}; max length: {result.max_length} tokens",
        f"- loss (assistant tokens): {result.first_loss} -> {result.last_loss}",
        f"- tokens/s: {result.tokens_per_second}; training time: {result.train_seconds} s",
    ]
    path.write_text("\n".join(lines) + "\n")


def _model_link(name: str) -> str:
    return name if Path(name).exists() else f"https://huggingface.co/{name}"


class MetricsRecorder(TrainerCallback):
    """A trainer callback that appends a `StepMetrics` line to metrics.jsonl at each log, with tokens/s measured
    over the time spent in training steps (start-up, data preparation and checkpointing left out)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._step_started = 0.0
        self._step_seconds = 0.0
        self._seconds_total = 0.0
        self._tokens_logged = 0
        self._tokens_total = 0

    def on_step_begin(self, args, state, control, **kwargs) -> None:
        self._step_started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs) -> None:
        self._step_seconds += time.perf_counter() - self._step_started

    def on_log(self, args, state, control, logs: dict[str, float] | None = None, **kwargs) -> None:
        if not logs or "loss" not in logs:
            return
        tokens = int(logs.get("num_tokens", 0))
        new_tokens = tokens - self._tokens_logged if tokens >= self._tokens_logged else tokens
        self._tokens_logged = tokens
        seconds, self._step_seconds = self._step_seconds, 0.0
        self._seconds_total += seconds
        self._tokens_total += new_tokens
        row = StepMetrics(
            step=state.global_step, loss=float(logs["loss"]), learning_rate=float(logs.get("learning_rate", 0.0)),
            tokens_per_second=round(new_tokens / seconds, 1) if seconds > 0 else 0.0, num_tokens=tokens,
            epoch=logs.get("epoch"), grad_norm=_finite(logs.get("grad_norm")),
            mean_token_accuracy=logs.get("mean_token_accuracy"),
        )
        with self.path.open("a") as f:
            f.write(row.model_dump_json() + "\n")

    def overall_tokens_per_second(self) -> float | None:
        return round(self._tokens_total / self._seconds_total, 1) if self._seconds_total > 0 else None


def _finite(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


def read_metrics(path: Path) -> list[StepMetrics]:
    """The lines of a metrics.jsonl (empty when there is none)."""
    if not path.is_file():
        return []
    return [StepMetrics.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]


def plot_loss(history: list[StepMetrics], png: Path) -> None:
    """The training loss against the step, as a PNG."""
    plot_curve([m.step for m in history], {"loss": [m.loss for m in history]}, png, ylabel="loss (assistant tokens)",
               title="SFT loss")


CURVE_COLOURS = ("#4c72b0", "#55a868", "#c44e52", "#8172b2")


def plot_curve(steps: list[int], series: dict[str, list[float]], png: Path, *, ylabel: str, title: str) -> None:
    """Training curves (metrics against the step) as a PNG; a legend names them when there are several."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    marker = "." if len(steps) < 50 else None
    for i, (label, values) in enumerate(series.items()):
        ax.plot(steps, values, color=CURVE_COLOURS[i % len(CURVE_COLOURS)], marker=marker, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=90, metadata={"Software": None})
    plt.close(fig)

