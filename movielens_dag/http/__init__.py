"""HTTP plumbing shared by every source: retry policy, rate-limited fetcher, downloads."""
