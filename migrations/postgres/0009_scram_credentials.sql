-- SCRAM credentials (RFC 5802), one row per user and mechanism, as Kafka's
-- DescribeUserScramCredentials and AlterUserScramCredentials manage them.
-- Only the salt, the iteration count and the two keys derived from the
-- salted password are kept: they let a server check a client's proof and
-- prove itself, but give neither the password nor the salted password a
-- client authenticates with.
CREATE TABLE scram_credentials (
    username   text    NOT NULL,
    mechanism  text    NOT NULL CHECK (mechanism IN ('SCRAM-SHA-256', 'SCRAM-SHA-512')),
    salt       bytea   NOT NULL,
    stored_key bytea   NOT NULL,
    server_key bytea   NOT NULL,
    iterations integer NOT NULL CHECK (iterations > 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (username, mechanism)
);
