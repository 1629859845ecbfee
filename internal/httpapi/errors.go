package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/herald-sh/herald/internal/store"
	"github.com/herald-sh/herald/internal/whatsapp"
)

// ValidationError says which input fields are wrong and why. writeError
// answers it with 422 and the fields in the body.
type ValidationError struct {
	Fields map[string]string // field name → problem
}

// Error implements error, listing the fields in name order.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid input")
	for i, k := range slices.Sorted(maps.Keys(e.Fields)) {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(k + ": " + e.Fields[k])
	}
	return b.String()
}

// Errors of this package's own handlers.
var (
	errRouteNotFound    = errors.New("no such route")
	errChallengeRefused = errors.New("webhook verification refused")
	errUnauthorized     = errors.New("missing or invalid bearer token")
	errAPIDisabled      = errors.New("API disabled: no API tokens configured")
	errWebhooksDisabled = errors.New("webhook receiver disabled: no app secret configured")
	errBodyTooLarge     = errors.New("request body too large")
	errBodyUnreadable   = errors.New("request body unreadable")
	errInvalidJSON      = errors.New("request body is not JSON")
)

// errorCodes is the one table from error to HTTP status and public message.
// The first entry that errors.Is matches wins. Errors in no row are 500s.
var errorCodes = []struct {
	err     error
	status  int
	message string // what the client is told; never the wrapped details
}{
	{store.ErrNotFound, http.StatusNotFound, "not found"},
	{errRouteNotFound, http.StatusNotFound, "not found"},
	{store.ErrConflict, http.StatusConflict, "conflict"},
	{errChallengeRefused, http.StatusForbidden, "verification refused"},
	{errUnauthorized, http.StatusUnauthorized, "missing or invalid bearer token"},
	{whatsapp.ErrSignatureMissing, http.StatusUnauthorized, "signature missing"},
	{whatsapp.ErrSignatureMalformed, http.StatusUnauthorized, "signature malformed"},
	{whatsapp.ErrSignatureMismatch, http.StatusUnauthorized, "signature mismatch"},
	{errBodyTooLarge, http.StatusRequestEntityTooLarge, "request body too large"},
	{errBodyUnreadable, http.StatusBadRequest, "request body unreadable"},
	{errInvalidJSON, http.StatusBadRequest, "request body is not JSON"},
	{errAPIDisabled, http.StatusServiceUnavailable, "API disabled: no API tokens configured"},
	{errWebhooksDisabled, http.StatusServiceUnavailable, "webhook receiver disabled: no app secret configured"},
	{whatsapp.ErrAppSecretMissing, http.StatusServiceUnavailable, "webhook receiver disabled: no app secret configured"},
	{errStoreUnavailable, http.StatusServiceUnavailable, "temporarily unavailable"},
	{errWriterNotRunning, http.StatusServiceUnavailable, "temporarily unavailable"},
	// The client left or the request timed out; any answer is moot.
	{context.Canceled, http.StatusServiceUnavailable, "temporarily unavailable"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, "temporarily unavailable"},
}

// errorBody is the JSON shape of every error answer.
type errorBody struct {
	Error  string            `json:"error"`
	Fields map[string]string `json:"fields,omitempty"`
}

// writeError answers err as JSON with the status errorCodes gives it. An
// error the table does not know is a 500 whose body says only "internal
// error"; it is logged here, once, in full.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := errorResponse(err)
	if status == http.StatusInternalServerError {
		s.logger.ErrorContext(r.Context(), "internal error",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
	}
	if status == http.StatusUnauthorized && errors.Is(err, errUnauthorized) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
	}
	writeJSON(w, status, body)
}

func errorResponse(err error) (int, errorBody) {
	if ve, ok := errors.AsType[*ValidationError](err); ok {
		return http.StatusUnprocessableEntity, errorBody{Error: "invalid input", Fields: ve.Fields}
	}
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return c.status, errorBody{Error: c.message}
		}
	}
	return http.StatusInternalServerError, errorBody{Error: "internal error"}
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a programming error (an unencodable type) gets here.
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
