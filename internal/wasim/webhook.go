package wasim

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/herald-sh/herald/internal/whatsapp"
)

// stage is one webhook event in a message's life.
type stage uint8

const (
	stageSent stage = iota + 1
	stageDelivered
	stageRead
	stageFailed
	stageReply
	stageClick
	stageOptOut
)

var stageNames = [...]string{
	stageSent:      whatsapp.StatusSent,
	stageDelivered: whatsapp.StatusDelivered,
	stageRead:      whatsapp.StatusRead,
	stageFailed:    whatsapp.StatusFailed,
	stageReply:     "reply",
	stageClick:     "click",
	stageOptOut:    "opt_out",
}

func (st stage) String() string { return stageNames[st] }

// inbound reports whether the stage is a user message rather than a status.
func (st stage) inbound() bool { return st >= stageReply }

// message is an accepted send and the webhook events planned for it.
type message struct {
	wamid         string
	phoneNumberID string
	waID          string
	biz           string
	category      string // lower case, as pricing.category
	failCode      int
	clickPayload  string
	clickText     string
	plan          []stage
}

// event is step plan[step] of msg. A message's next event is queued only
// once the POST carrying this one was answered 2xx, which keeps one
// message's webhooks in order (sent, delivered, read, then the user's
// message) however many goroutines post.
type event struct {
	msg  *message
	step int
}

func (e event) stage() stage { return e.msg.plan[e.step] }

type batchKey struct {
	phoneNumberID string
	inbound       bool
}

// planLocked draws what happens to an accepted message.
func (s *Server) planLocked(sv *validSend, wamid string) *message {
	m := &message{
		wamid:         wamid,
		phoneNumberID: sv.phoneNumberID,
		waID:          sv.waID,
		biz:           sv.biz,
		category:      strings.ToLower(sv.tmpl.def.Category),
		clickPayload:  "CLICK",
		clickText:     "CLICK",
	}
	if i, text := sv.tmpl.firstQuickReply(); i >= 0 {
		m.clickText = text
		if p := sv.payloads[i]; p != "" {
			m.clickPayload = p
		}
	}
	f := s.cfg.Failures
	if code, ok := pick(s.rng.Float64(), f.AsyncCodes); ok {
		m.failCode = code
		m.plan = []stage{stageFailed}
		return m
	}
	m.plan = []stage{stageSent, stageDelivered}
	if s.rng.Float64() < f.Read {
		m.plan = append(m.plan, stageRead)
		switch u := s.rng.Float64(); {
		case u < f.Reply:
			m.plan = append(m.plan, stageReply)
		case u < f.Reply+f.Click:
			m.plan = append(m.plan, stageClick)
		case u < f.Reply+f.Click+f.OptOut:
			m.plan = append(m.plan, stageOptOut)
		}
	}
	return m
}

func (s *Server) enqueueLocked(e event) {
	k := batchKey{e.msg.phoneNumberID, e.stage().inbound()}
	s.queue[k] = append(s.queue[k], e)
	s.addPendingLocked(1)
	if len(s.queue[k]) >= s.cfg.WebhookBatch {
		select {
		case s.flushNow <- struct{}{}:
		default:
		}
	}
}

func (s *Server) addPendingLocked(n int) {
	if s.pending == 0 && n > 0 {
		s.idle = make(chan struct{})
	}
	s.pending += n
	if s.pending == 0 && n < 0 {
		close(s.idle)
	}
}

// Start starts the goroutines that batch and post webhooks; they stop when
// ctx is done or at Close. Without a WebhookURL it does nothing. Sends
// accepted before Start have their webhooks queued and posted once started.
func (s *Server) Start(ctx context.Context) {
	if s.cfg.WebhookURL == "" {
		return
	}
	s.startOnce.Do(func() {
		ctx, s.stop = context.WithCancel(ctx)
		s.runCtx = ctx
		s.started.Store(true)
		s.wg.Add(1 + s.cfg.WebhookConcurrency)
		go s.flushLoop(ctx)
		for range s.cfg.WebhookConcurrency {
			go s.postLoop(ctx)
		}
	})
}

// Close releases requests held by timeout injection, waits up to
// CloseTimeout for queued webhooks to be delivered, then stops the posting
// goroutines.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		if !s.started.Load() {
			return
		}
		// Bounded by CloseTimeout, and pointless once Start's context is
		// done (nothing is posting any more).
		ctx, cancel := context.WithTimeout(s.runCtx, s.cfg.CloseTimeout)
		defer cancel()
		if err := s.Drain(ctx); err != nil {
			s.mu.Lock()
			left := s.pending
			s.mu.Unlock()
			s.logger.Warn("wasim closing with webhooks undelivered", slog.Int("events", left))
		}
		s.stop()
		s.wg.Wait()
	})
}

// Drain waits until every queued webhook event has been delivered (answered
// 2xx) or given up on, including the events that deliveries cause (a
// delivered status queues the read status). Call it after the sends whose
// webhooks you wait for have returned, and after Start.
func (s *Server) Drain(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.pending == 0 {
			s.mu.Unlock()
			return nil
		}
		idle := s.idle
		s.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("drain webhooks: %w", ctx.Err())
		}
	}
}

// flushLoop hands queued events to the posters in batches of at most
// WebhookBatch, every WebhookFlushInterval or as soon as a batch is full.
func (s *Server) flushLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.WebhookFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.flushNow:
		}
		for _, b := range s.takeBatches() {
			select {
			case s.batches <- b:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (s *Server) takeBatches() [][]event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]event
	for k, evs := range s.queue {
		for len(evs) > 0 {
			n := min(len(evs), s.cfg.WebhookBatch)
			out = append(out, evs[:n:n])
			evs = evs[n:]
		}
		delete(s.queue, k)
	}
	return out
}

