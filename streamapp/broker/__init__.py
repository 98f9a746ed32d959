"""The embedded Apache Kafka broker for laptops and CI (Maven Central jars, KRaft)."""
