package whatsapp

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func TestTemplateMessageMarshalJSON(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		msg    TemplateMessage
		golden string
	}{
		{
			name: "PositionalAllComponents",
			msg: TemplateMessage{
				To: "+5511987654321",
				Template: Template{
					Name:     "order_update",
					Language: Language{Code: "pt_BR"}, // policy filled in
					Components: []Component{
						{Type: "header", Parameters: []Parameter{{Type: "image", Image: &Media{Link: "https://cdn.example/p.jpg"}}}},
						{Type: "body", Parameters: []Parameter{
							TextParam("Ana"),
							{Type: "currency", Currency: &Currency{FallbackValue: "R$ 99,90", Code: "BRL", Amount1000: 99900}},
							{Type: "date_time", DateTime: &DateTime{FallbackValue: "12 de março"}},
						}},
						{Type: "button", SubType: "quick_reply", Index: "0", Parameters: []Parameter{{Type: "payload", Payload: "STOP_PROMO:send-8812"}}},
						{Type: "button", SubType: "url", Index: "1", Parameters: []Parameter{TextParam("ORD-8812")}},
						{Type: "button", SubType: "copy_code", Index: "2", Parameters: []Parameter{{Type: "coupon_code", CouponCode: "SAVE25"}}},
					},
				},
				BizOpaqueCallbackData: "send:8812",
			},
			golden: "send_request_positional.json",
		},
		{
			name: "Named",
			msg: TemplateMessage{
				To: "+16505551234",
				Template: Template{
					Name:     "order_confirmation",
					Language: Language{Code: "en_US", Policy: PolicyDeterministic},
					Components: []Component{{Type: "body", Parameters: []Parameter{
						NamedTextParam("first_name", "Jessica"),
						NamedTextParam("order_number", "SKBUP2-4CPIG9"),
					}}},
				},
				BizOpaqueCallbackData: "send:42",
			},
			golden: "send_request_named.json",
		},
		{
			name: "NoComponentsNoCallbackData",
			msg: TemplateMessage{
				To:       "+5511987654321",
				Template: Template{Name: "hello_world", Language: Language{Code: "en_US"}},
			},
			golden: "send_request_no_components.json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.Marshal(tt.msg)
			require.NoError(t, err)
			require.JSONEq(t, string(readTestdata(t, tt.golden)), string(got))
		})
	}
}

func TestSendResponseParsing(t *testing.T) {
	t.Parallel()

	tests := []struct {
		file       string
		wantWAMID  string
		wantWaID   string
		wantStatus string
	}{
		{"send_response_accepted.json", "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQyQkM5RjBCRUE3M0JDMEU3MQA=", "5511987654321", MessageStatusAccepted},
		{"send_response_held.json", "wamid.HBgNNTIxNTUxMjM0NTY3OBUCABEYEkE1QjQ3RjM5QkY0NTM2NzRBMwA=", "5215512345678", MessageStatusHeld},
		{"send_response_no_status.json", "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA", "16505551234", ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			var r SendResponse
			require.NoError(t, json.Unmarshal(readTestdata(t, tt.file), &r))
			require.Equal(t, "whatsapp", r.MessagingProduct)
			require.Equal(t, tt.wantWAMID, r.WAMID())
			require.Len(t, r.Contacts, 1)
			require.Equal(t, tt.wantWaID, r.Contacts[0].WaID)
			require.Equal(t, tt.wantStatus, r.Messages[0].MessageStatus)
		})
	}

	t.Run("EmptyWAMID", func(t *testing.T) {
		t.Parallel()
		var nilResp *SendResponse
		require.Empty(t, nilResp.WAMID())
		require.Empty(t, (&SendResponse{}).WAMID())
	})
}
