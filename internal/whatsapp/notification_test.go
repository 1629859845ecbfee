package whatsapp

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func parseTestdata(t *testing.T, name string) *Notification {
	t.Helper()
	n, err := ParseNotification(readTestdata(t, name))
	require.NoError(t, err)
	require.Equal(t, ObjectWABA, n.Object)
	return n
}

func TestParseNotification(t *testing.T) {
	t.Parallel()

	const wamid = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
	wantMetadata := Metadata{DisplayPhoneNumber: "15550783881", PhoneNumberID: "106540352242922"}

	t.Run("StatusSent", func(t *testing.T) {
		t.Parallel()
		n := parseTestdata(t, "webhook_status_sent.json")
		require.Equal(t, "102290129340398", n.Entry[0].ID)
		ch := n.Entry[0].Changes[0]
		require.Equal(t, FieldMessages, ch.Field)
		require.Equal(t, wantMetadata, ch.Value.Metadata)
		s := ch.Value.Statuses[0]
		require.Equal(t, wamid, s.ID)
		require.Equal(t, StatusSent, s.Status)
		require.Equal(t, "16505551234", s.RecipientID)
		require.Equal(t, "US.13491208655302741918", s.UserID)
		require.Equal(t, "send:8812", s.BizOpaqueCallbackData)
		require.NotNil(t, s.Pricing)
		require.NotNil(t, s.Pricing.Billable)
		require.True(t, *s.Pricing.Billable)
		require.Equal(t, Pricing{Billable: s.Pricing.Billable, PricingModel: "PMP", Type: "regular", Category: "marketing"}, *s.Pricing)
		require.Nil(t, s.Conversation)
		at, err := s.Time()
		require.NoError(t, err)
		require.Equal(t, time.Unix(1750030070, 0).UTC(), at)
	})

	t.Run("StatusDeliveredAndReadWithUnknownFields", func(t *testing.T) {
		t.Parallel()
		n := parseTestdata(t, "webhook_status_delivered.json")
		st := n.Entry[0].Changes[0].Value.Statuses
		require.Len(t, st, 2)
		require.Equal(t, StatusDelivered, st[0].Status)
		require.Equal(t, &Conversation{ID: "72b1c3d4e5f6", ExpirationTimestamp: "1750116480", Origin: ConversationOrigin{Type: "marketing"}}, st[0].Conversation)
		require.Equal(t, StatusRead, st[1].Status)
		require.Nil(t, st[1].Pricing)
		require.Equal(t, "send:8813", st[1].BizOpaqueCallbackData)
	})

	t.Run("StatusFailed", func(t *testing.T) {
		t.Parallel()
		n := parseTestdata(t, "webhook_status_failed.json")
		s := n.Entry[0].Changes[0].Value.Statuses[0]
		require.Equal(t, StatusFailed, s.Status)
		require.Len(t, s.Errors, 1)
		require.Equal(t, 131049, s.Errors[0].Code)
		require.Contains(t, s.Errors[0].ErrorData.Details, "healthy ecosystem")
		require.NotEmpty(t, s.Errors[0].Href)
		require.Equal(t, ActionDefer, ActionFor(s.Errors[0].Code))
	})

	t.Run("InboundText", func(t *testing.T) {
		t.Parallel()
		v := parseTestdata(t, "webhook_inbound_text.json").Entry[0].Changes[0].Value
		require.Equal(t, []Contact{{Profile: Profile{Name: "Sheena"}, WaID: "16505551234", UserID: "US.13491208655302741918"}}, v.Contacts)
		m := v.Messages[0]
		require.Equal(t, "16505551234", m.From)
		require.Equal(t, "text", m.Type)
		require.Equal(t, &TextBody{Body: "STOP"}, m.Text)
		require.Equal(t, &MessageContext{From: "15550783881", ID: wamid}, m.Context)
		at, err := m.Time()
		require.NoError(t, err)
		require.Equal(t, int64(1750030090), at.Unix())
	})

	t.Run("InboundButton", func(t *testing.T) {
		t.Parallel()
		m := parseTestdata(t, "webhook_inbound_button.json").Entry[0].Changes[0].Value.Messages[0]
		require.Equal(t, "button", m.Type)
		require.Equal(t, &ButtonReply{Payload: "STOP_PROMO:send-8812", Text: "Stop promotions"}, m.Button)
		require.Equal(t, wamid, m.Context.ID)
	})

	t.Run("InboundInteractiveAndUnsupported", func(t *testing.T) {
		t.Parallel()
		msgs := parseTestdata(t, "webhook_inbound_interactive.json").Entry[0].Changes[0].Value.Messages
		require.Len(t, msgs, 3)
		require.Equal(t, &Interactive{Type: "button_reply", ButtonReply: &InteractiveRef{ID: "cancel-button", Title: "Cancel"}}, msgs[0].Interactive)
		require.Equal(t, &Interactive{Type: "list_reply", ListReply: &InteractiveRef{ID: "priority_express", Title: "Express", Description: "Next-day delivery"}}, msgs[1].Interactive)
		require.Equal(t, "unsupported", msgs[2].Type)
		require.Equal(t, 131051, msgs[2].Errors[0].Code)
	})

	t.Run("ValueLevelErrors", func(t *testing.T) {
		t.Parallel()
		v := parseTestdata(t, "webhook_errors.json").Entry[0].Changes[0].Value
		require.Equal(t, []ErrorObject{{
			Code: 130429, Title: "Rate limit hit", Message: "Rate limit hit",
			ErrorData: ErrorData{Details: "Cloud API message throughput has been reached."},
			Href:      "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
		}}, v.Errors)
	})

	t.Run("UserPreferences", func(t *testing.T) {
		t.Parallel()
		ch := parseTestdata(t, "webhook_user_preferences.json").Entry[0].Changes[0]
		require.Equal(t, FieldUserPreferences, ch.Field)
		require.Equal(t, wantMetadata, ch.Value.Metadata)
		require.Equal(t, []UserPreference{{
			WaID: "16505551234", Detail: "User requested to stop marketing messages",
			Category: "marketing_messages", Value: "stop", Timestamp: "1750030200",
		}}, ch.Value.UserPreferences)
		at, err := ch.Value.UserPreferences[0].Time()
		require.NoError(t, err)
		require.Equal(t, int64(1750030200), at.Unix())
	})

	t.Run("UserPreferenceStringTimestamp", func(t *testing.T) {
		t.Parallel()
		var p UserPreference
		require.NoError(t, json.Unmarshal([]byte(`{"wa_id":"1","category":"marketing_messages","value":"resume","timestamp":"1750030201"}`), &p))
		require.Equal(t, "1750030201", p.Timestamp)
		require.Equal(t, "resume", p.Value)
		require.Error(t, json.Unmarshal([]byte(`{"timestamp":{}}`), &p))
	})

	t.Run("UnknownFieldKeptRaw", func(t *testing.T) {
		t.Parallel()
		ch := parseTestdata(t, "webhook_template_status_update.json").Entry[0].Changes[0]
		require.Equal(t, "message_template_status_update", ch.Field)
		require.Equal(t, ChangeValue{}, ch.Value) // its "messages" string did not break decoding
		var v struct {
			Event             string `json:"event"`
			MessageTemplateID int64  `json:"message_template_id"`
			OtherInfo         struct {
				Title string `json:"title"`
			} `json:"other_info"`
		}
		require.NoError(t, json.Unmarshal(ch.Raw, &v))
		require.Equal(t, "PAUSED", v.Event)
		require.Equal(t, int64(1259544702043867), v.MessageTemplateID)
		require.Equal(t, "FIRST_PAUSE", v.OtherInfo.Title)
	})

	t.Run("SeveralEntriesAndChanges", func(t *testing.T) {
		t.Parallel()
		n := parseTestdata(t, "webhook_multi.json")
		var ids []string
		var numbers []string
		for _, e := range n.Entry {
			for _, c := range e.Changes {
				if c.Field != FieldMessages {
					require.NotEmpty(t, c.Raw)
					continue
				}
				numbers = append(numbers, c.Value.Metadata.PhoneNumberID)
				for _, s := range c.Value.Statuses {
					ids = append(ids, s.ID+"/"+s.Status)
				}
			}
		}
		require.Equal(t, []string{"wamid.A/sent", "wamid.B/sent", "wamid.C/played"}, ids)
		require.Equal(t, []string{"106540352242922", "106540352242923"}, numbers)
	})

	t.Run("Malformed", func(t *testing.T) {
		t.Parallel()
		for _, body := range []string{``, `{`, `[]`, `{"entry":{}}`, `{"entry":[{"changes":[{"field":"messages","value":{"statuses":"x"}}]}]}`} {
			_, err := ParseNotification([]byte(body))
			require.Error(t, err, "body %q", body)
		}
	})

	t.Run("BadTimestamp", func(t *testing.T) {
		t.Parallel()
		_, err := Status{Timestamp: "soon"}.Time()
		require.Error(t, err)
		_, err = Status{}.Time()
		require.Error(t, err)
	})
}

