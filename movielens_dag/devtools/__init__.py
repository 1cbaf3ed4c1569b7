"""Developer tools: the TMDB + IMDb API emulator used by tests and benchmarks."""
