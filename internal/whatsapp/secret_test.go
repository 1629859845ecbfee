package whatsapp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSecretRedaction(t *testing.T) {
	t.Parallel()

	const value = "EAAG-super-secret-token"
	s := Secret(value)
	cfg := Config{BaseURL: "http://x", Token: s}

	require.Equal(t, value, s.Reveal())

	printed := []string{
		fmt.Sprintf("%v", s),
		fmt.Sprintf("%s", s),
		fmt.Sprintf("%+v", s),
		fmt.Sprintf("%#v", s),
		fmt.Sprintf("%q", s),
		fmt.Sprintf("%x", s),
		fmt.Sprintf("%d", s),
		fmt.Sprint(s),
		fmt.Sprintf("%v", cfg),
		fmt.Sprintf("%+v", cfg),
		fmt.Sprintf("%#v", cfg),
		s.String(),
	}
	client := NewClient(cfg)
	for _, out := range []string{fmt.Sprintf("%v", client), fmt.Sprintf("%+v", *client), fmt.Sprintf("%#v", client)} {
		require.NotContains(t, out, value)
	}
	for _, out := range printed {
		require.NotContains(t, out, value)
		require.Contains(t, out, "[redacted]")
	}

	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	logger.Info("config", "token", s, "cfg", cfg)
	require.NotContains(t, buf.String(), value)
	require.Contains(t, buf.String(), `"token":"[redacted]"`)

	buf.Reset()
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "token", s)
	require.NotContains(t, buf.String(), value)

	b, err := json.Marshal(map[string]any{"token": s, "cfg": cfg})
	require.NoError(t, err)
	require.NotContains(t, string(b), value)
	require.Contains(t, string(b), `"token":"[redacted]"`)
}
