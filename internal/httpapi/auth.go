package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/herald-sh/herald/internal/whatsapp"
)

// requireToken lets a request through to next only with an Authorization
// header "Bearer <token>" naming one of cfg.APITokens. With no token
// configured the API is off and every request gets 503, so that a
// deployment without tokens is never an open API.
func (s *Server) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.cfg.APITokens) == 0 {
			s.writeError(w, r, errAPIDisabled)
			return
		}
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || !anySecretEqual(strings.TrimSpace(token), s.cfg.APITokens) {
			s.writeError(w, r, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// anySecretEqual reports whether got equals one of secrets. It compares with
// every secret, each in constant time, so the answer's timing says neither
// which secret matched nor how much of one did.
func anySecretEqual(got string, secrets []whatsapp.Secret) bool {
	match := 0
	for _, s := range secrets {
		match |= secretEqual(got, s)
	}
	return match == 1
}

// secretEqual returns 1 when got equals want, in time that depends on
// neither: both sides are hashed first, so even their lengths do not show.
// An empty secret matches nothing.
func secretEqual(got string, want whatsapp.Secret) int {
	if want == "" {
		return 0
	}
	g := sha256.Sum256([]byte(got))
	w := sha256.Sum256([]byte(want.Reveal()))
	return subtle.ConstantTimeCompare(g[:], w[:])
}
