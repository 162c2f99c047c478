package migrations

import "embed"

// SQLite holds the schema migrations of the SQLite metastore used by
// `strata dev`, as files named NNNN_description.sql. They are applied in
// version order, each in its own transaction, and never edited once released:
// a change to the schema is a new file.
//
//go:embed sqlite/*.sql
var SQLite embed.FS
