"""Cross-cutting: metrics and traces that every stage reports into."""
