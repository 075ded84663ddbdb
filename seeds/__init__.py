"""Reference and demo data loaders (idempotent)."""
