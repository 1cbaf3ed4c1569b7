"""A tiny random-init CLIP image encoder, built offline for tests.

Real CLIP weights cannot be downloaded here, so the poster-embedding path is exercised with the same
classes (``CLIPVisionModelWithProjection`` + CLIP's image processor) at toy size: 32-pixel inputs,
8-pixel patches, 2 layers, a ``projection_dim``-sized output. Saved as a Hugging Face folder.
"""

from pathlib import Path


def build(root: Path, projection_dim: int = 24, seed: int = 0) -> Path:
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
        projection_dim=projection_dim,
    )
    torch.manual_seed(seed)
    model = CLIPVisionModelWithProjection(config)
    folder = Path(root) / "tiny-clip"
    model.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder
