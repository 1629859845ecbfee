package wasim

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-sh/herald/internal/whatsapp"
)

// Record is one accepted send.
type Record struct {
	WAMID         string
	PhoneNumberID string
	To            string // as sent
	WaID          string // digits of To
	Template      string
	Language      string
	Category      string // the template's category, upper case
	// Params are the header then body parameter values (text, or the
	// fallback_value of currency and date_time), in the template's order for
	// named templates and in the request's order otherwise.
	Params                []string
	BizOpaqueCallbackData string
	At                    time.Time
}

// Stats are the simulator's counters.
type Stats struct {
	Requests int // every HTTP request
	Accepted int // sends answered with a wamid (TimeoutAccepted included)
	// Rejected counts synchronous error answers by code, 130429 and
	// 131056 included.
	Rejected  map[int]int
	Throttled int // 130429 answers
	HTTP500   int // injected non-JSON 500 answers
	TimedOut  int // requests held without an answer
	// WebhooksPosted counts webhook POSTs answered 2xx; WebhookFailures
	// failed attempts (non-2xx or network); WebhooksDropped batches given
	// up after WebhookMaxAttempts.
	WebhooksPosted  int
	WebhookFailures int
	WebhooksDropped int
	// Events counts delivered webhook events by kind: sent, delivered,
	// read, failed, reply, click, opt_out.
	Events map[string]int
	// AsyncFailures counts delivered "failed" statuses by error code.
	AsyncFailures map[int]int
}

// Server simulates the Cloud API. It is an http.Handler; serve it with
// httptest.NewServer or an http.Server and point whatsapp.Config.BaseURL at
// it. Call Start to post webhooks and Close when done.
type Server struct {
	// cfg is a pointer so that printing a Server never shows Token or
	// AppSecret: fmt cannot redact a Secret inside an unexported field.
	cfg          *Config
	logger       *slog.Logger
	mux          *http.ServeMux
	templates    map[templateKey]*template
	templateList []*template
	traceSeq     atomic.Uint64
	inboundSeq   atomic.Uint64

	mu          sync.Mutex
	lastDecided time.Time // the time the last send was counted at
	rng         *rand.Rand
	msgSeq      uint64
	windows     map[string]*window
	pairs       *pairs
	records     []Record
	stats       Stats
	queue       map[batchKey][]event
	pending     int           // webhook events queued or being posted
	idle        chan struct{} // closed while pending == 0

	flushNow  chan struct{}
	batches   chan []event
	closed    chan struct{}
	startOnce sync.Once
	closeOnce sync.Once
	started   atomic.Bool
	runCtx    context.Context // Start's context; set before started
	stop      context.CancelFunc
	wg        sync.WaitGroup

	// onHoldFunc, if set (tests only), is called when a request starts being
	// held without an answer.
	onHoldFunc func()
}

