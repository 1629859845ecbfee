package campaigns

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/storetest"
	"github.com/herald-sh/herald/internal/whatsapp"
)

// storeEvent stores a webhook body as the receiver does.
func storeEvent(t *testing.T, pool *pgxpool.Pool, n whatsapp.Notification) {
	t.Helper()
	b, err := json.Marshal(n)
	require.NoError(t, err)
	_, err = pool.Exec(context.Background(), `INSERT INTO webhook_events (body) VALUES ($1)`, b)
	require.NoError(t, err)
}

func applyAll(t *testing.T, a *Applier) {
	t.Helper()
	for {
		n, err := a.ApplyBatch(context.Background())
		require.NoError(t, err)
		if n == 0 {
			return
		}
	}
}

var md = whatsapp.Metadata{DisplayPhoneNumber: "15550001111", PhoneNumberID: "555001"}

func statusEvent(sendID int64, wamid, status string, at time.Time, opts ...func(*whatsapp.Status)) whatsapp.Status {
	s := whatsapp.Status{ID: wamid, Status: status, Timestamp: strconv.FormatInt(at.Unix(), 10),
		RecipientID: "5511900000000", BizOpaqueCallbackData: CallbackData(sendID)}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func priced(s *whatsapp.Status) {
	b := true
	s.Pricing = &whatsapp.Pricing{Billable: &b, PricingModel: "PMP", Type: "regular", Category: "marketing"}
}

// startedCampaign expands a campaign of n opted-in contacts and marks every
// send accepted with wamid "w<id>", as dispatch would.
func startedCampaign(t *testing.T, pool *pgxpool.Pool, n int) (*fixture, []int64) {
	t.Helper()
	ctx := context.Background()
	f := newFixture(t, pool, optedIn("+55119%08d", 0, n-1), promoBindings)
	_, err := f.svc.Start(ctx, f.campaign.ID)
	require.NoError(t, err)
	d := NewDispatcher(discard, pool, &scriptedAPI{calls: map[string]int{}, script: map[string][]error{}}, &noThrottle{}, DispatchConfig{ChunkSize: 50})
	for _, err := range runJobs(t, d, f) {
		require.NoError(t, err)
	}
	rows, err := pool.Query(ctx, `SELECT id FROM sends WHERE campaign_id = $1 ORDER BY id`, f.campaign.ID)
	require.NoError(t, err)
	var ids []int64
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	require.Len(t, ids, n)
	return f, ids
}

func wamidOf(t *testing.T, pool *pgxpool.Pool, id int64) string {
	var w string
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT wamid FROM sends WHERE id = $1`, id).Scan(&w))
	return w
}

func TestApplierMonotonicAndExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := storetest.DB(t)
	f, ids := startedCampaign(t, pool, 4)
	a := NewApplier(discard, pool, ApplierConfig{BatchSize: 2})
	t0 := time.Now().Add(-time.Minute)
	w := func(i int) string { return wamidOf(t, pool, ids[i]) }

	// Read before delivered before sent, each twice; a failure after sent;
	// a delivered after failed (ignored: failed is final).
	evs := []whatsapp.Status{
		statusEvent(ids[0], w(0), "read", t0.Add(3*time.Second)),
		statusEvent(ids[0], w(0), "delivered", t0.Add(2*time.Second), priced),
		statusEvent(ids[0], w(0), "sent", t0.Add(time.Second), priced),
		statusEvent(ids[1], w(1), "sent", t0, priced),
		statusEvent(ids[1], w(1), "failed", t0.Add(time.Second), func(s *whatsapp.Status) {
			s.Errors = []whatsapp.ErrorObject{{Code: 131049, Title: "cap", ErrorData: whatsapp.ErrorData{Details: "healthy ecosystem"}}}
		}),
		statusEvent(ids[1], w(1), "delivered", t0.Add(2*time.Second)),
		statusEvent(ids[2], w(2), "sent", t0, priced),
		statusEvent(ids[2], w(2), "delivered", t0.Add(time.Second)),
	}
	for _, e := range append(evs, evs...) {
		storeEvent(t, pool, whatsapp.NewStatusNotification("waba", md, []whatsapp.Status{e}))
	}
	applyAll(t, a)
	statusOf := func(i int) (s string, code *int32) {
		require.NoError(t, pool.QueryRow(ctx, `SELECT status, error_code FROM sends WHERE id = $1`, ids[i]).Scan(&s, &code))
		return
	}
	s, _ := statusOf(0)
	require.Equal(t, "read", s)
	s, code := statusOf(1)
	require.Equal(t, "failed", s)
	require.EqualValues(t, 131049, *code)
	s, _ = statusOf(2)
	require.Equal(t, "delivered", s)
	s, _ = statusOf(3)
	require.Equal(t, "accepted", s)
	truth := requireRollupsExact(t, pool, f.campaign.ID)
	require.Equal(t, map[string]int64{"read": 1, "failed": 1, "delivered": 1, "accepted": 1}, truth)

	// Cost: two delivered, billable marketing messages to Brazil, once each
	// despite the duplicates; the failed one is free.
	var cost int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT sum(cost_micros) FROM campaign_rollups WHERE campaign_id = $1`, f.campaign.ID).Scan(&cost))
	require.Equal(t, 2*a.cfg.Card.Price("marketing", "BR"), cost)
	var failures int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count FROM campaign_failures WHERE campaign_id = $1 AND error_code = 131049`, f.campaign.ID).Scan(&failures))
	require.EqualValues(t, 1, failures)
}

func TestApplierStatusBeforeSendIsKept(t *testing.T) {
	t.Parallel()
	_, pool := storetest.DB(t)
	f, ids := startedCampaign(t, pool, 1)
	a := NewApplier(discard, pool, ApplierConfig{})
	// A status for a wamid herald has not stored yet, without callback data.
	storeEvent(t, pool, whatsapp.NewStatusNotification("waba", md, []whatsapp.Status{{ID: "wamid.late", Status: "delivered",
		Timestamp: strconv.FormatInt(time.Now().Unix(), 10)}}))
	applyAll(t, a)
	var pending int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM pending_statuses`).Scan(&pending))
	require.Equal(t, 1, pending)
	// The send's commit lands (its wamid is known now, as in sendResultSQL);
	// the pending status applies on the next pass.
	_, err := pool.Exec(context.Background(), `
		WITH s AS (UPDATE sends SET wamid = 'wamid.late' WHERE id = $1 RETURNING id, wamid)
		INSERT INTO send_wamids (wamid, send_id) SELECT wamid, id FROM s`, ids[0])
	require.NoError(t, err)
	n, err := a.ApplyPending(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, map[string]int64{"delivered": 1}, requireRollupsExact(t, pool, f.campaign.ID))
}

