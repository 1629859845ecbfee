package main

import (
	"bytes"
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/herald-sh/herald/importer"
)

// importDemoList loads the bundled sample list through the importer, as
// `herald import` would: Brazilian numbers may be written without +55.
func (a *app) importDemoList(ctx context.Context, pool *pgxpool.Pool) (*importer.Summary, error) {
	svc := importer.NewService(a.logger, importer.Config{}, pool)
	return svc.Import(ctx, bytes.NewReader(demoContacts), importer.Options{
		List:           demoList,
		FileName:       "contacts.csv",
		DefaultCountry: "BR",
	})
}
