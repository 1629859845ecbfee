package httpapi

import (
	"context"
	"fmt"

	"github.com/herald-sh/herald/internal/store"
)

// webhookEventInsertMany stores a group-commit batch in one statement: a
// single round trip and, outside a transaction, a single implicit one, so
// the batch commits (and its WAL is flushed) all or none. unnest keeps the
// bodies' order, so ids follow arrival order within a batch.
const webhookEventInsertManySQL = `INSERT INTO webhook_events (body) SELECT unnest($1::bytea[])`

func webhookEventInsertMany(ctx context.Context, db store.DBTX, bodies [][]byte) error {
	if _, err := db.Exec(ctx, webhookEventInsertManySQL, bodies); err != nil {
		return fmt.Errorf("insert %d webhook events: %w", len(bodies), err)
	}
	return nil
}