func TestApplierInboundAndConsent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := storetest.DB(t)
	f, ids := startedCampaign(t, pool, 4)
	a := NewApplier(discard, pool, ApplierConfig{})
	now := strconv.FormatInt(time.Now().Unix(), 10)
	from := func(i int) string { return fmt.Sprintf("55119%08d", i) }
	msgs := []whatsapp.InboundMessage{
		{From: from(0), ID: "in.1", Timestamp: now, Type: "text", Text: &whatsapp.TextBody{Body: "Quero!"},
			Context: &whatsapp.MessageContext{ID: wamidOf(t, pool, ids[0])}},
		{From: from(1), ID: "in.2", Timestamp: now, Type: "button", Button: &whatsapp.ButtonReply{Payload: ButtonPayload(ids[1], 0), Text: "Quero ver"}},
		{From: from(2), ID: "in.3", Timestamp: now, Type: "text", Text: &whatsapp.TextBody{Body: "não quero"}},
		{From: from(3), ID: "in.4", Timestamp: now, Type: "button", Button: &whatsapp.ButtonReply{Payload: ButtonPayload(ids[3], 1), Text: "Stop promotions"},
			Context: &whatsapp.MessageContext{ID: wamidOf(t, pool, ids[3])}},
	}
	n := whatsapp.NewMessageNotification("waba", md, nil, msgs)
	storeEvent(t, pool, n)
	storeEvent(t, pool, n) // Meta retries: a duplicate changes nothing
	up := whatsapp.Notification{Object: "whatsapp_business_account", Entry: []whatsapp.Entry{{ID: "waba", Changes: []whatsapp.Change{{
		Field: "user_preferences", Value: whatsapp.ChangeValue{MessagingProduct: "whatsapp", Metadata: md,
			UserPreferences: []whatsapp.UserPreference{{WaID: from(1), Value: "stop", Category: "marketing_messages", Timestamp: now}}}}}}}}
	storeEvent(t, pool, up)
	applyAll(t, a)

	truth := requireRollupsExact(t, pool, f.campaign.ID)
	require.Equal(t, map[string]int64{"accepted": 4}, truth)
	var replied, clicked int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT sum(replied), sum(clicked) FROM campaign_rollups WHERE campaign_id = $1`, f.campaign.ID).Scan(&replied, &clicked))
	require.EqualValues(t, 1, replied, "the text with a context id")
	require.EqualValues(t, 2, clicked, "two quick-reply taps, one through the payload alone")
	consent := func(i int) (c, source string) {
		require.NoError(t, pool.QueryRow(ctx, `SELECT consent, consent_source FROM contacts WHERE phone = $1`, "+"+from(i)).Scan(&c, &source))
		return
	}
	c, _ := consent(0)
	require.Equal(t, "opted_in", c)
	c, src := consent(1)
	require.Equal(t, "opted_out", c)
	require.Equal(t, "user_preferences:stop", src)
	c, _ = consent(2)
	require.Equal(t, "opted_out", c, "opt-out words in Portuguese")
	c, _ = consent(3)
	require.Equal(t, "opted_out", c, "the stop promotions button")
	var events int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM consent_events`).Scan(&events))
	require.Equal(t, 3, events)
}

