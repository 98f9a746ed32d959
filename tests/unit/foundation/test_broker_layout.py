from __future__ import annotations

from streamapp.broker import embedded
from streamapp.config import load_settings


def test_cluster_ids_never_start_with_a_dash() -> None:
    """The storage tool's parser reads an id starting with "-" as an option (1 in 64 ids)."""
    ids = [embedded.new_cluster_id() for _ in range(5000)]
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids)


def test_server_properties_follow_the_bootstrap_setting(tmp_path) -> None:
    settings = load_settings(
        {
            "STREAMAPP_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19500",
            "STREAMAPP_DATA_DIR": str(tmp_path),
        }
    )
    layout = embedded.layout_for(settings)
    props = embedded.server_properties(layout)
    assert "listeners=PLAINTEXT://127.0.0.1:19500,CONTROLLER://127.0.0.1:19501" in props
    assert "auto.create.topics.enable=false" in props
    assert f"log.dirs={tmp_path.resolve() / 'broker' / 'data'}" in props
