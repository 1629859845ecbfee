package wasim

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/herald-sh/herald/internal/whatsapp"
)

// Template categories and button sub-types a TemplateDef uses.
const (
	CategoryMarketing      = "MARKETING"
	CategoryUtility        = "UTILITY"
	CategoryAuthentication = "AUTHENTICATION"

	ButtonQuickReply = "quick_reply"
	ButtonURL        = "url"
	ButtonCopyCode   = "copy_code"
)

// TemplateDef registers a template with the simulator. The simulator lists it
// through GET message_templates with synthesised component texts and checks
// sends against the parameters those texts need, exactly as
// whatsapp.TemplateInfo.Params derives them.
type TemplateDef struct {
	Name     string
	Language string // default "en_US"
	Category string // MARKETING | UTILITY | AUTHENTICATION; default MARKETING
	// BodyParams is the number of positional body variables {{1}}..{{n}}.
	// Ignored when ParamNames is set.
	BodyParams int
	// ParamNames makes the template NAMED: the body has one {{name}} per
	// entry and every body parameter must carry its parameter_name.
	ParamNames []string
	// HeaderParams is 0 or 1 (Meta allows one header variable). In a named
	// template the header variable is called "header".
	HeaderParams int
	Buttons      []ButtonDef
	Status       string // default APPROVED; PAUSED answers 132015, DISABLED 132016, others 132001
}

// ButtonDef is one template button.
type ButtonDef struct {
	SubType string // quick_reply | url | copy_code
	Text    string
	// URL of a url button. A "{{1}}" in it makes the button dynamic: sends
	// must carry the suffix. Default "https://example.com/r/{{1}}".
	URL string
}

// FailureMix sets what share of traffic fails, and how. All values are
// fractions in [0,1].
//
// A send is first judged synchronously, with one draw against HTTP500,
// Timeout, TimeoutAccepted and then SyncCodes (in code order); the rest is
// accepted. An accepted send then fails asynchronously with one draw against
// AsyncCodes; the rest is delivered. Of delivered messages, Read are read;
// of read messages one draw picks Reply, Click or OptOut (at most one each).
type FailureMix struct {
	// HTTP500 answers HTTP 500 with a non-JSON body, as a failing front end
	// does (the client sees whatsapp.CodeHTTPUnparsed). For Cloud API 5xx
	// errors with a code, use SyncCodes (131000, 131016).
	HTTP500 float64
	// Timeout holds the request without answering until the client gives up
	// (or the server closes); nothing is recorded or sent.
	Timeout float64
	// TimeoutAccepted accepts the message (wamid assigned, Record kept,
	// status webhooks carrying biz_opaque_callback_data sent as usual) and
	// then holds the request like Timeout: the "outcome unknown" case that
	// exactly-once delivery must reconcile.
	TimeoutAccepted float64
	// SyncCodes answers these Cloud API error codes synchronously.
	SyncCodes map[int]float64
	// AsyncCodes accepts the send, then posts a "failed" status with the
	// code instead of sent/delivered (131026, 131049, 131050, 132015...).
	AsyncCodes map[int]float64
	// Read is the share of delivered messages that are read.
	Read float64
	// Reply, Click and OptOut are shares of read messages whose recipient
	// replies with text, taps the quick-reply button (its payload echoed) or
	// sends "STOP".
	Reply, Click, OptOut float64
}

