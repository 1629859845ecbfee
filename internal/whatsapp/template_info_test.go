package whatsapp

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTemplateInfoParams(t *testing.T) {
	t.Parallel()

	var page1, page2 templatePage
	require.NoError(t, json.Unmarshal(readTestdata(t, "templates_page1.json"), &page1))
	require.NoError(t, json.Unmarshal(readTestdata(t, "templates_page2.json"), &page2))

	tests := []struct {
		name string
		tmpl TemplateInfo
		want []ParamSpec
	}{
		{
			name: "PositionalHeaderBodyButtons",
			tmpl: page1.Data[0],
			want: []ParamSpec{
				{Component: "header", Position: 1, Type: "text"},
				{Component: "body", Position: 1, Type: "text"},
				{Component: "body", Position: 2, Type: "text"},
				{Component: "body", Position: 3, Type: "text"},
				{Component: "button", SubType: "quick_reply", Index: 0, Position: 1, Type: "payload", Optional: true},
				{Component: "button", SubType: "url", Index: 1, Position: 1, Type: "text"},
			},
		},
		{
			name: "NamedRepeatedOnce",
			tmpl: page2.Data[0],
			want: []ParamSpec{
				{Component: "body", Name: "first_name", Type: "text"},
				{Component: "body", Name: "order_number", Type: "text"},
			},
		},
		{
			name: "MediaHeaderAndCopyCode",
			tmpl: page2.Data[1],
			want: []ParamSpec{
				{Component: "header", Position: 1, Type: "image"},
				{Component: "body", Position: 1, Type: "text"},
				{Component: "body", Position: 2, Type: "text"},
				{Component: "button", SubType: "copy_code", Index: 0, Position: 1, Type: "coupon_code"},
			},
		},
		{
			name: "OutOfOrderPositional",
			tmpl: TemplateInfo{Components: []TemplateComponent{{Type: "BODY", Text: "{{2}} then {{1}} then {{2}} {{ 3 }}"}}},
			want: []ParamSpec{
				{Component: "body", Position: 1, Type: "text"},
				{Component: "body", Position: 2, Type: "text"},
			},
		},
		{
			name: "StaticURLAndNoVariables",
			tmpl: TemplateInfo{Components: []TemplateComponent{
				{Type: "BODY", Text: "Hello world"},
				{Type: "BUTTONS", Buttons: []TemplateButton{{Type: "URL", Text: "Site", URL: "https://x.example/"}, {Type: "PHONE_NUMBER", Text: "Call"}}},
			}},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.tmpl.Params())
		})
	}
}