func (s *Server) postLoop(ctx context.Context) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-s.batches:
			s.deliver(ctx, b)
		}
	}
}

// deliver posts one batch, retrying failed attempts with doubling backoff
// up to WebhookMaxAttempts, as Meta retries (for days; here briefly).
func (s *Server) deliver(ctx context.Context, batch []event) {
	body, err := json.Marshal(s.notification(batch))
	if err != nil {
		s.dropped(batch, err)
		return
	}
	backoff := s.cfg.WebhookRetryBackoff
	for attempt := 1; ; attempt++ {
		err := s.postOnce(ctx, body)
		if err == nil {
			s.acked(batch)
			return
		}
		s.mu.Lock()
		s.stats.WebhookFailures++
		s.mu.Unlock()
		if attempt >= s.cfg.WebhookMaxAttempts {
			s.dropped(batch, err)
			return
		}
		s.logger.Debug("wasim webhook attempt failed", slog.Int("attempt", attempt), slog.Any("error", err))
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			s.dropped(batch, ctx.Err())
			return
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (s *Server) postOnce(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if s.cfg.AppSecret != "" {
		req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(body, s.cfg.AppSecret))
	}
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errors.New("webhook answered " + resp.Status)
	}
	return nil
}

// acked counts a delivered batch and queues each message's next event.
func (s *Server) acked(batch []event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.WebhooksPosted++
	for _, e := range batch {
		st := e.stage()
		s.stats.Events[st.String()]++
		if st == stageFailed {
			s.stats.AsyncFailures[e.msg.failCode]++
		}
		if e.step+1 < len(e.msg.plan) {
			s.enqueueLocked(event{msg: e.msg, step: e.step + 1})
		}
	}
	s.addPendingLocked(-len(batch))
}

// dropped gives up on a batch and on the later events of its messages.
func (s *Server) dropped(batch []event, err error) {
	s.logger.Warn("wasim dropped webhook batch", slog.Int("events", len(batch)), slog.Any("error", err))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.WebhooksDropped++
	s.addPendingLocked(-len(batch))
}

// notification builds the webhook body for a batch; all its events share a
// phone number and are all statuses or all inbound messages.
func (s *Server) notification(batch []event) whatsapp.Notification {
	md := whatsapp.Metadata{DisplayPhoneNumber: s.cfg.DisplayPhoneNumber, PhoneNumberID: batch[0].msg.phoneNumberID}
	ts := strconv.FormatInt(s.cfg.NowFunc().Unix(), 10)
	if !batch[0].stage().inbound() {
		statuses := make([]whatsapp.Status, 0, len(batch))
		for _, e := range batch {
			statuses = append(statuses, s.status(e, ts))
		}
		return whatsapp.NewStatusNotification(s.cfg.WABAID, md, statuses)
	}
	var contacts []whatsapp.Contact
	seen := map[string]bool{}
	msgs := make([]whatsapp.InboundMessage, 0, len(batch))
	for _, e := range batch {
		m := e.msg
		if !seen[m.waID] {
			seen[m.waID] = true
			contacts = append(contacts, whatsapp.Contact{Profile: whatsapp.Profile{Name: "Sim User " + suffix(m.waID)}, WaID: m.waID})
		}
		in := whatsapp.InboundMessage{
			From:      m.waID,
			ID:        s.inboundID(m.waID),
			Timestamp: ts,
			Context:   &whatsapp.MessageContext{From: s.cfg.DisplayPhoneNumber, ID: m.wamid},
		}
		switch e.stage() {
		case stageReply:
			in.Type, in.Text = "text", &whatsapp.TextBody{Body: "Thanks, tell me more"}
		case stageClick:
			in.Type, in.Button = "button", &whatsapp.ButtonReply{Payload: m.clickPayload, Text: m.clickText}
		case stageOptOut:
			in.Type, in.Text = "text", &whatsapp.TextBody{Body: "STOP"}
		}
		msgs = append(msgs, in)
	}
	return whatsapp.NewMessageNotification(s.cfg.WABAID, md, contacts, msgs)
}

// status builds the status object for e. Pricing is on sent and delivered
// (reference §3.3: on sent and on one of delivered/read); conversation is
// left out, as from v24.0 outside free entry point windows.
func (s *Server) status(e event, ts string) whatsapp.Status {
	m := e.msg
	st := whatsapp.Status{
		ID:                    m.wamid,
		Status:                e.stage().String(),
		Timestamp:             ts,
		RecipientID:           m.waID,
		BizOpaqueCallbackData: m.biz,
	}
	switch e.stage() {
	case stageSent, stageDelivered:
		billable := true
		st.Pricing = &whatsapp.Pricing{Billable: &billable, PricingModel: "PMP", Type: "regular", Category: m.category}
	case stageFailed:
		title := whatsapp.CodeTitle(m.failCode)
		st.Errors = []whatsapp.ErrorObject{{
			Code:      m.failCode,
			Title:     title,
			Message:   title,
			ErrorData: whatsapp.ErrorData{Details: asyncDetails(m.failCode)},
			Href:      "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
		}}
	}
	return st
}

func asyncDetails(code int) string {
	switch code {
	case 131026:
		return "Message Undeliverable."
	case 131049:
		return "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."
	case 131050:
		return "The user has stopped marketing messages from this business."
	default:
		return "Simulated failure " + strconv.Itoa(code) + "."
	}
}

func (s *Server) inboundID(waID string) string {
	return newWAMID(waID, 1<<63|s.inboundSeq.Add(1), binary.BigEndian.Uint64([]byte("wasim-in")))
}

func suffix(waID string) string {
	if len(waID) <= 4 {
		return waID
	}
	return waID[len(waID)-4:]
}