// New returns a simulator. It panics on a configuration that can only be a
// programming error (a fraction outside [0,1], a nameless template). logger
// may be nil.
func New(cfg Config, logger *slog.Logger) *Server {
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	idle := make(chan struct{})
	close(idle)
	s := &Server{
		cfg:       &cfg,
		logger:    logger,
		templates: map[templateKey]*template{},
		rng:       rand.New(rand.NewPCG(uint64(cfg.Seed), 0x9e3779b97f4a7c15)),
		windows:   map[string]*window{},
		pairs:     newPairs(cfg.PairBurst, cfg.PairInterval),
		stats:     Stats{Rejected: map[int]int{}, Events: map[string]int{}, AsyncFailures: map[int]int{}},
		queue:     map[batchKey][]event{},
		idle:      idle,
		flushNow:  make(chan struct{}, 1),
		batches:   make(chan []event),
		closed:    make(chan struct{}),
	}
	for i, def := range cfg.Templates {
		t := newTemplate(i, def)
		s.templates[templateKey{def.Name, def.Language}] = t
		s.templateList = append(s.templateList, t)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /{version}/{phone}/messages", s.handleSend)
	s.mux.HandleFunc("GET /{version}/{waba}/message_templates", s.handleTemplates)
	s.mux.HandleFunc("/", s.handleUnknown)
	return s
}

// ServeHTTP routes POST /{version}/{phone_number_id}/messages and
// GET /{version}/{waba_id}/message_templates; anything else answers Graph's
// error 100.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

func (s *Server) handleUnknown(w http.ResponseWriter, r *http.Request) {
	s.countRequest()
	s.writeError(w, r, newError(100, "Unsupported "+strings.ToLower(r.Method)+" request: "+r.URL.Path))
}

func (s *Server) countRequest() {
	s.mu.Lock()
	s.stats.Requests++
	s.mu.Unlock()
}

// authenticate checks the bearer token: present, and equal to Config.Token
// when that is set. Missing answers code 0, wrong 190 (both HTTP 401).
func (s *Server) authenticate(r *http.Request) *whatsapp.Error {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		return newError(0, "An access token is required to request this resource.")
	}
	if want := s.cfg.Token.Reveal(); want != "" && subtle.ConstantTimeCompare([]byte(token), []byte(want)) != 1 {
		return newError(190, "Invalid OAuth access token - Cannot parse access token")
	}
	return nil
}

// wait applies Config.Latency; false means the client went away.
func (s *Server) wait(r *http.Request) bool {
	if s.cfg.Latency <= 0 {
		return true
	}
	t := time.NewTimer(s.cfg.Latency)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// hold keeps a request unanswered until the client gives up or the server
// closes. On close it aborts the connection (http.ErrAbortHandler), so the
// client never gets an answer either way.
func (s *Server) hold(r *http.Request) {
	if s.onHoldFunc != nil {
		s.onHoldFunc()
	}
	select {
	case <-r.Context().Done():
	case <-s.closed:
		panic(http.ErrAbortHandler)
	}
}

func (s *Server) traceID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(s.cfg.Seed))
	binary.BigEndian.PutUint64(b[8:], s.traceSeq.Add(1))
	return "A" + base64.RawURLEncoding.EncodeToString(b[:])
}

// Records returns every accepted send, in acceptance order.
func (s *Server) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Record, len(s.records))
	for i, r := range s.records {
		r.Params = slices.Clone(r.Params)
		out[i] = r
	}
	return out
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Rejected = maps.Clone(s.stats.Rejected)
	st.Events = maps.Clone(s.stats.Events)
	st.AsyncFailures = maps.Clone(s.stats.AsyncFailures)
	return st
}

// DuplicateRecipients returns, sorted, the recipients (To as first sent)
// that phoneNumberID messaged with template more than once: what an
// exactly-once test asserts to be empty.
func (s *Server) DuplicateRecipients(phoneNumberID, template string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	count := map[string]int{}
	first := map[string]string{}
	for _, r := range s.records {
		if r.PhoneNumberID != phoneNumberID || r.Template != template {
			continue
		}
		if count[r.WaID] == 0 {
			first[r.WaID] = r.To
		}
		count[r.WaID]++
	}
	var dups []string
	for id, n := range count {
		if n > 1 {
			dups = append(dups, first[id])
		}
	}
	slices.Sort(dups)
	return dups
}

// HeaderTimeout bounds how long the simulator's HTTP server waits for a
// request's headers, including on a connection a client has dialed but not
// used yet. It outlasts the time clients keep idle connections (Go's
// transport, and herald's client with it: 90 s). A shorter one closes such
// a connection just as the client may pick it for a send; a POST on a fresh
// connection that closes under it is not retried, and its outcome is
// unknown: the send would end unknown for want of a webhook.
const HeaderTimeout = 5 * time.Minute

// HTTPServer returns the server to run a simulator on, with HeaderTimeout.
func HTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: HeaderTimeout}
}
