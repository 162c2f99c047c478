-- Per-listener advertised addresses of the registered nodes.
--
-- A node with several listeners (PLAINTEXT, SSL, SASL_SSL, ...) advertises
-- one address on each, and a client is told the addresses of the listener
-- it connected on. listeners holds them in Kafka's advertised.listeners
-- form, "NAME://host:port,..."; '' for a node that registered only host
-- and port (a node of an earlier version, whose one listener those are).
ALTER TABLE cluster_nodes ADD COLUMN listeners text NOT NULL DEFAULT '';
