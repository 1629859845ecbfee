package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/herald-sh/herald/campaigns"
	"github.com/herald-sh/herald/internal/httpapi"
	"github.com/herald-sh/herald/internal/pricing"
	"github.com/herald-sh/herald/internal/throttle"
	"github.com/herald-sh/herald/internal/whatsapp"
	"github.com/herald-sh/herald/scheduler"
)

// engineOptions chooses what a process runs.
type engineOptions struct {
	// API sends messages; nil builds a Cloud API client from the config.
	API campaigns.MessageSender
	// Work runs River workers (dispatch, reconciliation, the applier).
	Work bool
	// Listener serves HTTP (webhooks, API, metrics); nil serves nothing.
	Listener net.Listener
	// SendWorkers is how many dispatch jobs run at once in this process.
	SendWorkers int
	// UnknownAfter is how long an unanswered send may stay in flight.
	UnknownAfter time.Duration
	// JobTimeout bounds one dispatch job; a job of a killed process is
	// rescued after twice that.
	JobTimeout time.Duration
	// RequestTimeout bounds one Cloud API call (default 30s).
	RequestTimeout time.Duration
	// ChunkSize is how many sends a dispatch job claims at a time
	// (0: campaigns.DispatchConfig's default).
	ChunkSize int
	// Headroom is the share of each sender number's rate the throttle
	// leaves unused (0: throttle.Config's default).
	Headroom float64
	// DBConns is the most database connections a working engine opens
	// (0: 8 + SendWorkers/2, at least 16). A pool_max_conns in the database
	// URL wins.
	DBConns int
}

// engine is a running herald process: River, dispatch, the webhook applier
// and the HTTP server, wired from the configuration.
type engine struct {
	logger    *slog.Logger
	pool      *pgxpool.Pool
	ownPool   bool // pool was opened for the engine: stop closes it
	app       *app
	restoreGC func()
	river     *river.Client[pgx.Tx]
	service   *campaigns.Service
	applier   *campaigns.Applier
	limiter   *throttle.Limiter
	server    *httpapi.Server
	http      *http.Server
	card      *pricing.Card
	opts      engineOptions
	httpErr   chan error
}

func (a *app) newEngine(pool *pgxpool.Pool, opts engineOptions) (*engine, error) {
	if opts.SendWorkers == 0 {
		opts.SendWorkers = 20
	}
	if opts.UnknownAfter == 0 {
		opts.UnknownAfter = 10 * time.Minute
	}
	if opts.JobTimeout == 0 {
		opts.JobTimeout = 10 * time.Minute
	}
	api := opts.API
	if api == nil {
		api = whatsapp.NewClient(whatsapp.Config{BaseURL: a.cfg.APIURL, APIVersion: a.cfg.APIVersion, Token: a.cfg.Token,
			HTTPClient: apiHTTPClient(opts.SendWorkers)})
	}
	var ownPool bool
	if opts.Work {
		p, err := enginePool(pool, cmp.Or(opts.DBConns, max(16, 8+opts.SendWorkers/2)))
		if err != nil {
			return nil, err
		}
		pool, ownPool = p, p != pool
	}
	e := &engine{logger: a.logger, pool: pool, ownPool: ownPool, app: a, opts: opts, httpErr: make(chan error, 1)}
	e.limiter = throttle.NewLimiter(a.logger, pool, throttle.Config{Headroom: opts.Headroom})
	card, err := a.cfg.card()
	if err != nil {
		return nil, err
	}
	e.card = card
	e.applier = campaigns.NewApplier(a.logger, pool, campaigns.ApplierConfig{Card: card, OptOutWords: a.cfg.OptOutWords})
	dispatcher := campaigns.NewDispatcher(a.logger, pool, api, e.limiter, campaigns.DispatchConfig{RequestTimeout: opts.RequestTimeout, ChunkSize: opts.ChunkSize})

	workers := river.NewWorkers()
	river.AddWorker(workers, &campaigns.SendBatchWorker{Dispatcher: dispatcher})
	river.AddWorker(workers, &campaigns.ReconcileWorker{Pool: pool, UnknownAfter: opts.UnknownAfter})
	// StartWorker needs the service, which needs the client: set below.
	startWorker := &campaigns.StartWorker{}
	river.AddWorker(workers, startWorker)
	tickWorker := &scheduler.TickWorker{}
	river.AddWorker(workers, tickWorker)

	rcfg := &river.Config{
		Logger:               quietRiver(a.logger),
		Workers:              workers,
		JobTimeout:           opts.JobTimeout,
		RescueStuckJobsAfter: 2 * opts.JobTimeout,
		PeriodicJobs: []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(15*time.Second),
				func() (river.JobArgs, *river.InsertOpts) { return campaigns.ReconcileArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
			scheduler.PeriodicJob(),
		},
	}
	if opts.Work {
		rcfg.Queues = map[string]river.QueueConfig{
			river.QueueDefault:   {MaxWorkers: 4},
			campaigns.QueueSends: {MaxWorkers: opts.SendWorkers},
		}
		rcfg.FetchCooldown = 20 * time.Millisecond
		rcfg.FetchPollInterval = 200 * time.Millisecond
	}
	client, err := river.NewClient(riverpgxv5.New(pool), rcfg)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	e.river = client
	e.service = campaigns.NewService(a.logger, pool, client, campaigns.Config{})
	startWorker.Service = e.service
	tickWorker.Scheduler = scheduler.NewScheduler(a.logger, pool, e.service, scheduler.Config{})

	if opts.Listener != nil {
		e.server = httpapi.NewServer(a.logger, pool, httpapi.Config{
			AppSecret:   a.cfg.AppSecret,
			VerifyToken: a.cfg.VerifyToken,
			APITokens:   a.cfg.APITokens,
		})
		e.server.OnStored(e.applier.Wake)
		e.server.MustRegister(throttleMetrics(e.limiter)...)
		a.mountAPI(e, pool, tickWorker.Scheduler)
		e.http = &http.Server{Handler: e.server.Handler(), ReadHeaderTimeout: 10 * time.Second}
	}
	return e, nil
}

