package httpapi

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/herald-sh/herald/internal/whatsapp"
)

// Defaults for Config fields left zero.
const (
	// DefaultMaxBodyBytes is 3 MiB, Meta's largest payload (reference §3.5),
	// plus half a MiB of margin.
	DefaultMaxBodyBytes int64 = 3<<20 + 512<<10
	// DefaultCommitMaxBatch is the most webhook events one INSERT carries.
	DefaultCommitMaxBatch = 500
	// DefaultCommitMaxWait is how long the writer waits for a batch to fill.
	DefaultCommitMaxWait = 2 * time.Millisecond
)

// Config configures a Server.
type Config struct {
	// AppSecret keys the X-Hub-Signature-256 HMAC of webhook bodies. Empty
	// disables the webhook receiver: every POST gets 503 and nothing is stored.
	AppSecret whatsapp.Secret
	// VerifyToken is the token Meta echoes in the GET verification challenge.
	// Empty refuses every challenge with 403.
	VerifyToken whatsapp.Secret
	// MaxBodyBytes is the largest webhook body accepted, in bytes; larger ones
	// get 413. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// CommitMaxBatch is the most events the group-commit writer inserts in one
	// statement. Default DefaultCommitMaxBatch.
	CommitMaxBatch int
	// CommitMaxWait is how long the writer waits, after taking the first event
	// of a batch, for more to arrive before it commits. Default
	// DefaultCommitMaxWait; negative means no wait (commit whatever is queued).
	CommitMaxWait time.Duration
	// APITokens are the bearer tokens accepted on /api/v1. None configured
	// disables the API: every /api/v1 request gets 503 with a JSON error.
	APITokens []whatsapp.Secret
}

func (c Config) withDefaults() Config {
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, DefaultMaxBodyBytes)
	c.CommitMaxBatch = cmp.Or(c.CommitMaxBatch, DefaultCommitMaxBatch)
	c.CommitMaxWait = cmp.Or(c.CommitMaxWait, DefaultCommitMaxWait)
	if c.CommitMaxWait < 0 {
		c.CommitMaxWait = 0
	}
	return c
}

func (c Config) mustValidate() {
	if c.MaxBodyBytes < 0 {
		panic("httpapi: Config.MaxBodyBytes is negative")
	}
	if c.CommitMaxBatch < 0 {
		panic("httpapi: Config.CommitMaxBatch is negative")
	}
}

// Server holds herald's HTTP routes and the webhook group-commit writer.
// Build it with NewServer, serve Handler with an http.Server, and bracket
// serving with Start and Stop.
type Server struct {
	logger  *slog.Logger
	pool    *pgxpool.Pool
	cfg     Config
	mux     *http.ServeMux
	handler http.Handler
	metrics *metrics
	writer  *writer
}

// NewServer builds a Server on pool. It panics on a negative size in cfg,
// which is a programming error.
func NewServer(logger *slog.Logger, pool *pgxpool.Pool, cfg Config) *Server {
	cfg.mustValidate()
	cfg = cfg.withDefaults()
	s := &Server{
		logger:  logger,
		pool:    pool,
		cfg:     cfg,
		mux:     http.NewServeMux(),
		metrics: newMetrics(),
	}
	s.writer = newWriter(logger, s.metrics, cfg.CommitMaxBatch, cfg.CommitMaxWait,
		func(ctx context.Context, bodies [][]byte) error { return webhookEventInsertMany(ctx, pool, bodies) })
	s.routes()
	s.handler = s.instrument(s.mux)
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /webhooks/whatsapp", s.handleWebhookChallenge)
	s.mux.HandleFunc("POST /webhooks/whatsapp", s.handleWebhookNotification)
	s.mux.HandleFunc("GET /healthz", s.handleHealthz)
	s.mux.HandleFunc("GET /readyz", s.handleReadyz)
	s.mux.Handle("GET /metrics", s.metrics.handler())
	// Every /api/v1 path answers in JSON behind the token check, including
	// the ones nothing has mounted yet.
	s.mux.Handle("/api/v1/", s.requireToken(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errRouteNotFound)
	})))
}

// Handler returns the HTTP handler serving every route.
func (s *Server) Handler() http.Handler { return s.handler }

// Mount adds a route owned by another package. Patterns whose path is under
// /api/ are wrapped in the bearer-token check; others are mounted as given.
// Like http.ServeMux.Handle, it panics on a pattern that conflicts with an
// existing one.
func (s *Server) Mount(pattern string, h http.Handler) {
	if strings.HasPrefix(patternPath(pattern), "/api/") {
		h = s.requireToken(h)
	}
	s.mux.Handle(pattern, h)
}

// patternPath drops the method and host of a ServeMux pattern.
func patternPath(pattern string) string {
	if _, after, ok := strings.Cut(pattern, " "); ok {
		pattern = strings.TrimLeft(after, " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:]
	}
	return pattern
}

// Start starts the group-commit writer. Until it runs, webhook POSTs get 503.
// The writer stops, after committing what it holds, when ctx ends or Stop is
// called. Calling Start more than once has no effect.
func (s *Server) Start(ctx context.Context) { s.writer.start(ctx) }

// Stop stops the group-commit writer after it has committed every event
// already handed to it, and returns once it has. Stop the http.Server first
// (Shutdown) so that no request is still arriving.
func (s *Server) Stop() { s.writer.stop() }

// OnStored registers f to be called, on the writer goroutine, after each
// batch of webhook events commits, so that an applier in the same process can
// wake up instead of polling. f must not block: a non-blocking send on a
// channel of capacity one is the intended use.
func (s *Server) OnStored(f func()) { s.writer.onStored(f) }