func TestNotificationBuildersRoundTrip(t *testing.T) {
	t.Parallel()

	md := Metadata{DisplayPhoneNumber: "15550783881", PhoneNumberID: "106540352242922"}
	billable := true
	statuses := []Status{{
		ID: "wamid.X", Status: StatusSent, Timestamp: "1750030070", RecipientID: "5511987654321",
		BizOpaqueCallbackData: "send:1",
		Pricing:               &Pricing{Billable: &billable, PricingModel: "PMP", Type: "regular", Category: "utility"},
	}}
	n := NewStatusNotification("waba-1", md, statuses)
	b, err := json.Marshal(n)
	require.NoError(t, err)
	got, err := ParseNotification(b)
	require.NoError(t, err)
	require.Equal(t, ObjectWABA, got.Object)
	require.Equal(t, "waba-1", got.Entry[0].ID)
	require.Equal(t, md, got.Entry[0].Changes[0].Value.Metadata)
	require.Equal(t, statuses, got.Entry[0].Changes[0].Value.Statuses)
	require.Equal(t, "whatsapp", got.Entry[0].Changes[0].Value.MessagingProduct)

	msgs := []InboundMessage{{
		From: "5511987654321", ID: "wamid.IN", Timestamp: "1750030090", Type: "button",
		Button:  &ButtonReply{Payload: "P", Text: "Yes"},
		Context: &MessageContext{From: "15550783881", ID: "wamid.X"},
	}}
	contacts := []Contact{{Profile: Profile{Name: "Ana"}, WaID: "5511987654321"}}
	b, err = json.Marshal(NewMessageNotification("waba-1", md, contacts, msgs))
	require.NoError(t, err)
	got, err = ParseNotification(b)
	require.NoError(t, err)
	require.Equal(t, msgs, got.Entry[0].Changes[0].Value.Messages)
	require.Equal(t, contacts, got.Entry[0].Changes[0].Value.Contacts)

	// An unmodelled change survives a round trip through Raw.
	raw := parseTestdata(t, "webhook_template_status_update.json")
	b, err = json.Marshal(raw)
	require.NoError(t, err)
	require.Contains(t, string(b), `"event":"PAUSED"`)
}

func FuzzParseNotification(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "webhook_*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"entry":[{"changes":[{"field":"user_preferences","value":{"user_preferences":[{"timestamp":1e400}]}}]}]}`))
	f.Add([]byte(`{"entry":[{"changes":[{"field":"messages","value":null}]}]}`))

	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := ParseNotification(body)
		if err != nil {
			return
		}
		// Whatever parses must be walkable and re-encodable.
		for _, e := range n.Entry {
			for _, c := range e.Changes {
				for _, s := range c.Value.Statuses {
					_, _ = s.Time()
				}
				for _, p := range c.Value.UserPreferences {
					_, _ = p.Time()
				}
				_ = strings.ToLower(c.Field)
			}
		}
		if _, err := json.Marshal(n); err != nil {
			t.Fatalf("re-encode parsed notification: %v", err)
		}
	})
}
