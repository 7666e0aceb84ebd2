"""A tiny causal LM and a tokenizer trained in-process, for tests and smoke runs that must download nothing.

    tokenizer = train_tokenizer(texts)            # byte-level BPE with the ChatML special tokens
    model = tiny_causal_lm(tokenizer)             # a randomly initialised 2-layer Llama
    save_tiny_model(folder, model, tokenizer)     # then train_sft(..., model=str(folder))
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .chat import CHATML_TEMPLATE, IM_END, IM_START

PAD = "<|endoftext|>"


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2000) -> Any:
    """A byte-level BPE tokenizer trained on `texts`, with ChatML's special tokens and chat template
    (`<|im_end|>` ends a turn and is the end-of-sequence token)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, IM_START, IM_END],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=IM_END, pad_token=PAD, unk_token=None)
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def tiny_causal_lm(tokenizer: Any, *, hidden_size: int = 32, layers: int = 2, heads: int = 4,
                   max_positions: int = 4096, seed: int = 0) -> Any:
    """A randomly initialised Llama small enough to train in seconds on a CPU."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=max_positions, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def save_tiny_model(folder: str | Path, model: Any, tokenizer: Any) -> Path:
    """Save a model and tokenizer as a Hugging Face folder that `from_pretrained` and `train_sft` load."""
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