// DefaultFailureMix returns a realistic mix for demos: a few synchronous
// failures, about 2.4% of accepted messages failing asynchronously
// (undeliverable, per-user marketing cap, opted out), 60% read, and a few
// replies, clicks and opt-outs. No timeouts: they hold requests until the
// client's timeout, which would stall a demo.
func DefaultFailureMix() FailureMix {
	return FailureMix{
		HTTP500:    0.001,
		SyncCodes:  map[int]float64{131026: 0.003},
		AsyncCodes: map[int]float64{131026: 0.012, 131049: 0.008, 131050: 0.004},
		Read:       0.6,
		Reply:      0.05,
		Click:      0.08,
		OptOut:     0.01,
	}
}

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	Templates []TemplateDef
	// Token, if set, is the only bearer token accepted; otherwise any
	// non-empty token is.
	Token whatsapp.Secret
	// Rate caps accepted messages per phone_number_id in any 1-second
	// window (a sliding log, so the cap is exact). Default 80; negative
	// disables the cap. Over the cap: 130429, HTTP 400, Meta's error body.
	Rate int
	// RatePerNumber overrides Rate for some phone_number_ids.
	RatePerNumber map[string]int
	// PairBurst and PairInterval model the pair rate limit (reference §5.2):
	// a bucket per sender and recipient holding PairBurst messages and
	// refilling one every PairInterval. Over it: 131056. Defaults 45 and 6s;
	// a negative PairBurst disables the limit.
	PairBurst    int
	PairInterval time.Duration
	// Latency is added before every answer.
	Latency  time.Duration
	Failures FailureMix
	// WebhookURL receives status and inbound webhooks; "" disables them.
	WebhookURL string
	// AppSecret signs webhook bodies (X-Hub-Signature-256). When empty the
	// header is left out.
	AppSecret whatsapp.Secret
	// WABAID is entry[].id in webhooks; when set, template listings for any
	// other WABA answer 100. Default "100000000000001".
	WABAID string
	// DisplayPhoneNumber is metadata.display_phone_number. Default
	// "15550100000".
	DisplayPhoneNumber string
	// Seed makes every random choice reproducible for a given order of
	// requests.
	Seed int64
	// WebhookBatch is the most statuses (or inbound messages) per POST.
	// Default 50. Queued events are flushed at least every
	// WebhookFlushInterval (default 50ms).
	WebhookBatch         int
	WebhookFlushInterval time.Duration
	// WebhookConcurrency is the number of posting goroutines. Default 4.
	WebhookConcurrency int
	// WebhookMaxAttempts bounds POST attempts per batch (default 5);
	// WebhookRetryBackoff is the first wait between attempts (default
	// 250ms), doubled each time. Meta retries for days; tests want
	// milliseconds.
	WebhookMaxAttempts  int
	WebhookRetryBackoff time.Duration
	// CloseTimeout bounds how long Close waits for queued webhooks. Default
	// 5s.
	CloseTimeout time.Duration
	// HTTPClient posts webhooks. Default: a client with a 10s timeout.
	HTTPClient *http.Client
	// NowFunc is the clock for timestamps, Records and the rate windows.
	// Default time.Now.
	NowFunc func() time.Time
}

// withDefaults returns cfg with defaults applied; it panics on values that
// can only be a programming error.
func (cfg Config) withDefaults() Config {
	if cfg.Rate == 0 {
		cfg.Rate = 80
	}
	if cfg.PairBurst == 0 {
		cfg.PairBurst = 45
	}
	if cfg.PairInterval <= 0 {
		cfg.PairInterval = 6 * time.Second
	}
	if cfg.WABAID == "" {
		cfg.WABAID = "100000000000001"
	}
	if cfg.DisplayPhoneNumber == "" {
		cfg.DisplayPhoneNumber = "15550100000"
	}
	if cfg.WebhookBatch <= 0 {
		cfg.WebhookBatch = 50
	}
	if cfg.WebhookFlushInterval <= 0 {
		cfg.WebhookFlushInterval = 50 * time.Millisecond
	}
	if cfg.WebhookConcurrency <= 0 {
		cfg.WebhookConcurrency = 4
	}
	if cfg.WebhookMaxAttempts <= 0 {
		cfg.WebhookMaxAttempts = 5
	}
	if cfg.WebhookRetryBackoff <= 0 {
		cfg.WebhookRetryBackoff = 250 * time.Millisecond
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = 5 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	cfg.Templates = slices.Clone(cfg.Templates)
	for i := range cfg.Templates {
		t := &cfg.Templates[i]
		if t.Name == "" {
			panic(fmt.Sprintf("wasim: template %d has no name", i))
		}
		if t.Language == "" {
			t.Language = "en_US"
		}
		if t.Category == "" {
			t.Category = CategoryMarketing
		}
		if t.Status == "" {
			t.Status = whatsapp.TemplateStatusApproved
		}
		if t.HeaderParams < 0 || t.HeaderParams > 1 {
			panic(fmt.Sprintf("wasim: template %s: HeaderParams must be 0 or 1", t.Name))
		}
		t.Buttons = slices.Clone(t.Buttons)
		for j := range t.Buttons {
			b := &t.Buttons[j]
			if b.SubType == ButtonURL && b.URL == "" {
				b.URL = "https://example.com/r/{{1}}"
			}
		}
	}
	cfg.Failures.mustValidate()
	return cfg
}

func (m FailureMix) mustValidate() {
	check := func(name string, fs ...float64) {
		sum := 0.0
		for _, f := range fs {
			if f < 0 || f > 1 {
				panic(fmt.Sprintf("wasim: failure fraction %s = %v is outside [0,1]", name, f))
			}
			sum += f
		}
		if sum > 1+1e-9 {
			panic(fmt.Sprintf("wasim: failure fractions %s sum to %v > 1", name, sum))
		}
	}
	sync := []float64{m.HTTP500, m.Timeout, m.TimeoutAccepted}
	for _, c := range slices.Sorted(maps.Keys(m.SyncCodes)) {
		sync = append(sync, m.SyncCodes[c])
	}
	check("HTTP500+Timeout+TimeoutAccepted+SyncCodes", sync...)
	var async []float64
	for _, c := range slices.Sorted(maps.Keys(m.AsyncCodes)) {
		async = append(async, m.AsyncCodes[c])
	}
	check("AsyncCodes", async...)
	check("Read", m.Read)
	check("Reply+Click+OptOut", m.Reply, m.Click, m.OptOut)
}
