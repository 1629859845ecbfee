package wasim

import (
	"net/http"
	"strconv"

	"github.com/herald-sh/herald/internal/whatsapp"
)

// httpStatusFor gives the HTTP status Meta's older error table lists for a
// code (reference §4, "HTTP (old)"); herald must branch on the code, but a
// faithful simulator answers with the status too.
func httpStatusFor(code int) int {
	switch {
	case code == 132001:
		return http.StatusNotFound
	case code == 0 || code == 190:
		return http.StatusUnauthorized
	case code == 10 || (code >= 200 && code <= 299) || code == 131005 || code == 131031 || code == 368 || code == 130497:
		return http.StatusForbidden
	case code == 131016 || code == 2:
		return http.StatusServiceUnavailable
	case code == 131000 || code == 131057 || code == 3 || code == 131045:
		return http.StatusInternalServerError
	default:
		return http.StatusBadRequest
	}
}

// newError builds a Cloud API error with Meta's message shape "(#code)
// title" and the given details.
func newError(code int, details string) *whatsapp.Error {
	return &whatsapp.Error{
		HTTPStatus: httpStatusFor(code),
		Code:       code,
		Type:       "OAuthException",
		Message:    "(#" + strconv.Itoa(code) + ") " + whatsapp.CodeTitle(code),
		Details:    details,
	}
}

// writeError answers apiErr in Meta's body shape, with a fresh fbtrace_id.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, apiErr *whatsapp.Error) {
	e := *apiErr
	e.FBTraceID = s.traceID()
	s.writeJSON(w, r, e.HTTPStatus, &e)
}
