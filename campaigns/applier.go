package campaigns

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/herald-sh/herald/internal/pricing"
	"github.com/herald-sh/herald/internal/store"
	"github.com/herald-sh/herald/internal/whatsapp"
)

// DefaultOptOutWords are the inbound texts that opt a contact out, compared
// without case or accents, in English, Portuguese and Spanish.
var DefaultOptOutWords = []string{
	"STOP", "STOP PROMOTIONS", "UNSUBSCRIBE", "OPT OUT", "OPTOUT", "CANCEL", "END", "QUIT",
	"PARAR", "SAIR", "CANCELAR", "DESCADASTRAR", "NAO QUERO", "PARE",
	"BAJA", "DAR DE BAJA", "DETENER", "ALTO", "NO MAS", "NO QUIERO",
}

// ApplierConfig tunes the webhook applier.
type ApplierConfig struct {
	// BatchSize is how many stored webhook bodies one transaction applies
	// (default 500).
	BatchSize int
	// PollInterval is how often it looks for new events when not woken
	// (default 200ms).
	PollInterval time.Duration
	// PendingEvery is how often unmatched statuses are retried (default 2s);
	// PendingMaxAge drops them after (default 7 days, Meta's retry window).
	PendingEvery  time.Duration
	PendingMaxAge time.Duration
	// OptOutWords replaces DefaultOptOutWords when set.
	OptOutWords []string
	// Card prices billable messages (default pricing.Default()).
	Card    *pricing.Card
	NowFunc func() time.Time
}

// Applier turns stored webhook events into send statuses, engagement,
// consent changes and rollups, off the request path.
type Applier struct {
	logger  *slog.Logger
	pool    *pgxpool.Pool
	cfg     ApplierConfig
	optOut  map[string]bool
	wake    chan struct{}
	done    chan struct{}
	stop    context.CancelFunc
	mu      sync.Mutex
	idle    []chan struct{}
	started bool
}

// NewApplier returns an Applier.
func NewApplier(logger *slog.Logger, pool *pgxpool.Pool, cfg ApplierConfig) *Applier {
	cfg.BatchSize = cmp.Or(cfg.BatchSize, 500)
	cfg.PollInterval = cmp.Or(cfg.PollInterval, 200*time.Millisecond)
	cfg.PendingEvery = cmp.Or(cfg.PendingEvery, 2*time.Second)
	cfg.PendingMaxAge = cmp.Or(cfg.PendingMaxAge, 7*24*time.Hour)
	if cfg.Card == nil {
		cfg.Card = pricing.Default()
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	words := cfg.OptOutWords
	if len(words) == 0 {
		words = DefaultOptOutWords
	}
	optOut := map[string]bool{}
	for _, w := range words {
		optOut[foldText(w)] = true
	}
	return &Applier{logger: logger, pool: pool, cfg: cfg, optOut: optOut, wake: make(chan struct{}, 1)}
}

// Wake makes the applier look for events now (the receiver calls it after
// each commit).
func (a *Applier) Wake() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Start runs the apply loop until Stop.
func (a *Applier) Start(ctx context.Context) {
	ctx, a.stop = context.WithCancel(ctx)
	a.done = make(chan struct{})
	go a.loop(ctx)
}

// Stop ends the loop and waits for it.
func (a *Applier) Stop() {
	if a.stop == nil {
		return
	}
	a.stop()
	<-a.done
}

// Idle returns a channel closed the next time the applier finds nothing to
// apply, so a caller can wait until everything stored so far is applied.
func (a *Applier) Idle() <-chan struct{} {
	ch := make(chan struct{})
	a.mu.Lock()
	a.idle = append(a.idle, ch)
	a.mu.Unlock()
	a.Wake()
	return ch
}

func (a *Applier) loop(ctx context.Context) {
	defer close(a.done)
	ticker := time.NewTicker(a.cfg.PollInterval)
	defer ticker.Stop()
	var lastPending time.Time
	for {
		// Only a pass that starts after Idle was called may answer it:
		// one already under way may have missed events stored since.
		a.mu.Lock()
		waiting := a.idle
		a.idle = nil
		a.mu.Unlock()
		n, err := a.ApplyBatch(ctx)
		if err != nil && ctx.Err() == nil {
			a.logger.Error("apply webhook events", slog.Any("error", err))
		}
		if time.Since(lastPending) >= a.cfg.PendingEvery {
			lastPending = time.Now()
			if _, err := a.ApplyPending(ctx); err != nil && ctx.Err() == nil {
				a.logger.Error("apply pending statuses", slog.Any("error", err))
			}
		}
		if n == 0 && err == nil {
			for _, ch := range waiting {
				close(ch)
			}
		} else {
			a.mu.Lock()
			a.idle = append(waiting, a.idle...)
			a.mu.Unlock()
		}
		if n > 0 && err == nil {
			continue // more may be waiting
		}
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		case <-ticker.C:
		}
	}
}

