"""Supervised fine-tuning on a `dive synth` dataset with TRL's SFTTrainer.

Each row of `sft.jsonl` is rendered by `dive.train.chat` (DIVE's tool-call format through the tokenizer's chat
template) and tokenized here into `input_ids` plus `assistant_masks`; SFTTrainer turns the mask into labels,
so the loss falls on what the assistant wrote (its tool calls and its answer) and never on the prompt or the
tool results. The output folder holds the final model (LoRA adapters merged), its tokenizer, the trainer's
checkpoints, `metrics.jsonl` (one line per logged step) and `loss.png`.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from dive.synth.export import read_records
from pydantic import BaseModel, Field
from transformers import TrainerCallback

from .chat import tokenize_conversation
from .models import load_model_and_tokenizer

logger = logging.getLogger(__name__)

SFT_FILE = "sft.jsonl"
METRICS_FILE = "metrics.jsonl"
LOSS_PLOT = "loss.png"
RESULT_FILE = "sft_result.json"


class SFTExample(BaseModel):
    """One row of sft.jsonl: a solved task as OpenAI-form chat messages and the JSON text of its tool schemas."""

    id: str
    messages: list[dict[str, Any]]
    tools: str | list[dict[str, Any]] | None = None


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
    steps: int
    examples: int
    truncated: int
    """Examples longer than `max_length`, cut from the left so that the assistant's turns stay whole."""
    lora: bool
    first_loss: float | None
    last_loss: float | None
    tokens_per_second: float | None
    train_seconds: float
    metrics: list[StepMetrics] = Field(default_factory=list, exclude=True)


def load_sft_examples(data: str | os.PathLike[str]) -> list[SFTExample]:
    """The rows of a `dive synth --out` folder's sft.jsonl (or of an sft.jsonl file)."""
    path = Path(data)
    path = path / SFT_FILE if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no SFT data at {path}: point at a `dive synth --out` folder or its {SFT_FILE}")
    examples = read_records(path, SFTExample, "an SFT row ({id, messages, tools})")
    if not examples:
        raise ValueError(f"{path} holds no examples: synthesize some tasks first (`dive synth`)")
    return examples


def tokenize_examples(tokenizer: Any, examples: list[SFTExample], max_length: int | None
                      ) -> tuple[list[dict[str, list[int]]], int]:
    """Rows of `input_ids` and `assistant_masks` for SFTTrainer, and how many were cut to `max_length`.

    An overlong conversation keeps its end: the final turns, which are what the loss is on. Rows left without
    an assistant token are dropped.
    """
    rows, truncated = [], 0
    for example in examples:
        tokens = tokenize_conversation(tokenizer, example.messages, example.tools)
        ids, mask = tokens.input_ids, tokens.assistant_mask
        if max_length is not None and len(ids) > max_length:
            ids, mask = ids[-max_length:], mask[-max_length:]
            truncated += 1
        if any(mask):
            rows.append({"input_ids": ids, "assistant_masks": mask})
    if not rows:
        raise ValueError("no example has an assistant turn within max_length: raise max_length")
    return rows, truncated


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
) -> SFTResult:
    """Fine-tune `model` (default SmolLM2-135M-Instruct; any Hugging Face id or folder) on `data_dir`/sft.jsonl.

    `max_steps` (optimizer steps) overrides `epochs`. `lr` defaults to 2e-5, or 2e-4 with `lora`. On a GPU the
    run uses bf16 mixed precision when the GPU has it; on CPU, float32. `resume` continues an interrupted run
    from the latest checkpoint in `out` (every `save_steps` steps), with the same settings: the optimizer and
    learning-rate schedule come from the checkpoint. Without it, a folder that already holds a run is refused.
    """
    import torch
    from datasets import Dataset
    from transformers.trainer_utils import get_last_checkpoint
    from trl import SFTConfig, SFTTrainer

    out = Path(out)
    last_checkpoint = get_last_checkpoint(out) if out.is_dir() else None
    if not resume and (last_checkpoint or (out / METRICS_FILE).exists()):
        raise FileExistsError(f"{out} already holds a training run: pass resume=True (--resume) to continue it, "
                              "or choose another output folder")
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        (out / METRICS_FILE).unlink(missing_ok=True)
    else:  # steps logged after the checkpoint will be trained, and logged, again
        resumed_at = int(Path(last_checkpoint).name.split("-")[-1]) if last_checkpoint else 0
        kept = [m for m in read_metrics(out / METRICS_FILE) if m.step <= resumed_at]
        (out / METRICS_FILE).write_text("".join(m.model_dump_json() + "\n" for m in kept))

    examples = load_sft_examples(data_dir)
    cuda = torch.cuda.is_available()
    network, tokenizer = load_model_and_tokenizer(model, device="cpu", dtype=torch.float32)
    rows, truncated = tokenize_examples(tokenizer, examples, max_length)
    if truncated:
        logger.warning("%d of %d conversations are longer than max_length=%d tokens and were cut from the left",
                       truncated, len(rows), max_length)
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
        max_length=None,  # already cut above, keeping the end
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
    tokenizer.save_pretrained(out)
    history = read_metrics(out / METRICS_FILE)
    plot_loss(history, out / LOSS_PLOT)
    result = SFTResult(
        out=str(out), model=str(model or "smollm2-135m"), steps=trainer.state.global_step, examples=len(rows),
        truncated=truncated, lora=lora,
        first_loss=history[0].loss if history else None, last_loss=history[-1].loss if history else None,
        tokens_per_second=recorder.overall_tokens_per_second(), train_seconds=round(seconds, 2), metrics=history,
    )
    (out / RESULT_FILE).write_text(result.model_dump_json(indent=2))
    return result


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

