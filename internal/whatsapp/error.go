package whatsapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrOutcomeUnknown is wrapped by SendTemplate errors when the request may have
// reached the Cloud API but no definite answer came back: a timeout, a reset
// connection or an unreadable 2xx body after the request was fully written.
// The message may or may not go out. Resending blindly risks a duplicate;
// reconcile through the status webhooks instead, which echo
// biz_opaque_callback_data (ActionReconcile).
var ErrOutcomeUnknown = errors.New("outcome unknown")

// CodeHTTPUnparsed is the Error.Code of an error answer whose body is not a
// Cloud API error object (an HTML 502 from a proxy, an empty 503). It is never
// 0, because code 0 means an authentication failure.
const CodeHTTPUnparsed = -1

// Error is a synchronous Cloud API error (reference §4) with the HTTP status it
// came with. Branch on Code (see ActionForError), not on HTTPStatus or Title.
type Error struct {
	HTTPStatus int
	Code       int
	Subcode    int // error_subcode; Meta stopped sending it in v16.0
	Type       string
	Message    string
	// Title is error_user_title when Meta sends one, else CodeTitle(Code).
	Title     string
	Details   string // error_data.details: the most specific explanation
	FBTraceID string // quote it to Meta support
}

// Error formats the error for logs: code, HTTP status, message, details and
// the trace id. It never contains request headers, so never the token.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cloud api error %d (http %d)", e.Code, e.HTTPStatus)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Details != "" && e.Details != e.Message {
		b.WriteString(": ")
		b.WriteString(e.Details)
	}
	if e.FBTraceID != "" {
		fmt.Fprintf(&b, " [fbtrace %s]", e.FBTraceID)
	}
	return b.String()
}

// errorBody is the wire shape of a Cloud API error answer.
type errorBody struct {
	Error *struct {
		Message        string `json:"message"`
		Type           string `json:"type"`
		Code           *int   `json:"code"`
		Subcode        int    `json:"error_subcode"`
		ErrorUserTitle string `json:"error_user_title"`
		ErrorUserMsg   string `json:"error_user_msg"`
		ErrorData      struct {
			MessagingProduct string `json:"messaging_product"`
			Details          string `json:"details"`
		} `json:"error_data"`
		FBTraceID string `json:"fbtrace_id"`
	} `json:"error"`
}

// maxErrorSnippet bounds how much of an unparsable body ends up in Details.
const maxErrorSnippet = 200

// ParseError builds an *Error from a non-2xx answer. A body that is not a
// Cloud API error object yields Code CodeHTTPUnparsed with the start of the
// body in Details.
func ParseError(httpStatus int, body []byte) *Error {
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil || eb.Error == nil || eb.Error.Code == nil {
		snippet := strings.TrimSpace(string(body))
		if len(snippet) > maxErrorSnippet {
			snippet = snippet[:maxErrorSnippet]
		}
		return &Error{
			HTTPStatus: httpStatus,
			Code:       CodeHTTPUnparsed,
			Message:    "unparsable error answer",
			Title:      CodeTitle(CodeHTTPUnparsed),
			Details:    snippet,
		}
	}
	e := eb.Error
	title := e.ErrorUserTitle
	if title == "" {
		title = CodeTitle(*e.Code)
	}
	details := e.ErrorData.Details
	if details == "" {
		details = e.ErrorUserMsg
	}
	return &Error{
		HTTPStatus: httpStatus,
		Code:       *e.Code,
		Subcode:    e.Subcode,
		Type:       e.Type,
		Message:    e.Message,
		Title:      title,
		Details:    details,
		FBTraceID:  e.FBTraceID,
	}
}

// MarshalJSON encodes e in the Cloud API's wire shape,
// {"error":{"message","type","code","error_data":{...},"fbtrace_id"}}, so that
// a simulator answers exactly what ParseError reads.
func (e *Error) MarshalJSON() ([]byte, error) {
	type errorData struct {
		MessagingProduct string `json:"messaging_product"`
		Details          string `json:"details,omitempty"`
	}
	type inner struct {
		Message   string    `json:"message"`
		Type      string    `json:"type,omitempty"`
		Code      int       `json:"code"`
		Subcode   int       `json:"error_subcode,omitempty"`
		ErrorData errorData `json:"error_data"`
		FBTraceID string    `json:"fbtrace_id,omitempty"`
	}
	return json.Marshal(struct {
		Error inner `json:"error"`
	}{inner{
		Message:   e.Message,
		Type:      e.Type,
		Code:      e.Code,
		Subcode:   e.Subcode,
		ErrorData: errorData{MessagingProduct: "whatsapp", Details: e.Details},
		FBTraceID: e.FBTraceID,
	}})
}