// statusUpdate is one status of one webhook, ready for statusApplySQL.
type statusUpdate struct {
	SendID   int64     `json:"send_id,omitempty"`
	WAMID    string    `json:"wamid"`
	Status   string    `json:"status"`
	At       time.Time `json:"at"`
	Code     *int32    `json:"code,omitempty"`
	Title    string    `json:"title,omitempty"`
	Details  string    `json:"details,omitempty"`
	Category string    `json:"category,omitempty"`
	Type     string    `json:"type,omitempty"`
	Billable *bool     `json:"billable,omitempty"`
	WaID     string    `json:"wa_id,omitempty"`
}

type inbound struct {
	wamid, from, context, kind, typ, text, button string
	at                                            time.Time
	payloadSend                                   int64
}

type consentChange struct {
	phone, consent, source string
	at                     time.Time
}

// batch is what one transaction applies.
type batch struct {
	statuses []statusUpdate
	inbound  []inbound
	consent  []consentChange
}

// ApplyBatch applies up to BatchSize stored events in one transaction and
// reports how many it took.
func (a *Applier) ApplyBatch(ctx context.Context) (int, error) {
	var n int
	err := store.WithTx(ctx, a.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, webhookEventsClaimSQL, a.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("claim webhook events: %w", err)
		}
		var ids []int64
		var b batch
		for rows.Next() {
			var id int64
			var body []byte
			if err := rows.Scan(&id, &body); err != nil {
				return err
			}
			ids = append(ids, id)
			a.collect(id, body, &b)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("claim webhook events: %w", err)
		}
		n = len(ids)
		if n == 0 {
			return nil
		}
		if err := a.apply(ctx, tx, &b, true); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, webhookEventsDoneSQL, ids); err != nil {
			return fmt.Errorf("mark webhook events applied: %w", err)
		}
		return nil
	})
	return n, err
}

// collect reads one stored body. A body herald cannot use (an event kind it
// does not model, a malformed status) stays stored, raw, and is skipped.
func (a *Applier) collect(eventID int64, body []byte, b *batch) {
	n, err := whatsapp.ParseNotification(body)
	if err != nil {
		a.logger.Warn("unparsable webhook event kept unapplied", slog.Int64("event_id", eventID), slog.Any("error", err))
		return
	}
	for _, e := range n.Entry {
		for _, ch := range e.Changes {
			v := ch.Value
			for _, s := range v.Statuses {
				if u, ok := statusFromWebhook(s); ok {
					b.statuses = append(b.statuses, u)
				}
			}
			for _, m := range v.Messages {
				b.inbound = append(b.inbound, a.inboundFromWebhook(m))
				if in := b.inbound[len(b.inbound)-1]; in.kind == "opt_out" {
					b.consent = append(b.consent, consentChange{"+" + m.From, "opted_out", "inbound:" + in.typ, in.at})
				}
			}
			for _, p := range v.UserPreferences {
				if p.WaID == "" {
					continue
				}
				at, _ := unixTime(p.Timestamp)
				switch strings.ToLower(p.Value) {
				case "stop":
					b.consent = append(b.consent, consentChange{"+" + p.WaID, "opted_out", "user_preferences:stop", at})
				case "resume":
					b.consent = append(b.consent, consentChange{"+" + p.WaID, "opted_in", "user_preferences:resume", at})
				}
			}
		}
	}
}

