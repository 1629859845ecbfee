package whatsapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ObjectWABA is Notification.Object for WhatsApp Business Account webhooks.
const ObjectWABA = "whatsapp_business_account"

// Change fields herald models in ChangeValue. Every other field (templates,
// quality, account updates...) is kept only in Change.Raw.
const (
	FieldMessages        = "messages"
	FieldUserPreferences = "user_preferences"
)

// Status values in status webhooks (reference §3.3). Treat others as
// non-fatal.
const (
	StatusSent      = "sent"
	StatusDelivered = "delivered"
	StatusRead      = "read"
	StatusFailed    = "failed"
	StatusPlayed    = "played"
)

// Notification is the body of a webhook POST. One POST may carry several
// entries, changes and statuses: iterate all of them.
type Notification struct {
	Object string  `json:"object"`
	Entry  []Entry `json:"entry"`
}

// Entry is one WhatsApp Business Account's changes; ID is the WABA id.
type Entry struct {
	ID      string   `json:"id"`
	Changes []Change `json:"changes"`
}

// Change is one change notification. Value is decoded only for the fields in
// FieldMessages and FieldUserPreferences; Raw holds the value as received
// for fields herald does not model.
type Change struct {
	Field string
	Value ChangeValue
	Raw   json.RawMessage
}

