package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// readyzTimeout bounds the database ping of /readyz.
const readyzTimeout = 2 * time.Second

// handleHealthz says the process is alive and serving.
func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz says whether the database answers, so that a load balancer
// sends webhooks only to a process that can store them.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyzTimeout)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		s.logger.WarnContext(r.Context(), "readyz: database ping", slog.Any("error", err))
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "database unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
