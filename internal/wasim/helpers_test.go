package wasim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/whatsapp"
)

const (
	testSecret whatsapp.Secret = "test-app-secret"
	testToken  whatsapp.Secret = "test-token"
	testPhone                  = "106540352242922"
)

// testTemplates covers positional, named, header, buttons and statuses.
func testTemplates() []TemplateDef {
	return []TemplateDef{
		{Name: "promo", Language: "en_US", Category: CategoryMarketing, BodyParams: 2, HeaderParams: 1,
			Buttons: []ButtonDef{{SubType: ButtonQuickReply, Text: "Stop promotions"}, {SubType: ButtonURL, Text: "Shop"}}},
		{Name: "order_confirmation", Language: "en_US", Category: CategoryUtility, ParamNames: []string{"first_name", "order_number"}},
		{Name: "hello", Language: "pt_BR", Category: CategoryUtility},
		{Name: "paused_promo", Language: "en_US", Status: "PAUSED"},
		{Name: "pending_promo", Language: "en_US", Status: "PENDING"},
	}
}

// promoMessage is a valid send of "promo".
func promoMessage(to string) whatsapp.TemplateMessage {
	return whatsapp.TemplateMessage{
		To: to,
		Template: whatsapp.Template{
			Name:     "promo",
			Language: whatsapp.Language{Code: "en_US"},
			Components: []whatsapp.Component{
				{Type: "header", Parameters: []whatsapp.Parameter{whatsapp.TextParam("Ana")}},
				{Type: "body", Parameters: []whatsapp.Parameter{whatsapp.TextParam("Ana"), whatsapp.TextParam("20% off")}},
				{Type: "button", SubType: "quick_reply", Index: "0", Parameters: []whatsapp.Parameter{{Type: "payload", Payload: "STOP:" + to}}},
				{Type: "button", SubType: "url", Index: "1", Parameters: []whatsapp.Parameter{whatsapp.TextParam("c-" + to[1:])}},
			},
		},
		BizOpaqueCallbackData: "send:" + to,
	}
}

// receiver is a webhook endpoint that checks signatures and keeps every
// verified notification.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	secret whatsapp.Secret

	mu      sync.Mutex
	notes   []*whatsapp.Notification
	badSig  int
	failFor int // answer 500 to this many POSTs first
	posts   int
}

func newReceiver(t testing.TB, failFirst int) *receiver {
	t.Helper()
	rc := &receiver{t: t, secret: testSecret, failFor: failFirst}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.posts++
	if err := whatsapp.VerifySignature(body, r.Header.Get(whatsapp.SignatureHeader), rc.secret); err != nil {
		rc.badSig++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if rc.failFor > 0 {
		rc.failFor--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	n, err := whatsapp.ParseNotification(body)
	if err != nil {
		rc.t.Errorf("parse webhook: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.notes = append(rc.notes, n)
}

// received flattens what arrived, in arrival order.
type received struct {
	statuses []whatsapp.Status
	messages []whatsapp.InboundMessage
	metadata []whatsapp.Metadata
	entryIDs []string
	// events interleaves statuses and inbound messages in arrival order:
	// the wamid concerned (context.id for inbound) and the status or the
	// inbound message type.
	events []rxEvent
}

type rxEvent struct {
	wamid, kind string
}

func (rc *receiver) received() received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out received
	for _, n := range rc.notes {
		for _, e := range n.Entry {
			out.entryIDs = append(out.entryIDs, e.ID)
			for _, c := range e.Changes {
				out.metadata = append(out.metadata, c.Value.Metadata)
				out.statuses = append(out.statuses, c.Value.Statuses...)
				out.messages = append(out.messages, c.Value.Messages...)
				for _, st := range c.Value.Statuses {
					out.events = append(out.events, rxEvent{st.ID, st.Status})
				}
				for _, m := range c.Value.Messages {
					ev := rxEvent{kind: m.Type}
					if m.Context != nil {
						ev.wamid = m.Context.ID
					}
					out.events = append(out.events, ev)
				}
			}
		}
	}
	return out
}

// bundle is a started simulator behind an HTTP server, a Cloud API client
// for it and, when webhooks are on, a receiver.
type bundle struct {
	sim    *Server
	srv    *httptest.Server
	client *whatsapp.Client
	recv   *receiver
}

// setup starts a simulator for cfg. Webhooks go to a fresh receiver unless
// cfg.WebhookURL is "-" (webhooks off). Unset fields get test defaults:
// the test templates, fast webhook retries, a signing secret.
func setup(t testing.TB, cfg Config) *bundle {
	t.Helper()
	b := &bundle{}
	if cfg.Templates == nil {
		cfg.Templates = testTemplates()
	}
	if cfg.AppSecret == "" {
		cfg.AppSecret = testSecret
	}
	if cfg.WebhookRetryBackoff == 0 {
		cfg.WebhookRetryBackoff = time.Millisecond
	}
	if cfg.WebhookFlushInterval == 0 {
		cfg.WebhookFlushInterval = 5 * time.Millisecond
	}
	switch cfg.WebhookURL {
	case "-":
		cfg.WebhookURL = ""
	case "":
		b.recv = newReceiver(t, 0)
		cfg.WebhookURL = b.recv.srv.URL
	}
	b.sim = New(cfg, nil)
	b.srv = httptest.NewServer(b.sim)
	ctx, cancel := context.WithCancel(context.Background())
	b.sim.Start(ctx)
	t.Cleanup(func() {
		b.sim.Close()
		cancel()
		b.srv.Close()
	})
	b.client = whatsapp.NewClient(whatsapp.Config{BaseURL: b.srv.URL, Token: testToken})
	return b
}

func (b *bundle) send(t testing.TB, msg whatsapp.TemplateMessage) (*whatsapp.SendResponse, error) {
	t.Helper()
	return b.client.SendTemplate(context.Background(), testPhone, msg)
}

func (b *bundle) drain(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, b.sim.Drain(ctx))
}

// apiError asserts err is a Cloud API error with code and HTTP status.
func apiError(t *testing.T, err error, code, httpStatus int) *whatsapp.Error {
	t.Helper()
	var apiErr *whatsapp.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, code, apiErr.Code, "error: %v", err)
	require.Equal(t, httpStatus, apiErr.HTTPStatus)
	require.NotEmpty(t, apiErr.FBTraceID)
	return apiErr
}

// sendDirect posts a valid "promo" send through ServeHTTP, without a
// network, and returns the HTTP status.
func sendDirect(t testing.TB, sim *Server, to string) int {
	t.Helper()
	body, err := json.Marshal(promoMessage(to))
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, "/v25.0/"+testPhone+"/messages", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken.Reveal())
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, req)
	return rec.Code
}

// fakeClock is a settable NowFunc.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
