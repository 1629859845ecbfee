package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/storetest"
	"github.com/herald-sh/herald/internal/whatsapp"
)

func TestAPITokens(t *testing.T) {
	t.Parallel()

	hello := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") })
	get := func(b *testBundle, path, auth string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return b.do(req)
	}

	t.Run("NoTokensConfigured", func(t *testing.T) {
		t.Parallel()
		b := setupOn(t, storetest.Pool(t), Config{})
		b.server.Mount("GET /api/v1/hello", hello)
		for _, auth := range []string{"", "Bearer anything", "Bearer "} {
			rec := get(b, "/api/v1/hello", auth)
			require.Equal(t, http.StatusServiceUnavailable, rec.Code)
			require.Equal(t, "API disabled: no API tokens configured", decodeError(t, rec.Body).Error)
		}
	})

	t.Run("Tokens", func(t *testing.T) {
		t.Parallel()
		b := setupOn(t, storetest.Pool(t), Config{APITokens: []whatsapp.Secret{"", "other-token", testAPIToken}})
		b.server.Mount("GET /api/v1/hello", hello)
		b.server.Mount("GET /dashboard/hello", hello)

		for name, auth := range map[string]string{
			"Missing":     "",
			"Wrong":       "Bearer not-a-token",
			"Prefix":      "Bearer " + testAPIToken.Reveal()[:5],
			"Longer":      "Bearer " + testAPIToken.Reveal() + "x",
			"Empty":       "Bearer ",
			"OtherScheme": "Basic " + testAPIToken.Reveal(),
			"NoScheme":    testAPIToken.Reveal(),
		} {
			rec := get(b, "/api/v1/hello", auth)
			require.Equal(t, http.StatusUnauthorized, rec.Code, name)
			require.Equal(t, `Bearer realm="herald"`, rec.Header().Get("WWW-Authenticate"), name)
			require.Equal(t, "missing or invalid bearer token", decodeError(t, rec.Body).Error, name)
		}

		rec := get(b, "/api/v1/hello", "Bearer "+testAPIToken.Reveal())
		require.Equal(t, http.StatusOK, rec.Code)
		require.Equal(t, "hello", rec.Body.String())
		rec = get(b, "/api/v1/hello", "bearer other-token")
		require.Equal(t, http.StatusOK, rec.Code, "the scheme is case-insensitive")

		rec = get(b, "/api/v1/nothing-here", "Bearer "+testAPIToken.Reveal())
		require.Equal(t, http.StatusNotFound, rec.Code)
		require.Equal(t, "not found", decodeError(t, rec.Body).Error)
		rec = get(b, "/api/v1/nothing-here", "")
		require.Equal(t, http.StatusUnauthorized, rec.Code, "unmounted API paths are behind the token too")

		rec = get(b, "/dashboard/hello", "")
		require.Equal(t, http.StatusOK, rec.Code, "only /api/ paths take a bearer token")

		require.NotContains(t, b.logs.String(), testAPIToken.Reveal())
	})
}
