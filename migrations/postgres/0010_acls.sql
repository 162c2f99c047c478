-- Access control lists, as Kafka models them (internal/acl): the numbers
-- are Kafka's wire values of resource type, pattern type, operation and
-- permission. An ACL is its seven fields; storing one twice is a no-op.
--
-- acl_version is one row whose version every change of acls bumps in the
-- same transaction: each node polls it and reads the ACLs again when it
-- moved, so a change made through one node is enforced on every other
-- within a poll interval.

CREATE TABLE acls (
	resource_type smallint NOT NULL,
	resource_name text NOT NULL,
	pattern_type smallint NOT NULL,
	principal text NOT NULL,
	host text NOT NULL,
	operation smallint NOT NULL,
	permission smallint NOT NULL,
	PRIMARY KEY (resource_type, resource_name, pattern_type, principal, host, operation, permission)
);

CREATE TABLE acl_version (
	id smallint PRIMARY KEY CHECK (id = 1),
	version bigint NOT NULL
);

INSERT INTO acl_version (id, version) VALUES (1, 0);
