"""The per-run HTML report: one self-contained page (inline CSS and SVG, no network)."""
