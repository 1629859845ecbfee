package whatsapp

import (
	"errors"
	"net/http"
	"strconv"
)

// Action is what a sender does about a failed send. Each Cloud API error code
// maps to exactly one Action (ActionFor); the dispatcher turns it into a retry,
// a snooze plus throttle back-off, or a cancel.
type Action int

// Actions, from the least to the most drastic. The zero Action means "no
// action": ActionForError(nil) returns it.
const (
	// ActionRetry: transient; retry with backoff and jitter.
	ActionRetry Action = iota + 1
	// ActionSlowDown: throughput limit; lower the sender's rate and retry
	// without spending an attempt.
	ActionSlowDown
	// ActionRetryRecipientLater: pair rate limit (131056); delay only this
	// recipient, 4^x seconds, and keep sending to others.
	ActionRetryRecipientLater
	// ActionDefer: not delivered for now (per-user marketing cap, marketing
	// experiment); retry no sooner than 24 h later, a few times at most.
	ActionDefer
	// ActionFailRecipient: permanent for this recipient; record and move on.
	ActionFailRecipient
	// ActionOptOut: the user stopped marketing messages (131050); mark the
	// contact opted out and never retry.
	ActionOptOut
	// ActionPauseCampaign: the template or its bindings are wrong; pause the
	// campaign rather than burn the whole list on it.
	ActionPauseCampaign
	// ActionStopSender: token, permission, billing or account problem; stop
	// every send through this sender until a human fixes it.
	ActionStopSender
	// ActionReconcile: the request may have reached the API but no answer
	// came back (ErrOutcomeUnknown). Do not resend blindly: wait for the
	// status webhook carrying biz_opaque_callback_data, then decide.
	ActionReconcile
)

var actionNames = [...]string{
	ActionRetry:               "retry",
	ActionSlowDown:            "slow_down",
	ActionRetryRecipientLater: "retry_recipient_later",
	ActionDefer:               "defer",
	ActionFailRecipient:       "fail_recipient",
	ActionOptOut:              "opt_out",
	ActionPauseCampaign:       "pause_campaign",
	ActionStopSender:          "stop_sender",
	ActionReconcile:           "reconcile",
}

