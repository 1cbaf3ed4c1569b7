"""Sequential recommenders (SASRec, HSTU) with semantic-ID item embeddings. Plain torch, no Dagster."""
