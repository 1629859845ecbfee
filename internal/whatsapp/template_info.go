package whatsapp

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// TemplateInfo is one template as listed by GET /{waba}/message_templates
// (reference §2.3). Enumerated values are Meta's upper-case strings.
type TemplateInfo struct {
	ID              string              `json:"id"`
	Name            string              `json:"name"`
	Language        string              `json:"language"`
	Status          string              `json:"status"`           // APPROVED, PENDING, REJECTED, PAUSED, DISABLED...
	Category        string              `json:"category"`         // MARKETING | UTILITY | AUTHENTICATION
	ParameterFormat string              `json:"parameter_format"` // POSITIONAL (default when absent) | NAMED
	Components      []TemplateComponent `json:"components"`
}

// Template statuses and parameter formats used by herald.
const (
	TemplateStatusApproved    = "APPROVED"
	ParameterFormatPositional = "POSITIONAL"
	ParameterFormatNamed      = "NAMED"
)

// TemplateComponent is one component of a listed template.
type TemplateComponent struct {
	Type    string           `json:"type"`             // HEADER | BODY | FOOTER | BUTTONS
	Format  string           `json:"format,omitempty"` // header: TEXT | IMAGE | VIDEO | DOCUMENT | LOCATION
	Text    string           `json:"text,omitempty"`
	Buttons []TemplateButton `json:"buttons,omitempty"`
	Example json.RawMessage  `json:"example,omitempty"`
}

// TemplateButton is one button of a BUTTONS component.
type TemplateButton struct {
	Type string `json:"type"` // QUICK_REPLY | URL | PHONE_NUMBER | COPY_CODE | OTP ...
	Text string `json:"text"`
	URL  string `json:"url,omitempty"`
}

// ParamSpec is one value a send of the template must (or, if Optional, may)
// carry. A spec is either positional (Position >= 1, Name "") or named.
type ParamSpec struct {
	Component string // "header" | "body" | "button"
	SubType   string // buttons: "url" | "copy_code" | "quick_reply"
	Index     int    // buttons: zero-based position of the button in the template
	Name      string // named templates: the parameter_name
	Position  int    // positional templates: n of {{n}}; 1 for a media header or a button value
	Type      string // parameter type to send: text | image | video | document | location | coupon_code | payload
	Optional  bool   // quick-reply payloads: a send may leave them out
}

// placeholder matches {{1}} and {{first_name}} (reference §1.3).
var placeholder = regexp.MustCompile(`\{\{([0-9]+|[a-z_][a-z0-9_]*)\}\}`)

// Params derives the values a send needs from the template's component texts:
// header variables or media, body variables in order ({{1}}, {{2}}... or
// named in order of first appearance), the suffix of each dynamic URL button
// (always positional, even in a named template), each copy-code button, and
// each quick-reply payload (optional). Repeated placeholders count once.
func (t TemplateInfo) Params() []ParamSpec {
	var specs []ParamSpec
	for _, c := range t.Components {
		switch strings.ToUpper(c.Type) {
		case "HEADER":
			switch f := strings.ToUpper(c.Format); f {
			case "IMAGE", "VIDEO", "DOCUMENT", "LOCATION":
				specs = append(specs, ParamSpec{Component: "header", Position: 1, Type: strings.ToLower(f)})
			default:
				specs = append(specs, textParams("header", c.Text)...)
			}
		case "BODY":
			specs = append(specs, textParams("body", c.Text)...)
		case "BUTTONS":
			for i, b := range c.Buttons {
				switch strings.ToUpper(b.Type) {
				case "URL":
					if placeholder.MatchString(b.URL) {
						specs = append(specs, ParamSpec{Component: "button", SubType: "url", Index: i, Position: 1, Type: "text"})
					}
				case "COPY_CODE":
					specs = append(specs, ParamSpec{Component: "button", SubType: "copy_code", Index: i, Position: 1, Type: "coupon_code"})
				case "QUICK_REPLY":
					specs = append(specs, ParamSpec{Component: "button", SubType: "quick_reply", Index: i, Position: 1, Type: "payload", Optional: true})
				}
			}
		}
	}
	return specs
}

// textParams lists the distinct placeholders of a text, positional ones sorted
// by number, named ones in order of first appearance.
func textParams(component, text string) []ParamSpec {
	var specs []ParamSpec
	seen := map[string]bool{}
	for _, m := range placeholder.FindAllStringSubmatch(text, -1) {
		key := m[1]
		if seen[key] {
			continue
		}
		seen[key] = true
		s := ParamSpec{Component: component, Type: "text"}
		if n, err := strconv.Atoi(key); err == nil {
			s.Position = n
		} else {
			s.Name = key
		}
		specs = append(specs, s)
	}
	slices.SortStableFunc(specs, func(a, b ParamSpec) int {
		if a.Name != "" || b.Name != "" {
			return 0
		}
		return a.Position - b.Position
	})
	return specs
}
