-- Per-listener advertised addresses of the registered nodes, as in the
-- PostgreSQL schema version 8: Kafka's advertised.listeners form,
-- "NAME://host:port,...", or '' for a node with only host and port.
ALTER TABLE cluster_nodes ADD COLUMN listeners TEXT NOT NULL DEFAULT '';
