// Package migrations holds herald's numbered SQL migrations, embedded so that
// the binary carries its own schema. Each file NNNN_name.up.sql runs once, in
// its own transaction, and is recorded in schema_migrations. An applied file is
// never edited: a change to the schema is a new file.
package migrations

import "embed"

// FS holds every *.up.sql file, in name order.
//
//go:embed *.up.sql
var FS embed.FS
