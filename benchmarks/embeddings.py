"""Embedding throughput: our batching vs the prior art's settings (fp32, batch 2, unsorted), same run.

    python benchmarks/embeddings.py                       # CPU: bundled MiniLM on the real movie_documents
    python benchmarks/embeddings.py --device cuda         # GPU: Qwen3-Embedding-0.6B architecture, 10,000 docs
    python benchmarks/embeddings.py --mode qwen3 --device cpu --qwen3-size tiny --docs 40   # smoke test

CPU mode (``--mode minilm``, the default without a GPU) embeds the text of the ``movie_documents``
asset (materialized from the bundled ml-latest-small into a temp folder unless ``--data-dir`` has it)
with the bundled all-MiniLM-L6-v2, three ways, through the same ``Encoder``:

* ours: tokens sorted by length, batches under a token budget;
* prior art: fp32, batch size 2, documents in input order (no sorting);
* sentence-transformers' own ``encode(batch_size=32)``, as the library-default reference.

GPU mode (``--mode qwen3``, the default with ``--device cuda``) builds the published
Qwen3-Embedding-0.6B architecture (hidden 1024, 28 layers, 16 heads, 8 KV heads, head_dim 128,
intermediate 3072, vocab 151,669, tied embeddings) at random init — the real weights are not needed
for speed — with a word-level tokenizer (one token per word, ``<|endoftext|>`` appended, left padding),
saves it as a sentence-transformers model (last-token pooling + Normalize) and loads it through
``load_encoder`` like the asset does. 10,000 synthetic documents with a realistic length mix (MovieLens
-only texts, TMDB overviews, Wikipedia plots, a few very long plots) are embedded:

* ours: bf16 (fp16 without bf16 support), SDPA / flash-attention, sorted, token budget from free memory;
* fp32 + our batching (to separate precision from batching);
* prior art: fp32, batch 2, unsorted.

Prints markdown (and ``--json``): docs/s, tokens/s, padding overhead, peak GPU memory, the ratio to
the prior art, and the projected time for ML-32M's 87,585 movies at the measured docs/s.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from movielens_dag.embeddings import resolve_model
from movielens_dag.embeddings.encode import load_encoder
from movielens_dag.embeddings.quality import unit_norm_error
from movielens_dag.embeddings.settings import EmbeddingSettings

ML32M_MOVIES = 87_585
EOS = "<|endoftext|>"
QWEN3_06B = dict(  # config.json of Qwen/Qwen3-Embedding-0.6B
    vocab_size=151_669,
    hidden_size=1024,
    intermediate_size=3072,
    num_hidden_layers=28,
    num_attention_heads=16,
    num_key_value_heads=8,
    head_dim=128,
    max_position_embeddings=32_768,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
    rope_parameters={"rope_theta": 1_000_000.0, "rope_type": "default"},
)
QWEN3_TINY = dict(
    vocab_size=4096,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=8192,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
)
# (share, min words, max words): MovieLens-only texts, TMDB overviews, Wikipedia plots, very long plots
LENGTH_MIX = [(0.35, 15, 60), (0.45, 60, 250), (0.17, 250, 1200), (0.03, 1200, 6000)]


# ------------------------------------------------------------------------------------------------ #
# Machine description


def machine(device: str) -> dict:
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.device(device))
        info["gpu"] = f"{props.name} ({props.total_memory / 2**30:.0f} GiB)"
        info["bf16"] = torch.cuda.is_bf16_supported()
        try:
            import flash_attn  # noqa: F401

            info["flash_attn"] = True
        except ImportError:
            info["flash_attn"] = False
    return info


# ------------------------------------------------------------------------------------------------ #
# Documents


def real_documents(data_dir: str | None) -> tuple[list[str], str]:
    """The movie_documents asset's text: from ``--data-dir`` if materialized there, else materialized
    from the bundled ml-latest-small into a temp folder."""
    import pyarrow.parquet as pq

    from movielens_dag.paths import DataPaths

    if data_dir:
        f = DataPaths(data_dir).asset_file("documents", "movie_documents")
        if f.exists():
            return pq.read_table(f)["document"].to_pylist(), str(f)
    import dagster as dg

    from movielens_dag.definitions import build_definitions

    with tempfile.TemporaryDirectory(prefix="emb-bench-") as tmp:
        defs = build_definitions(tmp)
        # enrichment without API tokens makes no HTTP call: documents are MovieLens text plus what the
        # bundled sources give (the same as the quick start)
        result = dg.materialize(
            list(defs.assets),
            selection=dg.AssetSelection.groups("movielens", "enrichment", "documents"),
            resources=defs.resources,
            raise_on_error=True,
        )
        assert result.success
        texts = pq.read_table(DataPaths(tmp).asset_file("documents", "movie_documents"))["document"].to_pylist()
    return texts, "movie_documents materialized from the bundled ml-latest-small (temp data dir)"


def synthetic_documents(n: int, vocab: int, seed: int = 0) -> list[str]:
    """``n`` documents of words ``w<id>`` (one token each) with the LENGTH_MIX word counts, shuffled."""
    rng = np.random.default_rng(seed)
    counts = []
    for share, lo, hi in LENGTH_MIX:
        k = int(round(share * n))
        # log-uniform inside each band: many near the bottom, a tail to the top
        counts.append(np.exp(rng.uniform(np.log(lo), np.log(hi), k)).astype(int))
    counts = np.concatenate(counts)[:n]
    if len(counts) < n:
        counts = np.concatenate([counts, np.full(n - len(counts), 100)])
    rng.shuffle(counts)
    ranks = rng.zipf(1.3, size=int(counts.sum())) % (vocab - 2) + 2
    docs, pos = [], 0
    for c in counts:
        docs.append(" ".join(f"w{r}" for r in ranks[pos : pos + c]))
        pos += c
    return docs


# ------------------------------------------------------------------------------------------------ #
# A random-init Qwen3 saved as a sentence-transformers model


def build_qwen3(folder: Path, size: str, device: str) -> Path:
    """Save a random-init Qwen3 + tokenizer as a plain Hugging Face checkpoint (no modules.json):
    ``load_encoder`` recognises the qwen3 model type and adds last-token pooling and Normalize."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3Model

    dims = QWEN3_06B if size == "0.6b" else QWEN3_TINY
    vocab = {EOS: 0, "[UNK]": 1}
    vocab.update({f"w{i}": i for i in range(2, dims["vocab_size"])})
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, 0)])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=EOS,
        eos_token=EOS,
        unk_token="[UNK]",
        padding_side="left",
        model_max_length=dims["max_position_embeddings"],
    )
    config = Qwen3Config(**dims, pad_token_id=0, bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    with torch.device(device):  # initialise straight on the GPU: 0.6B params in seconds
        model = Qwen3Model(config)
    hf_dir = folder / "qwen3"
    model.to(torch.bfloat16 if device.startswith("cuda") else torch.float32).save_pretrained(hf_dir)
    tok.save_pretrained(hf_dir)
    del model
    return hf_dir


# ------------------------------------------------------------------------------------------------ #
# Runs


def _peak_reset(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: str) -> float | None:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30
    return None


def timed_encode(name: str, encoder, texts: list[str], device: str, **kwargs) -> dict:
    _peak_reset(device)
    t0 = time.perf_counter()
    result = encoder.encode(texts, **kwargs)
    seconds = time.perf_counter() - t0  # includes tokenization: what a run pays
    s = result.stats
    row = {
        "method": name,
        "docs": len(texts),
        "tokens": int(s.tokens),
        "seconds": seconds,
        "docs_per_s": len(texts) / seconds,
        "tokens_per_s": s.tokens / seconds,
        "padding_overhead": s.padding_overhead,
        "batches": s.batches,
        "oom_retries": s.oom_retries,
        "truncated": result.truncated_count,
        "dtype": encoder.settings["dtype"],
        "attention": encoder.attn_implementation,
        "peak_gib": _peak_gib(device),
        "norm_error": unit_norm_error(result.vectors),
    }
    print(
        f"  {name}: {row['docs_per_s']:,.1f} docs/s, {row['tokens_per_s']:,.0f} tokens/s "
        f"({seconds:.1f} s, {s.batches} batches, padding {s.padding_overhead:.0%})",
        file=sys.stderr,
        flush=True,
    )
    return row


def st_library_encode(encoder, texts: list[str], batch_size: int = 32) -> dict:
    t0 = time.perf_counter()
    vectors = encoder.model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    seconds = time.perf_counter() - t0
    tokens = int(encoder.tokenize(texts).lengths.sum())
    print(
        f"  sentence-transformers encode(batch_size={batch_size}): {len(texts) / seconds:,.1f} docs/s",
        file=sys.stderr,
        flush=True,
    )
    return {
        "method": f"sentence-transformers encode(batch_size={batch_size})",
        "docs": len(texts),
        "tokens": tokens,
        "seconds": seconds,
        "docs_per_s": len(texts) / seconds,
        "tokens_per_s": tokens / seconds,
        "padding_overhead": None,
        "batches": -(-len(texts) // batch_size),
        "oom_retries": 0,
        "truncated": None,
        "dtype": encoder.settings["dtype"],
        "attention": encoder.attn_implementation,
        "peak_gib": None,
        "norm_error": unit_norm_error(vectors),
    }


def median_row(rows: list[dict]) -> dict:
    """The repeat with the median docs/s (all repeats listed in the JSON)."""
    rows = sorted(rows, key=lambda r: r["docs_per_s"])
    best = dict(rows[len(rows) // 2])
    best["repeats"] = len(rows)
    best["all_docs_per_s"] = [round(r["docs_per_s"], 2) for r in rows]
    return best


def subset(texts: list[str], n: int) -> list[str]:
    """``n`` texts spread evenly over the list (deterministic)."""
    if n >= len(texts):
        return list(texts)
    return [texts[i] for i in np.linspace(0, len(texts) - 1, n).astype(int)]


def run_minilm(args) -> dict:
    import torch

    texts, where = real_documents(args.data_dir)
    texts = subset(texts, args.docs) if args.docs else texts
    base = subset(texts, min(args.baseline_docs, len(texts)))
    source = resolve_model("bundled")
    ours = load_encoder(source, EmbeddingSettings(device=args.device))
    if args.threads:
        torch.set_num_threads(args.threads)
    ours.encode(base[:64])  # warm-up
    rows_ours, rows_prior, rows_st, rows_full = [], [], [], []
    for rep in range(args.repeats):
        print(f"repeat {rep + 1}/{args.repeats} on {len(base):,} documents", file=sys.stderr, flush=True)
        rows_ours.append(
            timed_encode("ours: sorted, token budget", ours, base, args.device, token_budget=args.token_budget)
        )
        rows_prior.append(
            timed_encode(
                "prior art: fp32, batch 2, unsorted", ours, base, args.device, sort_by_length=False, fixed_batch_size=2
            )
        )
        if not args.no_library:
            rows_st.append(st_library_encode(ours, base))
    if len(texts) > len(base):
        print(f"ours on all {len(texts):,} documents", file=sys.stderr, flush=True)
        rows_full.append(
            timed_encode(
                "ours: sorted, token budget (all documents)", ours, texts, args.device, token_budget=args.token_budget
            )
        )
    rows = [median_row(rows_ours), median_row(rows_prior)] + ([median_row(rows_st)] if rows_st else [])
    rows += [median_row(rows_full)] if rows_full else []
    return {
        "mode": "minilm",
        "model": source.model_id,
        "documents": where,
        "rows": rows,
        "ratio": rows[0]["docs_per_s"] / rows[1]["docs_per_s"],
        "ratio_label": "ours / prior art (same documents, median of repeats)",
        "max_seq_length": ours.max_seq_length,
    }


def run_qwen3(args) -> dict:

    dims = QWEN3_06B if args.qwen3_size == "0.6b" else QWEN3_TINY
    n = args.docs or 10_000
    texts = synthetic_documents(n, dims["vocab_size"], seed=1)
    base = subset(texts, min(args.baseline_docs, n))
    rows = []
    with tempfile.TemporaryDirectory(prefix="qwen3-bench-") as tmp:
        print(f"building random-init Qwen3 ({args.qwen3_size}) ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        st_dir = build_qwen3(Path(tmp), args.qwen3_size, args.device)
        source = resolve_model(str(st_dir))
        print(f"  built and fingerprinted in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)

        ours = load_encoder(
            source, EmbeddingSettings(device=args.device, dtype=args.dtype, max_seq_length=args.max_seq_length)
        )
        ours.encode(texts[:32])  # warm-up (kernels, allocator)
        for _rep in range(args.repeats):
            rows.append(
                timed_encode(
                    f"ours: {ours.settings['dtype']}, {ours.attn_implementation}, sorted, token budget",
                    ours,
                    texts,
                    args.device,
                    token_budget=args.token_budget,
                )
            )
        ours_row = median_row(rows)
        budget = ours.auto_token_budget() if args.token_budget is None else args.token_budget
        del ours
        _peak_reset(args.device)

        fp32 = load_encoder(
            source, EmbeddingSettings(device=args.device, dtype="float32", max_seq_length=args.max_seq_length)
        )
        fp32.encode(base[:8])
        fp32_row = timed_encode(
            "fp32 + our batching (sorted, token budget)", fp32, base, args.device, token_budget=args.token_budget
        )
        prior_row = timed_encode(
            "prior art: fp32, batch 2, unsorted", fp32, base, args.device, sort_by_length=False, fixed_batch_size=2
        )
        max_seq = fp32.max_seq_length
        del fp32
        _peak_reset(args.device)
    lengths = np.array([len(t.split()) + 1 for t in texts])
    mix = {
        "p50": int(np.percentile(lengths, 50)),
        "p90": int(np.percentile(lengths, 90)),
        "p99": int(np.percentile(lengths, 99)),
        "max": int(lengths.max()),
        "mean": float(lengths.mean()),
    }
    return {
        "mode": "qwen3",
        "model": f"Qwen3-Embedding-{args.qwen3_size} architecture, random init",
        "documents": f"{n:,} synthetic documents, tokens per document {mix}",
        "rows": [ours_row, fp32_row, prior_row],
        "ratio": ours_row["docs_per_s"] / prior_row["docs_per_s"],
        "ratio_label": f"ours ({n:,} docs) / prior art ({len(base):,} docs of the same mix)",
        "ml32m_projection_s": ML32M_MOVIES / ours_row["docs_per_s"],
        "token_budget": budget,
        "max_seq_length": max_seq,
    }


def markdown(report: dict, args) -> str:
    m = report["machine"]
    lines = [
        f"### Embeddings ({report['mode']}): {report['model']}",
        "",
        f"- Date: {m['date']}. Command: `python benchmarks/embeddings.py {' '.join(args.argv)}`".rstrip(),
        f"- Machine: {m['cpu']}, {m['cores']} cores (load average at the end {m['load_average']}), "
        f"Python {m['python']}, torch {m['torch']} ({m['torch_threads']} threads)"
        + (f", GPU {m['gpu']}, bf16 {m['bf16']}, flash_attn installed: {m['flash_attn']}" if "gpu" in m else ""),
        f"- Documents: {report['documents']}; max_seq_length {report.get('max_seq_length')}",
        "",
        "| method | docs | tokens | seconds | docs/s | tokens/s | padding | batches | OOM retries | peak GPU GiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        pad = "" if r["padding_overhead"] is None else f"{r['padding_overhead']:.0%}"
        peak = "" if r["peak_gib"] is None else f"{r['peak_gib']:.2f}"
        lines.append(
            f"| {r['method']} | {r['docs']:,} | {r['tokens']:,} | {r['seconds']:.1f} | "
            f"{r['docs_per_s']:,.1f} | {r['tokens_per_s']:,.0f} | {pad} | {r['batches']:,} | "
            f"{r['oom_retries']} | {peak} |"
        )
    lines += ["", f"Ratio {report['ratio_label']}: **{report['ratio']:.1f}×** docs/s."]
    if "ml32m_projection_s" in report:
        lines.append(
            f"Projected ML-32M ({ML32M_MOVIES:,} movies) at this length mix: {report['ml32m_projection_s']:.0f} s."
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    p.add_argument("--mode", choices=["minilm", "qwen3"], default=None, help="default: qwen3 on cuda, minilm otherwise")
    p.add_argument("--docs", type=int, default=None, help="documents for 'ours' (default: all / 10,000)")
    p.add_argument(
        "--baseline-docs",
        type=int,
        default=None,
        help="documents for the prior-art runs (default: 1,500 on CPU, 10,000 on GPU)",
    )
    p.add_argument("--repeats", type=int, default=None, help="default: 3 on CPU, 2 on GPU")
    p.add_argument("--token-budget", type=int, default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--max-seq-length", type=int, default=None)
    p.add_argument("--qwen3-size", choices=["0.6b", "tiny"], default="0.6b")
    p.add_argument("--data-dir", default=os.environ.get("MOVIELENS_DATA_DIR"))
    p.add_argument("--no-library", action="store_true", help="skip sentence-transformers' own encode()")
    p.add_argument("--out", type=Path, help="also write the markdown here")
    p.add_argument("--json", type=Path, help="also write the raw figures here")
    args = p.parse_args(argv)
    args.argv = [str(a) for a in argv]
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    gpu = args.device.startswith("cuda")
    if gpu:
        import torch

        if not torch.cuda.is_available():
            print(f"--device {args.device}: torch {torch.__version__} sees no CUDA GPU here", file=sys.stderr)
            return 2
    args.mode = args.mode or ("qwen3" if gpu else "minilm")
    args.baseline_docs = args.baseline_docs or (10_000 if gpu else 1_500)
    args.repeats = args.repeats or (2 if gpu else 3)
    report = run_qwen3(args) if args.mode == "qwen3" else run_minilm(args)
    report["machine"] = machine(args.device)
    text = markdown(report, args)
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    bad = [r["method"] for r in report["rows"] if r["norm_error"] > 1e-3]
    if bad:
        print(f"vectors are not unit length for: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
