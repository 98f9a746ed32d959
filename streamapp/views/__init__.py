"""HTTP routes on each worker's web server: health, metrics, table views, ingest is in ingest/."""
