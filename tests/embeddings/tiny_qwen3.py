"""A tiny random-init Qwen3 embedding model, built offline for tests.

The real Qwen3-Embedding weights cannot be downloaded here, so the Qwen3 code path is exercised with
the same architecture class (``Qwen3Model``) at toy size, a word-level tokenizer that appends
``<|endoftext|>`` like Qwen3-Embedding's, left padding, and a chat template (which must be ignored).
Saved twice: as a plain Hugging Face checkpoint and as a sentence-transformers model
(Transformer -> last-token Pooling -> Normalize) with a saved "query" prompt.
"""

from dataclasses import dataclass
from pathlib import Path

EOS = "<|endoftext|>"
QUERY_PROMPT = "Instruct: represent this movie for finding similar movies\nQuery:"
WORDS = [
    "the",
    "a",
    "of",
    "and",
    "in",
    "to",
    "movie",
    "film",
    "story",
    "love",
    "war",
    "space",
    "comedy",
    "drama",
    "action",
    "title",
    "year",
    "genres",
    "tags",
    "also",
    "known",
    "as",
    "instruct",
    "query",
    "represent",
    "this",
    "for",
    "finding",
    "similar",
    "movies",
    "toy",
    "heat",
    "matrix",
    "crime",
    "thriller",
    "animation",
    "children",
    "fantasy",
    "romance",
    "horror",
    "documentary",
    "western",
    "musical",
    "mystery",
]
CHAT_TEMPLATE = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"


@dataclass(frozen=True)
class TinyQwen3:
    hf_dir: Path  # config.json + model.safetensors + tokenizer (no modules.json)
    st_dir: Path  # sentence-transformers folder (modules.json, lasttoken pooling, Normalize)
    hidden: int


def build_tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {EOS: 0, "[UNK]": 1}
    for token in WORDS + list("abcdefghijklmnopqrstuvwxyz0123456789:,.()'-"):
        vocab.setdefault(token, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, 0)])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=EOS,
        eos_token=EOS,
        unk_token="[UNK]",
        padding_side="left",
        model_max_length=512,
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def build(root: Path, hidden: int = 64, seed: int = 0) -> TinyQwen3:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from transformers import Qwen3Config, Qwen3Model

    tok = build_tokenizer()
    config = Qwen3Config(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden // 4,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=0,
        bos_token_id=0,
        eos_token_id=0,
    )
    torch.manual_seed(seed)
    model = Qwen3Model(config)
    hf_dir = root / "hf"
    model.save_pretrained(hf_dir)
    tok.save_pretrained(hf_dir)
    transformer = Transformer(str(hf_dir))
    st = SentenceTransformer(
        modules=[transformer, Pooling(hidden, pooling_mode="lasttoken"), Normalize()],
        prompts={"query": QUERY_PROMPT, "document": ""},
        device="cpu",
    )
    st_dir = root / "st"
    st.save(str(st_dir))
    return TinyQwen3(hf_dir=hf_dir, st_dir=st_dir, hidden=hidden)


def reference_embeddings(hf_dir: Path, texts: list[str], max_length: int | None = None):
    """The Qwen3-Embedding recipe without sentence-transformers or batching: one text at a time,
    no padding at all, eager attention, last hidden state of the last token, L2-normalised."""
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(hf_dir)
    model = AutoModel.from_pretrained(hf_dir, attn_implementation="eager").eval()
    out = []
    with torch.no_grad():
        for text in texts:
            enc = tok(text, truncation=max_length is not None, max_length=max_length, return_tensors="pt")
            last = model(**enc).last_hidden_state[0, -1]
            out.append(torch.nn.functional.normalize(last, dim=-1).numpy())
    return np.stack(out)