// String returns the snake_case name of a, suitable for logs and columns.
func (a Action) String() string {
	if a > 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	if a == 0 {
		return "none"
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// codeInfo is one row of the error table: the action and a short title.
type codeInfo struct {
	action Action
	title  string
}

// codes is THE table from Cloud API error code to Action (reference §4). Codes
// 200-299 (API permission) are a range and handled in lookup. A code not in
// the table fails the recipient: unknown means "do not retry blindly, do not
// stop everything".
var codes = map[int]codeInfo{
	CodeHTTPUnparsed: {ActionRetry, "Unparsable error answer"},

	// Transient.
	1:      {ActionRetry, "API unknown error"},
	2:      {ActionRetry, "API service unavailable"},
	131000: {ActionRetry, "Something went wrong"},
	131016: {ActionRetry, "Service unavailable"},
	131057: {ActionRetry, "Account in maintenance mode"},

	// Throughput.
	4:      {ActionSlowDown, "Too many API calls"},
	80007:  {ActionSlowDown, "WABA rate limit hit"},
	130429: {ActionSlowDown, "Rate limit hit"},

	// Per recipient pacing.
	131056: {ActionRetryRecipientLater, "Pair rate limit hit"},

	// Deferred.
	131049: {ActionDefer, "Per-user marketing limit"},
	130472: {ActionDefer, "Part of a marketing experiment"},

	// Permanent for this recipient.
	100:    {ActionFailRecipient, "Invalid parameter"},
	130403: {ActionFailRecipient, "Recipient blocked by business"},
	130497: {ActionFailRecipient, "Country not allowed"},
	131009: {ActionFailRecipient, "Parameter value is not valid"},
	131021: {ActionFailRecipient, "Recipient is the sender"},
	131026: {ActionFailRecipient, "Message undeliverable"},
	131047: {ActionFailRecipient, "Re-engagement message (outside 24h window)"},
	131051: {ActionFailRecipient, "Unsupported message type"},
	131052: {ActionFailRecipient, "Media download error"},
	131053: {ActionFailRecipient, "Media upload error"},
	132005: {ActionFailRecipient, "Translated text too long"},
	135000: {ActionFailRecipient, "Generic user error"},

	// Opt-out.
	131050: {ActionOptOut, "User stopped marketing messages"},

	// Template or binding problems: pause the campaign.
	131008: {ActionPauseCampaign, "Required parameter is missing"},
	131048: {ActionPauseCampaign, "Spam rate limit hit"},
	131064: {ActionPauseCampaign, "Messaging limited after template violations"},
	132000: {ActionPauseCampaign, "Template parameter count mismatch"},
	132001: {ActionPauseCampaign, "Template does not exist"},
	132007: {ActionPauseCampaign, "Template format character policy violated"},
	132012: {ActionPauseCampaign, "Template parameter format mismatch"},
	132015: {ActionPauseCampaign, "Template is paused"},
	132016: {ActionPauseCampaign, "Template is disabled"},

	// Sender, token or account problems.
	0:      {ActionStopSender, "Authentication failed"},
	3:      {ActionStopSender, "Capability or permission issue"},
	10:     {ActionStopSender, "Permission denied"},
	190:    {ActionStopSender, "Access token expired"},
	368:    {ActionStopSender, "Temporarily blocked for policy violations"},
	131005: {ActionStopSender, "Access denied"},
	131031: {ActionStopSender, "Account has been locked"},
	131042: {ActionStopSender, "Business eligibility payment issue"},
	131045: {ActionStopSender, "Incorrect certificate"},
	133010: {ActionStopSender, "Phone number not registered"},
}

// apiPermission is the 200-299 range: "API permission", stop the sender.
var apiPermission = codeInfo{ActionStopSender, "API permission denied"}

func lookup(code int) (codeInfo, bool) {
	if info, ok := codes[code]; ok {
		return info, true
	}
	if code >= 200 && code <= 299 {
		return apiPermission, true
	}
	return codeInfo{}, false
}

// ActionFor returns the Action for a Cloud API error code. Unknown codes fail
// the recipient.
func ActionFor(code int) Action {
	if info, ok := lookup(code); ok {
		return info.action
	}
	return ActionFailRecipient
}

// CodeTitle returns a short human title for a code, for reports; an unknown
// code gets "Error <code>".
func CodeTitle(code int) string {
	if info, ok := lookup(code); ok {
		return info.title
	}
	return "Error " + strconv.Itoa(code)
}

// ActionForError returns the Action for an error returned by SendTemplate:
//   - nil: the zero Action;
//   - wrapping ErrOutcomeUnknown: ActionReconcile;
//   - *Error answered with HTTP 429: ActionSlowDown whatever the code, except
//     131056 whose remedy is per recipient (some gateways report throttling as
//     429 with any code, reference §9.2);
//   - *Error with an unparsable body: ActionRetry for 5xx; ActionStopSender
//     for other statuses, because a non-Cloud-API 4xx (wrong base URL, a proxy
//     refusing us) would fail every recipient of the campaign in turn;
//   - other *Error: ActionFor(Code);
//   - anything else (the request never left: dial, DNS, TLS, a cancelled
//     context before writing): ActionRetry.
func ActionForError(err error) Action {
	if err == nil {
		return 0
	}
	if errors.Is(err, ErrOutcomeUnknown) {
		return ActionReconcile
	}
	var apiErr *Error
	if !errors.As(err, &apiErr) {
		return ActionRetry
	}
	switch {
	case apiErr.HTTPStatus == http.StatusTooManyRequests && apiErr.Code != 131056:
		return ActionSlowDown
	case apiErr.Code == CodeHTTPUnparsed && apiErr.HTTPStatus < 500:
		return ActionStopSender
	}
	return ActionFor(apiErr.Code)
}
