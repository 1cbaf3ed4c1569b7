"""The leave-one-out table shows each variant's paired CI against hstu-id, and none for hstu-id itself."""

import pandas as pd

from movielens_dag.recommender.results import TABLE_METRICS, markdown


def row(variant: str, rank: int, diff: float | None) -> dict:
    r = {"rank": rank, "variant": variant, "seeds": 3, "num_params": 1000, "cpu_minutes_per_seed": 1.0}
    r |= {c: 0.05 for c in TABLE_METRICS} | {f"{c}_std": 0.001 for c in TABLE_METRICS}
    r |= {"test_cold_n": 1, "test_tail_n": 2, "test_head_n": 3}
    r |= {"test_ndcg_10_micro": 0.05, "test_ndcg_10_micro_low": 0.04, "test_ndcg_10_micro_high": 0.06}
    for c in ("diff_ndcg_10_micro", "diff_hr_10_micro"):
        r |= {
            c: diff,
            f"{c}_low": None if diff is None else diff - 0.01,
            f"{c}_high": None if diff is None else diff + 0.01,
        }
    return r


def test_loo_table_has_paired_columns_against_hstu_id():
    board = pd.DataFrame([row("hstu-id-better", 1, 0.0137), row("hstu-id", 2, 0.0), row("popularity", 3, -0.03)])
    lines = markdown(board).splitlines()
    assert "Δ test NDCG@10 vs hstu-id [paired CI]" in lines[0] and "Δ test HR@10 vs hstu-id [paired CI]" in lines[0]
    assert all(line.count("|") == lines[0].count("|") for line in lines[1:5])
    assert lines[2].endswith("| 0.0137 [0.0037, 0.0237] | 0.0137 [0.0037, 0.0237] |")
    assert lines[3].endswith("| — | — |")  # the baseline has no difference with itself
    assert "-0.0300 [-0.0400, -0.0200]" in lines[4]