func statusFromWebhook(s whatsapp.Status) (statusUpdate, bool) {
	switch s.Status {
	case "sent", "delivered", "read", "failed":
	default:
		return statusUpdate{}, false // played, deleted, warning: nothing to count
	}
	at, err := s.Time()
	if err != nil {
		at = time.Now()
	}
	u := statusUpdate{WAMID: s.ID, Status: s.Status, At: at, WaID: s.RecipientID}
	if id, ok := parseCallbackData(s.BizOpaqueCallbackData); ok {
		u.SendID = id
	}
	if s.Status == "failed" && len(s.Errors) > 0 {
		code := int32(s.Errors[0].Code)
		u.Code = &code
		u.Title = cmpOr(s.Errors[0].Title, whatsapp.CodeTitle(s.Errors[0].Code))
		u.Details = cmpOr(s.Errors[0].ErrorData.Details, s.Errors[0].Message)
	}
	if p := s.Pricing; p != nil {
		u.Category, u.Type = p.Category, p.Type
		switch {
		case p.Type != "":
			b := p.Type == "regular"
			u.Billable = &b
		case p.Billable != nil:
			b := *p.Billable
			u.Billable = &b
		}
	}
	return u, true
}

func (a *Applier) inboundFromWebhook(m whatsapp.InboundMessage) inbound {
	at, err := m.Time()
	if err != nil {
		at = time.Now()
	}
	in := inbound{wamid: m.ID, from: "+" + m.From, typ: m.Type, at: at, kind: "reply"}
	if m.Context != nil {
		in.context = m.Context.ID
	}
	switch {
	case m.Button != nil:
		in.kind, in.button, in.text = "click", m.Button.Payload, m.Button.Text
		if id, _, ok := parseButtonPayload(m.Button.Payload); ok {
			in.payloadSend = id
		}
		if a.optOut[foldText(m.Button.Text)] || strings.HasPrefix(m.Button.Payload, "STOP") {
			in.kind = "opt_out"
		}
	case m.Interactive != nil:
		in.kind = "click"
		if r := m.Interactive.ButtonReply; r != nil {
			in.button, in.text = r.ID, r.Title
		} else if r := m.Interactive.ListReply; r != nil {
			in.button, in.text = r.ID, r.Title
		}
	case m.Text != nil:
		in.text = m.Text.Body
		if a.optOut[foldText(m.Text.Body)] {
			in.kind = "opt_out"
		}
	}
	return in
}

// apply writes a batch: statuses (unmatched ones kept as pending when
// keepPending), inbound messages, consent changes, rollups.
func (a *Applier) apply(ctx context.Context, tx pgx.Tx, b *batch, keepPending bool) error {
	ds := deltas{}
	matched, err := a.applyStatuses(ctx, tx, b.statuses, ds)
	if err != nil {
		return err
	}
	if keepPending {
		if err := a.keepPending(ctx, tx, b.statuses, matched); err != nil {
			return err
		}
	}
	if err := a.applyInbound(ctx, tx, b.inbound, ds); err != nil {
		return err
	}
	if len(b.consent) > 0 {
		var phones, consents, sources []string
		var ats []time.Time
		for _, c := range b.consent {
			phones, consents, sources, ats = append(phones, c.phone), append(consents, c.consent), append(sources, c.source), append(ats, c.at)
		}
		if _, err := tx.Exec(ctx, contactConsentByPhoneSQL, phones, consents, sources, ats); err != nil {
			return fmt.Errorf("apply consent changes: %w", err)
		}
	}
	return ds.write(ctx, tx)
}

