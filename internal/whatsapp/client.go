package whatsapp

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults for Config.
const (
	DefaultBaseURL    = "https://graph.facebook.com"
	DefaultAPIVersion = "v25.0"
	DefaultTimeout    = 30 * time.Second
)

// maxBody bounds how much of an answer is read. Cloud API answers are small;
// a template listing page of 100 templates is well under this.
const maxBody = 8 << 20

// Config configures a Client.
type Config struct {
	// BaseURL is the Graph API root, without a trailing slash. Default
	// DefaultBaseURL; point it at a wasim server in tests and demos.
	BaseURL string
	// APIVersion is the path version segment. Default DefaultAPIVersion. Pin
	// it: payloads differ between versions (reference §1.1).
	APIVersion string
	// Token is the system-user access token sent as a Bearer token.
	Token Secret
	// HTTPClient sends the requests. Default: a client with DefaultTimeout.
	// It must not retry POSTs on its own.
	HTTPClient *http.Client
}

// Client calls the Cloud API. It is safe for concurrent use.
type Client struct {
	baseURL    string
	apiVersion string
	// token is a pointer so that printing a Client (%+v) shows an address:
	// fmt cannot call Secret's redacting methods on an unexported field and
	// would print the string itself.
	token      *Secret
	httpClient *http.Client
}

// NewClient returns a Client with defaults applied to cfg.
func NewClient(cfg Config) *Client {
	token := cfg.Token
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{
		baseURL:    strings.TrimRight(cmp.Or(cfg.BaseURL, DefaultBaseURL), "/"),
		apiVersion: strings.Trim(cmp.Or(cfg.APIVersion, DefaultAPIVersion), "/"),
		token:      &token,
		httpClient: hc,
	}
}

// SendTemplate sends one template message through the sender phoneNumberID
// (Meta's numeric phone-number id). On a Cloud API error answer it returns an
// *Error. When the request was written but no definite answer came back, the
// error wraps ErrOutcomeUnknown (and the transport error, e.g.
// context.DeadlineExceeded). Any other error means the request never reached
// the API and resending is safe. Classify errors with ActionForError.
func (c *Client) SendTemplate(ctx context.Context, phoneNumberID string, msg TemplateMessage) (*SendResponse, error) {
	if phoneNumberID == "" {
		return nil, errors.New("send template: empty phone number id")
	}
	// Not pooled: the transport may still hold the body after Do returns
	// (an early answer, a replay on a fresh connection).
	body, err := appendTemplateMessage(make([]byte, 0, 512), msg)
	if err != nil {
		return nil, fmt.Errorf("send template %s: encode: %w", msg.Template.Name, err)
	}
	u := c.baseURL + "/" + c.apiVersion + "/" + url.PathEscape(phoneNumberID) + "/messages"

	var tr writeTracker
	ctx = httptrace.WithClientTrace(ctx, tr.trace())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("send template %s: %w", msg.Template.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	c.authorize(req)

	resp, err := c.httpClient.Do(req)
	if err != nil {
		if tr.mayHaveWritten() {
			return nil, fmt.Errorf("send template %s: %w: %w", msg.Template.Name, ErrOutcomeUnknown, err)
		}
		return nil, fmt.Errorf("send template %s: %w", msg.Template.Name, err)
	}
	defer resp.Body.Close()

	// The request was answered; from here a read failure still leaves the
	// outcome unknown (a 200 may be half read).
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("send template %s: read answer: %w: %w", msg.Template.Name, ErrOutcomeUnknown, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("send template %s: %w", msg.Template.Name, ParseError(resp.StatusCode, raw))
	}
	var sr SendResponse
	if err := json.Unmarshal(raw, &sr); err != nil {
		return nil, fmt.Errorf("send template %s: decode answer: %w: %w", msg.Template.Name, ErrOutcomeUnknown, err)
	}
	if sr.WAMID() == "" {
		// Accepted (2xx) but we cannot tell which wamid to expect: reconcile
		// through biz_opaque_callback_data.
		return nil, fmt.Errorf("send template %s: answer has no message id: %w", msg.Template.Name, ErrOutcomeUnknown)
	}
	return &sr, nil
}

func (c *Client) authorize(req *http.Request) {
	req.Header.Set("Authorization", "Bearer "+c.token.Reveal())
}

// writeTracker records, through httptrace, whether a request may have reached
// the server. It errs on the side of "maybe": once a connection was obtained,
// only a WroteRequest callback reporting a write error proves that the server
// cannot have received the whole request. This also covers the window in
// which the transport has flushed the request but not yet called WroteRequest
// when a timeout fires.
type writeTracker struct {
	gotConn  atomic.Bool
	wrote    atomic.Bool // WroteRequest called with a nil error
	writeErr atomic.Bool // WroteRequest called with an error
}

func (t *writeTracker) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) {
			// A new attempt (the transport retries requests that were
			// provably not written) starts with no write error.
			t.writeErr.Store(false)
			t.gotConn.Store(true)
		},
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err != nil {
				t.writeErr.Store(true)
				return
			}
			t.wrote.Store(true)
		},
	}
}

