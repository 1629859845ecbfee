package whatsapp

// TemplateMessage is one template send to one recipient.
type TemplateMessage struct {
	// To is the recipient in E.164 with a leading "+". Without the "+" Meta may
	// prepend the sender's own country code (reference §8).
	To       string
	Template Template
	// BizOpaqueCallbackData is echoed in every status webhook for this message
	// (reference §1.5); herald carries its send id here so that a send whose
	// outcome is unknown can be reconciled. Omitted when empty. Keep it within
	// 256 ASCII bytes.
	BizOpaqueCallbackData string
}

// MarshalJSON encodes the Cloud API request body for a template send.
func (m TemplateMessage) MarshalJSON() ([]byte, error) {
	return appendTemplateMessage(nil, m)
}

// Template names an approved template and carries the values for its
// variables.
type Template struct {
	Name     string
	Language Language
	// Components carries values only for components that have variables; a
	// template without variables needs none (reference §1.2).
	Components []Component
}

// MarshalJSON encodes the template object. An empty language policy is sent as
// "deterministic", the only policy Meta supports.
func (t Template) MarshalJSON() ([]byte, error) {
	return appendTemplate(nil, t)
}

// PolicyDeterministic is the only language policy the Cloud API supports.
const PolicyDeterministic = "deterministic"

// Language selects the template translation; Code must match an approved
// translation exactly ("en_US", "pt_BR").
type Language struct {
	Code   string `json:"code"`
	Policy string `json:"policy,omitempty"`
}

// Component carries the parameter values for one template component.
type Component struct {
	Type       string      `json:"type"`               // "header" | "body" | "button"
	SubType    string      `json:"sub_type,omitempty"` // "quick_reply" | "url" | "copy_code" for buttons
	Index      string      `json:"index,omitempty"`    // zero-based button position, as a string: "0"
	Parameters []Parameter `json:"parameters"`
}

// Parameter is one variable value. Type selects which of the value fields is
// set.
type Parameter struct {
	Type          string    `json:"type"` // text | currency | date_time | image | video | document | location | payload | coupon_code
	ParameterName string    `json:"parameter_name,omitempty"`
	Text          string    `json:"text,omitempty"`
	Currency      *Currency `json:"currency,omitempty"`
	DateTime      *DateTime `json:"date_time,omitempty"`
	Image         *Media    `json:"image,omitempty"`
	Video         *Media    `json:"video,omitempty"`
	Document      *Media    `json:"document,omitempty"`
	Location      *Location `json:"location,omitempty"`
	Payload       string    `json:"payload,omitempty"`
	CouponCode    string    `json:"coupon_code,omitempty"`
}

// TextParam returns a positional text parameter.
func TextParam(s string) Parameter { return Parameter{Type: "text", Text: s} }

// NamedTextParam returns a text parameter for a template created with
// parameter_format "named".
func NamedTextParam(name, s string) Parameter {
	return Parameter{Type: "text", ParameterName: name, Text: s}
}

// Currency is a currency parameter. FallbackValue is what the user sees.
type Currency struct {
	FallbackValue string `json:"fallback_value"`
	Code          string `json:"code"`        // ISO 4217
	Amount1000    int64  `json:"amount_1000"` // amount × 1000
}

// DateTime is a date_time parameter, shown as FallbackValue.
type DateTime struct {
	FallbackValue string `json:"fallback_value"`
}

// Media is an image, video or document header parameter: an uploaded media ID
// or a Link that Meta fetches (and caches for 10 minutes).
type Media struct {
	ID       string `json:"id,omitempty"`
	Link     string `json:"link,omitempty"`
	Filename string `json:"filename,omitempty"` // documents only
}

// Location is a location header parameter.
type Location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
}

// SendResponse is the HTTP 200 answer to a send. A 200 is not delivery: the
// final truth arrives in status webhooks.
type SendResponse struct {
	MessagingProduct string            `json:"messaging_product"`
	Contacts         []ResponseContact `json:"contacts,omitempty"`
	Messages         []ResponseMessage `json:"messages"`
}

// ResponseContact echoes the recipient. WaID may differ from Input (Meta
// normalises some countries' numbers) and may be absent for BSUID recipients.
type ResponseContact struct {
	Input string `json:"input"`
	WaID  string `json:"wa_id,omitempty"`
}

// ResponseMessage carries the wamid of the accepted message.
type ResponseMessage struct {
	ID string `json:"id"`
	// MessageStatus is "accepted", "held_for_quality_assessment" (template
	// pacing) or, per some libraries, "paused". Optional: parse it as such.
	MessageStatus string `json:"message_status,omitempty"`
}

// Message statuses in a send response (reference §1.6).
const (
	MessageStatusAccepted = "accepted"
	MessageStatusHeld     = "held_for_quality_assessment"
)

// WAMID returns the id of the first (only) message, or "".
func (r *SendResponse) WAMID() string {
	if r == nil || len(r.Messages) == 0 {
		return ""
	}
	return r.Messages[0].ID
}