// matchKey identifies which inputs a returned row answers.
type matchSet struct {
	sends  map[int64]bool
	wamids map[string]bool
}

func (a *Applier) applyStatuses(ctx context.Context, tx pgx.Tx, us []statusUpdate, ds deltas) (matchSet, error) {
	ms := matchSet{sends: map[int64]bool{}, wamids: map[string]bool{}}
	if len(us) == 0 {
		return ms, nil
	}
	n := len(us)
	sendIDs := make([]*int64, n)
	wamids, statuses := make([]string, n), make([]string, n)
	ats := make([]time.Time, n)
	codes := make([]*int32, n)
	titles, details, cats, types, waIDs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	billable := make([]*bool, n)
	for i, u := range us {
		if u.SendID > 0 {
			id := u.SendID
			sendIDs[i] = &id
		}
		wamids[i], statuses[i], ats[i], codes[i] = u.WAMID, u.Status, u.At, u.Code
		titles[i], details[i], cats[i], types[i], billable[i], waIDs[i] = u.Title, u.Details, u.Category, u.Type, u.Billable, u.WaID
	}
	rows, err := tx.Query(ctx, statusApplySQL, sendIDs, wamids, statuses, ats, codes, titles, details, cats, types, billable, waIDs)
	if err != nil {
		return ms, fmt.Errorf("apply statuses: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, campaignID              int64
			wamid                       *string
			old, new, country, category string
			code                        *int32
			wasCharged, isCharged       bool
			sentAt, deliveredAt, readAt *time.Time
		)
		if err := rows.Scan(&id, &wamid, &campaignID, &old, &new, &country, &category, &code, &wasCharged, &isCharged,
			&sentAt, &deliveredAt, &readAt); err != nil {
			return ms, fmt.Errorf("apply statuses: %w", err)
		}
		ms.sends[id] = true
		if wamid != nil {
			ms.wamids[*wamid] = true
		}
		d := ds.of(campaignID)
		d.move(old, new)
		if new == "failed" && old != "failed" {
			d.failures[codeOrZero(code)]++
			d.event(a.cfg.NowFunc(), "failed")
		}
		if isCharged && !wasCharged {
			d.cost += a.cfg.Card.Price(category, country)
		}
		for _, ev := range []struct {
			at   *time.Time
			name string
		}{{sentAt, "sent"}, {deliveredAt, "delivered"}, {readAt, "read"}} {
			if ev.at != nil {
				d.event(*ev.at, ev.name)
			}
		}
	}
	return ms, rows.Err()
}

func (a *Applier) keepPending(ctx context.Context, tx pgx.Tx, us []statusUpdate, ms matchSet) error {
	var (
		wamids, statuses []string
		sendIDs          []*int64
		ats              []time.Time
		payloads         [][]byte
	)
	for _, u := range us {
		if (u.SendID > 0 && ms.sends[u.SendID]) || ms.wamids[u.WAMID] {
			continue
		}
		p, _ := json.Marshal(u)
		var sid *int64
		if u.SendID > 0 {
			v := u.SendID
			sid = &v
		}
		wamids, statuses, sendIDs, ats, payloads = append(wamids, u.WAMID), append(statuses, u.Status), append(sendIDs, sid), append(ats, u.At), append(payloads, p)
	}
	if len(wamids) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, pendingInsertSQL, wamids, sendIDs, statuses, ats, payloads); err != nil {
		return fmt.Errorf("keep pending statuses: %w", err)
	}
	return nil
}