func (t *writeTracker) mayHaveWritten() bool {
	if t.wrote.Load() {
		return true
	}
	return t.gotConn.Load() && !t.writeErr.Load()
}

// templateFields are the fields ListTemplates asks for.
const templateFields = "id,name,status,category,language,parameter_format,components"

// maxTemplatePages stops a paging loop that never ends (a server repeating
// its cursor); 1,000 pages of 100 is far beyond the 6,000-template cap.
const maxTemplatePages = 1000

// templatePage is one page of GET /{waba}/message_templates.
type templatePage struct {
	Data   []TemplateInfo `json:"data"`
	Paging struct {
		Cursors struct {
			Before string `json:"before"`
			After  string `json:"after"`
		} `json:"cursors"`
		Next string `json:"next"`
	} `json:"paging"`
}

// ListTemplates returns every template of the WhatsApp Business Account, in
// every status and language, following Graph paging until it is exhausted.
//
// Graph signals a further page with paging.next; the next request is built
// from BaseURL plus cursors.after rather than by following paging.next
// verbatim, so the bearer token only ever goes to BaseURL's host.
func (c *Client) ListTemplates(ctx context.Context, wabaID string) ([]TemplateInfo, error) {
	if wabaID == "" {
		return nil, errors.New("list templates: empty waba id")
	}
	base := c.baseURL + "/" + c.apiVersion + "/" + url.PathEscape(wabaID) + "/message_templates"
	var (
		all   []TemplateInfo
		after string
		seen  = map[string]bool{}
	)
	for range maxTemplatePages {
		q := url.Values{"fields": {templateFields}, "limit": {"100"}}
		if after != "" {
			q.Set("after", after)
		}
		page, err := c.templatePage(ctx, base+"?"+q.Encode())
		if err != nil {
			return nil, fmt.Errorf("list templates of waba %s: %w", wabaID, err)
		}
		all = append(all, page.Data...)
		after = page.Paging.Cursors.After
		if page.Paging.Next == "" || after == "" || len(page.Data) == 0 {
			return all, nil
		}
		if seen[after] {
			return nil, fmt.Errorf("list templates of waba %s: paging cursor %q repeats", wabaID, after)
		}
		seen[after] = true
	}
	return nil, fmt.Errorf("list templates of waba %s: more than %d pages", wabaID, maxTemplatePages)
}

func (c *Client) templatePage(ctx context.Context, u string) (*templatePage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	c.authorize(req)
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, ParseError(resp.StatusCode, raw)
	}
	var page templatePage
	if err := json.Unmarshal(raw, &page); err != nil {
		return nil, fmt.Errorf("decode answer: %w", err)
	}
	return &page, nil
}
