package whatsapp

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// reflectMessage is the request body laid out for encoding/json: the
// reference that appendTemplateMessage must reproduce byte for byte.
type reflectMessage struct {
	MessagingProduct      string          `json:"messaging_product"`
	RecipientType         string          `json:"recipient_type"`
	To                    string          `json:"to"`
	Type                  string          `json:"type"`
	Template              reflectTemplate `json:"template"`
	BizOpaqueCallbackData string          `json:"biz_opaque_callback_data,omitempty"`
}

type reflectTemplate struct {
	Name       string      `json:"name"`
	Language   Language    `json:"language"`
	Components []Component `json:"components,omitempty"`
}

func reflectEncode(m TemplateMessage) ([]byte, error) {
	lang := m.Template.Language
	if lang.Policy == "" {
		lang.Policy = PolicyDeterministic
	}
	return json.Marshal(reflectMessage{"whatsapp", "individual", m.To, "template",
		reflectTemplate{m.Template.Name, lang, m.Template.Components}, m.BizOpaqueCallbackData})
}

func requireSameEncoding(t *testing.T, m TemplateMessage) {
	t.Helper()
	want, wantErr := reflectEncode(m)
	got, err := appendTemplateMessage(nil, m)
	if wantErr != nil {
		require.Error(t, err)
		return
	}
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
}

func TestAppendTemplateMessageMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	hard := "quote\" back\\ <b>&amp; \u2028\u2029 \x00\x01\x1f\b\f\n\r\t é 😀 \xff\xfe bad"
	loc := func(lat, lng float64) []Parameter {
		return []Parameter{{Type: "location", Location: &Location{Latitude: lat, Longitude: lng, Name: hard}}}
	}
	for _, m := range []TemplateMessage{
		{},
		{To: "+5511987654321", Template: Template{Name: "t", Language: Language{Code: "pt_BR", Policy: "fallback"}}},
		{To: hard, BizOpaqueCallbackData: hard, Template: Template{Name: hard, Language: Language{Code: hard},
			Components: []Component{
				{Type: "header", Parameters: []Parameter{{Type: "image", Image: &Media{ID: "1", Link: hard}}}},
				{Type: "header", Parameters: []Parameter{{Type: "document", Document: &Media{Filename: "a.pdf"}}, {Type: "video", Video: &Media{}}}},
				{Type: "body", Parameters: []Parameter{TextParam(hard), NamedTextParam("first_name", "Ana"),
					{Type: "currency", Currency: &Currency{FallbackValue: "R$ 99,90", Code: "BRL", Amount1000: -99900}},
					{Type: "date_time", DateTime: &DateTime{FallbackValue: hard}}}},
				{Type: "button", SubType: "quick_reply", Index: "0", Parameters: []Parameter{{Type: "payload", Payload: hard}}},
				{Type: "button", SubType: "copy_code", Index: "1", Parameters: []Parameter{{Type: "coupon_code", CouponCode: "SAVE10"}}},
				{Type: "body"},
				{Type: "body", Parameters: []Parameter{}},
			}}},
		{Template: Template{Components: []Component{{Type: "header", Parameters: loc(-23.5505, -46.6333)}}}},
		{Template: Template{Components: []Component{{Type: "header", Parameters: loc(1e-7, 1e21)}}}},
		{Template: Template{Components: []Component{{Type: "header", Parameters: loc(0, -1.5e-300)}}}},
		{Template: Template{Components: []Component{{Type: "header", Parameters: loc(math.NaN(), 0)}}}},
		{Template: Template{Components: []Component{{Type: "header", Parameters: loc(0, math.Inf(-1))}}}},
	} {
		requireSameEncoding(t, m)
	}
}

func FuzzAppendTemplateMessage(f *testing.F) {
	f.Add("+5511987654321", "spring_sale", "pt_BR", "Ana", "send:1", 1.5, int64(99900))
	f.Add("\u2028<>&", "\xff", "", "\x00\"\\", "", 1e-9, int64(-1))
	f.Fuzz(func(t *testing.T, to, name, lang, text, callback string, lat float64, amount int64) {
		requireSameEncoding(t, TemplateMessage{To: to, BizOpaqueCallbackData: callback, Template: Template{
			Name: name, Language: Language{Code: lang}, Components: []Component{
				{Type: "header", Parameters: []Parameter{{Type: "location", Location: &Location{Latitude: lat, Longitude: -lat, Address: text}}}},
				{Type: "body", Parameters: []Parameter{TextParam(text), {Type: "currency", Currency: &Currency{FallbackValue: text, Code: lang, Amount1000: amount}}}},
				{Type: "button", SubType: "url", Index: "0", Parameters: []Parameter{{Type: "text", Text: callback}}},
			}}})
	})
}