// ApplyPending retries statuses that arrived before their send could be
// matched, deleting those that now match and those older than PendingMaxAge.
func (a *Applier) ApplyPending(ctx context.Context) (int, error) {
	var applied int
	err := store.WithTx(ctx, a.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM pending_statuses WHERE received_at < now() - make_interval(secs => $1)`,
			a.cfg.PendingMaxAge.Seconds()); err != nil {
			return fmt.Errorf("expire pending statuses: %w", err)
		}
		rows, err := tx.Query(ctx, pendingClaimSQL, a.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("claim pending statuses: %w", err)
		}
		var ids []int64
		var us []statusUpdate
		for rows.Next() {
			var id int64
			var payload []byte
			if err := rows.Scan(&id, &payload); err != nil {
				return err
			}
			var u statusUpdate
			if err := json.Unmarshal(payload, &u); err != nil {
				return fmt.Errorf("decode pending status %d: %w", id, err)
			}
			ids, us = append(ids, id), append(us, u)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(us) == 0 {
			return nil
		}
		ds := deltas{}
		ms, err := a.applyStatuses(ctx, tx, us, ds)
		if err != nil {
			return err
		}
		var done []int64
		for i, u := range us {
			if (u.SendID > 0 && ms.sends[u.SendID]) || ms.wamids[u.WAMID] {
				done = append(done, ids[i])
			}
		}
		applied = len(done)
		if _, err := tx.Exec(ctx, `DELETE FROM pending_statuses WHERE id = ANY($1)`, done); err != nil {
			return fmt.Errorf("delete applied pending statuses: %w", err)
		}
		return ds.write(ctx, tx)
	})
	return applied, err
}

func (a *Applier) applyInbound(ctx context.Context, tx pgx.Tx, ins []inbound, ds deltas) error {
	if len(ins) == 0 {
		return nil
	}
	n := len(ins)
	wamids, froms, contexts, kinds, types, texts, buttons := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ats := make([]time.Time, n)
	payloadSends := make([]*int64, n)
	for i, in := range ins {
		wamids[i], froms[i], contexts[i], kinds[i], types[i], texts[i], buttons[i], ats[i] = in.wamid, in.from, in.context, in.kind, in.typ, in.text, in.button, in.at
		if in.payloadSend > 0 {
			v := in.payloadSend
			payloadSends[i] = &v
		}
	}
	rows, err := tx.Query(ctx, inboundInsertSQL, wamids, froms, contexts, kinds, types, texts, buttons, ats, payloadSends)
	if err != nil {
		return fmt.Errorf("store inbound messages: %w", err)
	}
	var sendIDs []int64
	var clicks []bool
	var when []time.Time
	for rows.Next() {
		var (
			sendID, contactID *int64
			kind, typ, text   string
			at                time.Time
		)
		if err := rows.Scan(&sendID, &contactID, &kind, &typ, &at, &text); err != nil {
			rows.Close()
			return fmt.Errorf("store inbound messages: %w", err)
		}
		if sendID != nil {
			sendIDs, clicks, when = append(sendIDs, *sendID), append(clicks, typ == "button" || typ == "interactive"), append(when, at)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store inbound messages: %w", err)
	}
	if len(sendIDs) == 0 {
		return nil
	}
	rows, err = tx.Query(ctx, sendEngagedSQL, sendIDs, clicks, when)
	if err != nil {
		return fmt.Errorf("mark engaged sends: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var campaignID int64
		var replied, clicked *time.Time
		if err := rows.Scan(&campaignID, &replied, &clicked); err != nil {
			return fmt.Errorf("mark engaged sends: %w", err)
		}
		d := ds.of(campaignID)
		if replied != nil {
			d.replied++
			d.event(*replied, "replied")
		}
		if clicked != nil {
			d.clicked++
			d.event(*clicked, "clicked")
		}
	}
	return rows.Err()
}

// foldText upper-cases and strips accents and surrounding punctuation, so
// "Não quero!" and "NAO QUERO" compare equal.
func foldText(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	out = strings.TrimFunc(strings.ToUpper(out), func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSpace(r) })
	return strings.Join(strings.Fields(out), " ")
}

func unixTime(s string) (time.Time, error) {
	var sec int64
	if _, err := fmt.Sscan(s, &sec); err != nil {
		return time.Time{}, err
	}
	return time.Unix(sec, 0), nil
}
