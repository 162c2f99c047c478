// Package migrations holds the metastore schema of each backend as plain SQL
// files, embedded into the binary. File names start with the schema version
// number (0001_init.sql); versions are applied in order, forward only.
// Load reads them for either backend, which applies them its own way.
package migrations

import "embed"

// Postgres holds the PostgreSQL migrations, postgres/NNNN_name.sql.
//
//go:embed postgres/*.sql
var Postgres embed.FS
