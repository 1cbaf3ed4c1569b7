"""The one place that adapts a loaded sentence-transformers model to how we embed documents.

sentence-transformers 6 makes choices that are wrong for embedding documents with decoder models such
as Qwen3-Embedding; ``adapt`` undoes them and checks what we rely on:

* Plain text, never the chat template: sentence-transformers 6 routes text through the tokenizer's
  chat template whenever one exists; Qwen3-Embedding's tokenizer ships the Qwen3 chat template, but the
  model was trained on plain ``instruction + text + <|endoftext|>``.
* Left padding when the model pools its last token, so every row ends with a real token.
* A pad token (the eos token when the tokenizer has none), and right truncation (the only kind we count).

Plain code (no Dagster); sentence-transformers is imported inside ``adapt``.
"""

from dataclasses import dataclass
from typing import Any


@dataclass
class Adapted:
    transformer: Any  # the first module: a text Transformer
    tokenizer: Any
    pooling: str  # the pooling modes, comma separated ("mean", "lasttoken", ...), or "none"


def adapt(model: Any, model_id: str) -> Adapted:
    """Adapt ``model`` in place (see the module docstring); raise naming the model when it cannot work."""
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    transformer = model[0]
    if not isinstance(transformer, Transformer) or transformer.tokenizer is None:
        raise TypeError(f"{model_id}: the first module must be a text Transformer with a tokenizer")
    _force_plain_text(transformer, model_id)
    tokenizer = transformer.tokenizer
    modes = [str(m.pooling_mode) for m in model if isinstance(m, Pooling)]
    if "lasttoken" in modes:
        tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"{model_id}: the tokenizer has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.truncation_side != "right":
        raise ValueError(f"{model_id}: only right truncation is supported")
    return Adapted(transformer, tokenizer, ",".join(modes) or "none")


def _force_plain_text(transformer: Any, model_id: str) -> None:
    config = transformer.modality_config
    if "text" not in config:
        raise TypeError(f"{model_id} does not accept plain text (modalities: {list(config)})")
    if "message" in config:
        transformer.modality_config = {k: v for k, v in config.items() if k != "message"}
        transformer.input_formatter.supported_modalities = list(transformer.modality_config)
