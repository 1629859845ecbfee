package main

import (
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/herald-sh/herald/importer"
	"github.com/herald-sh/herald/internal/httpapi"
	"github.com/herald-sh/herald/scheduler"
)

// mountAPI adds the REST API under /api/v1 to the engine's HTTP server.
func (a *app) mountAPI(e *engine, pool *pgxpool.Pool, sched *scheduler.Scheduler) {
	e.server.MountAPI(httpapi.APIDeps{
		Campaigns: e.service,
		Importer:  importer.NewService(a.logger, importer.Config{}, pool),
		Scheduler: sched,
		Pool:      pool,
		Card:      e.card,
	})
}