// workerGC makes the garbage collector of a working process run less often:
// a worker allocates for every request and answer (JSON, HTTP) while its
// live heap stays small whatever the campaign's size, and at the default
// GOGC the collector took about a quarter of its CPU at 7,000 sends/s.
// Collecting at five times the live heap, but never letting the heap pass
// 200 MB, keeps the process well under 300 MB. A GOGC or GOMEMLIMIT in the
// environment is left alone. It returns the function restoring the
// settings.
func (a *app) workerGC() (restore func()) {
	if a.getenv("GOGC") != "" || a.getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	gc := debug.SetGCPercent(400)
	limit := debug.SetMemoryLimit(200 << 20)
	return func() {
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(limit)
	}
}

func (e *engine) start(ctx context.Context) error {
	if e.server != nil {
		e.server.Start(ctx)
		go func() {
			if err := e.http.Serve(e.opts.Listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				e.httpErr <- err
			}
		}()
	}
	if e.opts.Work {
		e.restoreGC = e.app.workerGC()
		if err := e.limiter.Start(ctx); err != nil {
			return fmt.Errorf("start throttle: %w", err)
		}
		e.applier.Start(ctx)
		if err := e.river.Start(ctx); err != nil {
			return fmt.Errorf("start river: %w", err)
		}
	}
	return nil
}

// stop shuts down in order: HTTP (no new webhooks), River (jobs finish their
// chunk), the applier, the throttle membership.
func (e *engine) stop(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if e.http != nil {
		if err := e.http.Shutdown(ctx); err != nil {
			e.logger.Error("http shutdown", slog.Any("error", err))
		}
		e.server.Stop()
	}
	if e.opts.Work {
		if err := e.river.Stop(ctx); err != nil {
			e.logger.Error("river stop", slog.Any("error", err))
		}
		e.applier.Stop()
		e.limiter.Stop()
		st := e.limiter.Stats()
		e.logger.Info("throttle", slog.Int64("leases", st.Leases), slog.Int64("slots", st.Slots),
			slog.Int64("held_back", st.HeldBack), slog.Int64("top_ups", st.TopUps))
		if e.ownPool {
			e.pool.Close()
		}
		if e.restoreGC != nil {
			e.restoreGC()
		}
	}
}

// enginePool returns a pool like base with up to conns connections, unless
// the database URL sets pool_max_conns. pgxpool's default, the larger of 4
// and the number of CPUs, is too few for a worker: every running dispatch job
// claims and commits, and River, the applier, the webhook writer and the
// throttle need connections of their own.
func enginePool(base *pgxpool.Pool, conns int) (*pgxpool.Pool, error) {
	cfg := base.Config()
	if strings.Contains(cfg.ConnString(), "pool_max_conns") {
		return base, nil
	}
	cfg.MaxConns = int32(conns)
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("open worker pool: %w", err)
	}
	return p, nil
}

// apiHTTPClient is the Cloud API client's transport. Every request goes to
// one host, and net/http keeps only two idle connections per host by
// default: at hundreds of sends per second the rest would be opened and
// closed for each request, and loopback benchmarks run out of ports. It keeps
// as many idle connections as requests can be in flight. Requests time out
// through their context (DispatchConfig.RequestTimeout).
func apiHTTPClient(sendWorkers int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(256, 64*sendWorkers)
	t.MaxIdleConnsPerHost = t.MaxIdleConns
	return &http.Client{Transport: t}
}

// quietRiver keeps River's info chatter (client started, leader elected) out
// of herald's output; its warnings and errors still show.
func quietRiver(l *slog.Logger) *slog.Logger {
	return slog.New(minLevel{l.Handler(), slog.LevelWarn})
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{m.Handler.WithAttrs(a), m.min}
}
func (m minLevel) WithGroup(n string) slog.Handler { return minLevel{m.Handler.WithGroup(n), m.min} }

// throttleMetrics exports the throttle's counters. Held-back messages and
// top-up leases climbing are the sign of a host that cannot keep up with
// its numbers' rates (see throttle.Limiter.Depart).
func throttleMetrics(l *throttle.Limiter) []prometheus.Collector {
	counter := func(name, help string, v func(throttle.Stats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(l.Stats())) })
	}
	return []prometheus.Collector{
		counter("herald_throttle_leases_total", "Leases of sender-number slots taken by this process.",
			func(s throttle.Stats) int64 { return s.Leases }),
		counter("herald_throttle_slots_total", "Slots of sender numbers' schedules taken by this process.",
			func(s throttle.Stats) int64 { return s.Slots }),
		counter("herald_throttle_held_back_total", "Messages held back at departure because this process's last second already carried its slots.",
			func(s throttle.Stats) int64 { return s.HeldBack }),
		counter("herald_throttle_top_ups_total", "Leases taken for messages held back at departure.",
			func(s throttle.Stats) int64 { return s.TopUps }),
		counter("herald_throttle_slow_downs_total", "Answers 130429 (the number's throughput reached) this process saw; they lower the number's rate for a while, once per second at most.",
			func(s throttle.Stats) int64 { return s.SlowDowns }),
	}
}