// TestApplierShuffledDuplicatedStream: every event of a campaign twice, in a
// random order, in random batches: the rollups equal the recount exactly.
func TestApplierShuffledDuplicatedStream(t *testing.T) {
	t.Parallel()
	_, pool := storetest.DB(t)
	const n = 300
	f, ids := startedCampaign(t, pool, n)
	a := NewApplier(discard, pool, ApplierConfig{BatchSize: 37})
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Now().Add(-time.Hour)
	var evs []whatsapp.Status
	for i, id := range ids {
		w := wamidOf(t, pool, id)
		evs = append(evs, statusEvent(id, w, "sent", t0.Add(time.Duration(i)*time.Second), priced))
		switch rng.IntN(10) {
		case 0:
			evs = append(evs, statusEvent(id, w, "failed", t0.Add(time.Duration(i+1)*time.Second), func(s *whatsapp.Status) {
				s.Errors = []whatsapp.ErrorObject{{Code: 131026}}
			}))
		default:
			evs = append(evs, statusEvent(id, w, "delivered", t0.Add(time.Duration(i+2)*time.Second), priced))
			if rng.IntN(2) == 0 {
				evs = append(evs, statusEvent(id, w, "read", t0.Add(time.Duration(i+3)*time.Second)))
			}
		}
	}
	evs = append(evs, evs...)
	rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	for len(evs) > 0 {
		k := min(len(evs), 1+rng.IntN(5))
		storeEvent(t, pool, whatsapp.NewStatusNotification("waba", md, evs[:k]))
		evs = evs[k:]
	}
	applyAll(t, a)
	truth := requireRollupsExact(t, pool, f.campaign.ID)
	require.Zero(t, truth["accepted"], "every send reached at least sent")
	require.EqualValues(t, n, truth["delivered"]+truth["read"]+truth["failed"])
}

// TestApplierMatchesByWamid: a status without callback data finds its send
// through the wamid committed with it; a status that reconciles a send left
// in flight (its commit lost) records the wamid, so a reply quoting it is
// linked to the send.
func TestApplierMatchesByWamid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := storetest.DB(t)
	f, ids := startedCampaign(t, pool, 2)
	a := NewApplier(discard, pool, ApplierConfig{})
	t0 := time.Now().Add(-time.Minute)

	// Send 0: committed by dispatch; its status carries only the wamid.
	storeEvent(t, pool, whatsapp.NewStatusNotification("waba", md, []whatsapp.Status{
		statusEvent(0, wamidOf(t, pool, ids[0]), "delivered", t0, func(s *whatsapp.Status) { s.BizOpaqueCallbackData = "" })}))

	// Send 1: as if its commit was lost: in flight, no wamid.
	_, err := pool.Exec(ctx, `
		WITH s AS (UPDATE sends SET status = 'in_flight', wamid = NULL WHERE id = $1 RETURNING $2::text AS w)
		DELETE FROM send_wamids USING s WHERE wamid = s.w`, ids[1], wamidOf(t, pool, ids[1]))
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE campaign_rollups SET accepted = accepted - 1, in_flight = in_flight + 1
		WHERE campaign_id = $1 AND slot = (SELECT min(slot) FROM campaign_rollups WHERE campaign_id = $1 AND accepted > 0)`, f.campaign.ID)
	require.NoError(t, err)
	storeEvent(t, pool, whatsapp.NewStatusNotification("waba", md, []whatsapp.Status{statusEvent(ids[1], "wamid.reconciled", "sent", t0)}))
	applyAll(t, a)
	storeEvent(t, pool, whatsapp.NewMessageNotification("waba", md, nil, []whatsapp.InboundMessage{{
		From: "5511900000001", ID: "in.1", Timestamp: strconv.FormatInt(time.Now().Unix(), 10), Type: "text",
		Text: &whatsapp.TextBody{Body: "obrigado"}, Context: &whatsapp.MessageContext{ID: "wamid.reconciled"}}}))
	applyAll(t, a)

	require.Equal(t, map[string]int64{"delivered": 1, "sent": 1}, requireRollupsExact(t, pool, f.campaign.ID))
	require.Equal(t, "wamid.reconciled", wamidOf(t, pool, ids[1]))
	var linked int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT send_id FROM inbound_messages WHERE wamid = 'in.1'`).Scan(&linked))
	require.Equal(t, ids[1], linked)
}
