package whatsapp

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseError(t *testing.T) {
	t.Parallel()

	t.Run("Throughput", func(t *testing.T) {
		t.Parallel()
		e := ParseError(400, readTestdata(t, "error_130429.json"))
		require.Equal(t, &Error{
			HTTPStatus: 400,
			Code:       130429,
			Type:       "OAuthException",
			Message:    "(#130429) Rate limit hit",
			Title:      "Rate limit hit",
			Details:    "Cloud API message throughput has been reached.",
			FBTraceID:  "Az8or2yhqkZfEZ-_4Qn_Bam",
		}, e)
		require.Equal(t, "cloud api error 130429 (http 400): (#130429) Rate limit hit: Cloud API message throughput has been reached. [fbtrace Az8or2yhqkZfEZ-_4Qn_Bam]", e.Error())
	})

	t.Run("UserTitle", func(t *testing.T) {
		t.Parallel()
		e := ParseError(400, readTestdata(t, "error_131026.json"))
		require.Equal(t, 131026, e.Code)
		require.Equal(t, "Message undeliverable", e.Title)
		require.Contains(t, e.Details, "not a WhatsApp phone number")
		require.Equal(t, "A1b2C3d4E5f6G7h8I9j0", e.FBTraceID)
	})

	t.Run("TemplateMissing404", func(t *testing.T) {
		t.Parallel()
		e := ParseError(404, readTestdata(t, "error_132001.json"))
		require.Equal(t, 132001, e.Code)
		require.Equal(t, 404, e.HTTPStatus)
		require.Equal(t, ActionPauseCampaign, ActionForError(e))
	})

	t.Run("CodeZeroIsAuth", func(t *testing.T) {
		t.Parallel()
		e := ParseError(401, []byte(`{"error":{"message":"(#0) AuthException","type":"OAuthException","code":0}}`))
		require.Equal(t, 0, e.Code)
		require.Equal(t, ActionStopSender, ActionForError(e))
	})

	unparsed := []struct {
		name   string
		status int
		body   string
		want   Action
	}{
		{"HTML502", 502, "<html><body>Bad Gateway</body></html>", ActionRetry},
		{"Empty503", 503, "", ActionRetry},
		{"ErrorWithoutCode500", 500, `{"error":{"message":"boom"}}`, ActionRetry},
		{"Plain429", 429, "Too Many Requests", ActionSlowDown},
		{"HTML404", 404, "<html>Not Found</html>", ActionStopSender},
	}
	for _, tt := range unparsed {
		t.Run("Unparsed"+tt.name, func(t *testing.T) {
			t.Parallel()
			e := ParseError(tt.status, []byte(tt.body))
			require.Equal(t, CodeHTTPUnparsed, e.Code)
			require.Equal(t, tt.status, e.HTTPStatus)
			require.Equal(t, tt.want, ActionForError(e))
		})
	}

	t.Run("RoundTripThroughMarshalJSON", func(t *testing.T) {
		t.Parallel()
		in := &Error{HTTPStatus: 400, Code: 132000, Type: "OAuthException", Message: "(#132000) Number of parameters does not match", Details: "body: expected 2, got 1", FBTraceID: "abc"}
		b, err := json.Marshal(in)
		require.NoError(t, err)
		require.JSONEq(t, `{"error":{"message":"(#132000) Number of parameters does not match","type":"OAuthException","code":132000,
			"error_data":{"messaging_product":"whatsapp","details":"body: expected 2, got 1"},"fbtrace_id":"abc"}}`, string(b))
		out := ParseError(400, b)
		in.Title = CodeTitle(132000)
		require.Equal(t, in, out)
	})
}