// UnmarshalJSON decodes Value only for modelled fields, so an unknown field
// whose value happens to reuse a key with another shape cannot fail the
// notification. Nearly every change is a modelled one: it is decoded in one
// pass, and Raw is left empty.
func (c *Change) UnmarshalJSON(b []byte) error {
	var fast struct {
		Field string       `json:"field"`
		Value *ChangeValue `json:"value"`
	}
	if err := json.Unmarshal(b, &fast); err == nil && modelled(fast.Field) {
		*c = Change{Field: fast.Field}
		if fast.Value != nil {
			c.Value = *fast.Value
		}
		return nil
	}
	var wire struct {
		Field string          `json:"field"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b, &wire); err != nil {
		return err
	}
	*c = Change{Field: wire.Field, Raw: wire.Value}
	if !modelled(wire.Field) || len(wire.Value) == 0 || bytes.Equal(wire.Value, []byte("null")) {
		return nil
	}
	if err := json.Unmarshal(wire.Value, &c.Value); err != nil {
		return fmt.Errorf("change %q: %w", wire.Field, err)
	}
	return nil
}

// MarshalJSON encodes Value for modelled fields and Raw for the others.
func (c Change) MarshalJSON() ([]byte, error) {
	value := []byte(c.Raw)
	if modelled(c.Field) || len(value) == 0 {
		v, err := json.Marshal(c.Value)
		if err != nil {
			return nil, err
		}
		value = v
	}
	b := make([]byte, 0, len(value)+len(c.Field)+24)
	b = append(b, `{"field":`...)
	b = appendString(b, c.Field)
	b = append(b, `,"value":`...)
	b = append(b, value...)
	return append(b, '}'), nil
}

func modelled(field string) bool {
	return field == FieldMessages || field == FieldUserPreferences
}

// ChangeValue is the value of a "messages" or "user_preferences" change.
type ChangeValue struct {
	MessagingProduct string           `json:"messaging_product"`
	Metadata         Metadata         `json:"metadata"`
	Contacts         []Contact        `json:"contacts,omitempty"`
	Messages         []InboundMessage `json:"messages,omitempty"`
	Statuses         []Status         `json:"statuses,omitempty"`
	// Errors are asynchronous system errors not tied to one message.
	Errors          []ErrorObject    `json:"errors,omitempty"`
	UserPreferences []UserPreference `json:"user_preferences,omitempty"`
}

// Metadata identifies the business number a change is about; route by
// PhoneNumberID.
type Metadata struct {
	DisplayPhoneNumber string `json:"display_phone_number"`
	PhoneNumberID      string `json:"phone_number_id"`
}

// Contact is a WhatsApp user in an inbound notification.
type Contact struct {
	Profile Profile `json:"profile"`
	WaID    string  `json:"wa_id,omitempty"`
	UserID  string  `json:"user_id,omitempty"` // business-scoped user id (BSUID)
}

// Profile is a user's WhatsApp profile.
type Profile struct {
	Name string `json:"name"`
}

// Status is a status update for one message the business sent.
type Status struct {
	ID                    string        `json:"id"` // the wamid
	Status                string        `json:"status"`
	Timestamp             string        `json:"timestamp"` // Unix seconds, as a string
	RecipientID           string        `json:"recipient_id,omitempty"`
	UserID                string        `json:"user_id,omitempty"`
	BizOpaqueCallbackData string        `json:"biz_opaque_callback_data,omitempty"`
	Conversation          *Conversation `json:"conversation,omitempty"`
	Pricing               *Pricing      `json:"pricing,omitempty"`
	Errors                []ErrorObject `json:"errors,omitempty"`
}

// Time returns the status timestamp.
func (s Status) Time() (time.Time, error) { return unixSeconds(s.Timestamp) }

// Conversation is the conversation object of a status; from v24.0 Meta sends
// it only inside a free entry point window.
type Conversation struct {
	ID                  string             `json:"id"`
	ExpirationTimestamp string             `json:"expiration_timestamp,omitempty"`
	Origin              ConversationOrigin `json:"origin"`
}

// ConversationOrigin is the conversation's category.
type ConversationOrigin struct {
	Type string `json:"type"`
}

// Pricing says how a message is charged (reference §6.3). Billable is slated
// for removal by Meta: prefer Type and Category.
type Pricing struct {
	Billable     *bool  `json:"billable,omitempty"`
	PricingModel string `json:"pricing_model"`  // PMP (CBP before July 2025)
	Type         string `json:"type,omitempty"` // regular | free_customer_service | free_entry_point
	Category     string `json:"category"`       // marketing | utility | authentication | service ...
}

// ErrorObject is an error in a webhook: on a failed status, on an inbound
// message, or at value level.
type ErrorObject struct {
	Code      int       `json:"code"`
	Title     string    `json:"title,omitempty"`
	Message   string    `json:"message,omitempty"`
	ErrorData ErrorData `json:"error_data,omitzero"`
	Href      string    `json:"href,omitempty"`
}

// ErrorData carries the details of an ErrorObject.
type ErrorData struct {
	Details string `json:"details,omitempty"`
}

// InboundMessage is a message a user sent to the business.
type InboundMessage struct {
	From      string `json:"from"` // digits, no "+"
	ID        string `json:"id"`
	Timestamp string `json:"timestamp"`
	Type      string `json:"type"` // text | button | interactive | unsupported | ...
	// Context links a reply or a button tap to the business message (its
	// wamid in Context.ID).
	Context     *MessageContext `json:"context,omitempty"`
	Text        *TextBody       `json:"text,omitempty"`
	Button      *ButtonReply    `json:"button,omitempty"`
	Interactive *Interactive    `json:"interactive,omitempty"`
	Errors      []ErrorObject   `json:"errors,omitempty"`
}

// Time returns the message timestamp.
func (m InboundMessage) Time() (time.Time, error) { return unixSeconds(m.Timestamp) }

// MessageContext names the business message a user message refers to.
type MessageContext struct {
	From string `json:"from,omitempty"`
	ID   string `json:"id"`
}

// TextBody is the body of a text message.
type TextBody struct {
	Body string `json:"body"`
}

// ButtonReply is a tap on a template quick-reply button; Payload is the one
// the send carried.
type ButtonReply struct {
	Payload string `json:"payload"`
	Text    string `json:"text"`
}

// Interactive is a reply to an interactive (non-template) message.
type Interactive struct {
	Type        string          `json:"type"` // button_reply | list_reply
	ButtonReply *InteractiveRef `json:"button_reply,omitempty"`
	ListReply   *InteractiveRef `json:"list_reply,omitempty"`
}

// InteractiveRef is the button or list row a user chose.
type InteractiveRef struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

// UserPreference reports that a user stopped or resumed marketing messages in
// the app.
type UserPreference struct {
	WaID     string `json:"wa_id,omitempty"`
	UserID   string `json:"user_id,omitempty"`
	Detail   string `json:"detail,omitempty"`
	Category string `json:"category"` // marketing_messages
	Value    string `json:"value"`    // stop | resume
	// Timestamp is Unix seconds. Meta's samples show it as a number, other
	// sources as a string; both decode to its decimal text.
	Timestamp string `json:"timestamp"`
}

// UnmarshalJSON accepts the timestamp as a JSON number or string.
func (p *UserPreference) UnmarshalJSON(b []byte) error {
	type plain UserPreference
	var wire struct {
		plain
		Timestamp json.RawMessage `json:"timestamp"`
	}
	if err := json.Unmarshal(b, &wire); err != nil {
		return err
	}
	*p = UserPreference(wire.plain)
	ts, err := flexibleString(wire.Timestamp)
	if err != nil {
		return fmt.Errorf("user preference timestamp: %w", err)
	}
	p.Timestamp = ts
	return nil
}

// Time returns the preference change time.
func (p UserPreference) Time() (time.Time, error) { return unixSeconds(p.Timestamp) }

// flexibleString decodes a JSON string, number or null into text.
func flexibleString(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		return "", nil
	case raw[0] == '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	default:
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", err
		}
		return n.String(), nil
	}
}

func unixSeconds(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("empty timestamp")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse timestamp %q: %w", s, err)
	}
	return time.Unix(n, 0).UTC(), nil
}

// ParseNotification decodes a webhook body. Unknown JSON fields and unknown
// change fields are tolerated (the latter kept in Change.Raw); malformed JSON
// is an error. Verify the signature on the raw body first.
func ParseNotification(body []byte) (*Notification, error) {
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, fmt.Errorf("parse notification: %w", err)
	}
	return &n, nil
}

// NewStatusNotification builds a "messages" notification carrying statuses of
// messages sent from the number md describes.
func NewStatusNotification(wabaID string, md Metadata, statuses []Status) Notification {
	return messagesNotification(wabaID, ChangeValue{
		MessagingProduct: "whatsapp",
		Metadata:         md,
		Statuses:         statuses,
	})
}

// NewMessageNotification builds a "messages" notification carrying inbound
// user messages to the number md describes.
func NewMessageNotification(wabaID string, md Metadata, contacts []Contact, msgs []InboundMessage) Notification {
	return messagesNotification(wabaID, ChangeValue{
		MessagingProduct: "whatsapp",
		Metadata:         md,
		Contacts:         contacts,
		Messages:         msgs,
	})
}

func messagesNotification(wabaID string, v ChangeValue) Notification {
	return Notification{
		Object: ObjectWABA,
		Entry: []Entry{{
			ID:      wabaID,
			Changes: []Change{{Field: FieldMessages, Value: v}},
		}},
	}
}
