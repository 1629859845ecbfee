package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/herald-sh/herald/internal/whatsapp"
)

// handleWebhookChallenge answers Meta's subscription check (reference §3.1):
// the bare hub.challenge when hub.mode is "subscribe" and hub.verify_token
// matches, 403 otherwise.
func (s *Server) handleWebhookChallenge(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("hub.mode") != "subscribe" || secretEqual(q.Get("hub.verify_token"), s.cfg.VerifyToken) != 1 {
		s.writeError(w, r, errChallengeRefused)
		return
	}
	// The challenge is reflected as is; plain text and nosniff keep a
	// browser from running it.
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, q.Get("hub.challenge"))
}

// handleWebhookNotification stores a signed notification and answers 200
// once it is committed. Every refusal happens before anything is stored.
func (s *Server) handleWebhookNotification(w http.ResponseWriter, r *http.Request) {
	s.metrics.received.Inc()
	if s.cfg.AppSecret == "" {
		s.refuse(w, r, reasonNotConfigured, errWebhooksDisabled)
		return
	}
	body, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if errors.Is(err, errBodyTooLarge) {
		s.refuse(w, r, reasonTooLarge, err)
		return
	}
	if err != nil {
		s.refuse(w, r, reasonUnreadable, err)
		return
	}
	// The HMAC covers the bytes as received: Meta signs the escaped form on
	// the wire, so nothing may be decoded or re-encoded before this.
	if err := whatsapp.VerifySignature(body, r.Header.Get(whatsapp.SignatureHeader), s.cfg.AppSecret); err != nil {
		s.refuse(w, r, signatureReason(err), err)
		return
	}
	// Checked only after the signature, so that a forger learns nothing
	// from the answer; refused because no applier could ever use it.
	if !json.Valid(body) {
		s.refuse(w, r, reasonInvalidJSON, errInvalidJSON)
		return
	}
	if err := s.writer.submit(r.Context(), body); err != nil {
		switch {
		case errors.Is(err, errStoreUnavailable):
			s.refuse(w, r, reasonCommitFailed, err)
		case errors.Is(err, errWriterNotRunning):
			s.refuse(w, r, reasonNotRunning, err)
		default: // the request's context ended: nobody reads the answer
			s.refuse(w, r, reasonClientGone, err)
		}
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, reason string, err error) {
	s.metrics.reject(reason)
	s.writeError(w, r, err)
}

func signatureReason(err error) string {
	switch {
	case errors.Is(err, whatsapp.ErrSignatureMissing):
		return reasonSignatureMissing
	case errors.Is(err, whatsapp.ErrSignatureMismatch):
		return reasonSignatureMismatch
	case errors.Is(err, whatsapp.ErrAppSecretMissing):
		return reasonNotConfigured
	default:
		return reasonSignatureMalformed
	}
}

// readBody reads at most limit bytes of r's body; a longer body is
// errBodyTooLarge, refused before it is read when Content-Length says so.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errBodyTooLarge
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	var (
		b   []byte
		err error
	)
	if r.ContentLength >= 0 {
		// The server stops the body at Content-Length, so one exact
		// allocation holds it all.
		b = make([]byte, r.ContentLength)
		_, err = io.ReadFull(body, b)
	} else {
		b, err = io.ReadAll(body)
	}
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, errBodyTooLarge
		}
		return nil, errors.Join(errBodyUnreadable, err)
	}
	return b, nil
}
