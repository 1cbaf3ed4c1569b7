import numpy as np


def clustered_with_labels(
    n: int, dim: int, levels: int, branching: int, seed: int = 0, noise: float = 0.02
) -> tuple[np.ndarray, np.ndarray]:
    """Points of a tree of clusters, and each point's true path (N, levels). Each level adds a smaller
    offset, so residual quantisation with `branching` codes per level can recover the structure."""
    rng = np.random.default_rng(seed)
    x, paths = np.zeros((n, dim)), []
    scale = 1.0
    for _ in range(levels):
        offsets = rng.standard_normal((branching, dim)) * scale
        choice = rng.integers(branching, size=n)
        x += offsets[choice]
        paths.append(choice)
        scale *= 0.4
    return (x + noise * rng.standard_normal((n, dim))).astype(np.float32), np.stack(paths, 1)


def clustered(n: int, dim: int, levels: int, branching: int, seed: int = 0, noise: float = 0.02) -> np.ndarray:
    return clustered_with_labels(n, dim, levels, branching, seed, noise)[0]
