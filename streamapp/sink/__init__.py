"""Stage ⑥, the sink: closed windows encoded as Avro records for ``aggregates.<name>``.

Pure: encoding only. Producing the records and publishing schemas on ``streamapp.schemas`` is
the edge's job.
"""
