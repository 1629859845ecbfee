package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/store"
	"github.com/herald-sh/herald/internal/storetest"
	"github.com/herald-sh/herald/internal/whatsapp"
)

func TestWriteError(t *testing.T) {
	t.Parallel()

	for name, tt := range map[string]struct {
		err    error
		status int
		body   string
		logged bool
	}{
		"NotFound": {
			err:    fmt.Errorf("get campaign 12: %w", store.ErrNotFound),
			status: http.StatusNotFound,
			body:   `{"error":"not found"}`,
		},
		"Conflict": {
			err:    fmt.Errorf("create list %q: %w", "vip", store.ErrConflict),
			status: http.StatusConflict,
			body:   `{"error":"conflict"}`,
		},
		"Validation": {
			err:    fmt.Errorf("create campaign: %w", &ValidationError{Fields: map[string]string{"template": "required", "send_at": "in the past"}}),
			status: http.StatusUnprocessableEntity,
			body:   `{"error":"invalid input","fields":{"send_at":"in the past","template":"required"}}`,
		},
		"SignatureMismatch": {
			err:    whatsapp.ErrSignatureMismatch,
			status: http.StatusUnauthorized,
			body:   `{"error":"signature mismatch"}`,
		},
		"Unknown": {
			err:    errors.New("connect 10.0.0.5: password authentication failed for user herald"),
			status: http.StatusInternalServerError,
			body:   `{"error":"internal error"}`,
			logged: true,
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setupOn(t, storetest.Pool(t), Config{})
			rec := httptest.NewRecorder()
			b.server.writeError(rec, httptest.NewRequest(http.MethodGet, "/api/v1/x", nil), tt.err)
			require.Equal(t, tt.status, rec.Code)
			require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			require.JSONEq(t, tt.body, rec.Body.String())
			if tt.logged {
				require.Equal(t, 1, strings.Count(b.logs.String(), "password authentication failed"), "logged once, in full")
			} else {
				require.Empty(t, b.logs.String())
			}
		})
	}
}

func TestValidationErrorMessage(t *testing.T) {
	t.Parallel()
	err := &ValidationError{Fields: map[string]string{"b": "too long", "a": "required"}}
	require.Equal(t, "invalid input: a: required; b: too long", err.Error())
}
