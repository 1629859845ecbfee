package campaigns_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/campaigns"
	"github.com/herald-sh/herald/internal/report"
	"github.com/herald-sh/herald/internal/storetest"
	"github.com/herald-sh/herald/internal/whatsapp"
)

type jobsRecorder struct {
	mu   sync.Mutex
	args []campaigns.SendBatchArgs
}

func (r *jobsRecorder) InsertManyFastTx(_ context.Context, _ pgx.Tx, params []river.InsertManyParams) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range params {
		if a, ok := p.Args.(campaigns.SendBatchArgs); ok {
			r.args = append(r.args, a)
		}
	}
	return len(params), nil
}

type acceptAll struct{ n int64 }

func (a *acceptAll) SendTemplate(_ context.Context, _ string, msg whatsapp.TemplateMessage) (*whatsapp.SendResponse, error) {
	return &whatsapp.SendResponse{Messages: []whatsapp.ResponseMessage{{ID: "wamid." + msg.BizOpaqueCallbackData}}}, nil
}

type free struct{}

func (free) WaitN(ctx context.Context, _ int64, n int) ([]time.Time, error) {
	return make([]time.Time, n), ctx.Err()
}
func (free) Depart(int64, time.Time) error { return nil }
func (free) SlowDown(int64)                {}

// TestShuffledDuplicatedStreamReport: the status stream of a 20,000-send
// campaign, every event twice and the whole stream shuffled, applied in
// batches: the report's counters equal a recount from the raw rows.
func TestShuffledDuplicatedStreamReport(t *testing.T) {
	t.Parallel()
	const n = 20000
	ctx := context.Background()
	_, pool := storetest.DB(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	_, err := campaigns.TemplateUpsert(ctx, pool, whatsapp.TemplateInfo{Name: "t", Language: "en", Status: "APPROVED", Category: "MARKETING",
		Components: []whatsapp.TemplateComponent{{Type: "BODY", Text: "Hi {{1}}"}}})
	require.NoError(t, err)
	_, err = campaigns.SenderUpsert(ctx, pool, campaigns.Sender{PhoneNumberID: "1", RatePerSecond: 1000})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `
		WITH l AS (INSERT INTO lists (name) VALUES ('s') RETURNING id),
		c AS (INSERT INTO contacts (phone, name, consent, country)
		      SELECT '+55119' || lpad(i::text, 8, '0'), 'N', 'opted_in', 'BR' FROM generate_series(1, $1) i RETURNING id)
		INSERT INTO list_members (list_id, contact_id) SELECT l.id, c.id FROM l, c`, n)
	require.NoError(t, err)
	jobs := &jobsRecorder{}
	svc := campaigns.NewService(logger, pool, jobs, campaigns.Config{BatchSize: 1000})
	c, err := svc.Create(ctx, campaigns.NewCampaign{Name: "s", Template: "t", Language: "en", PhoneNumberID: "1", Lists: []string{"s"},
		Bindings: []campaigns.Binding{{Component: "body", Param: "1", Field: "name"}}})
	require.NoError(t, err)
	_, err = svc.Start(ctx, c.ID)
	require.NoError(t, err)
	w := &campaigns.SendBatchWorker{Dispatcher: campaigns.NewDispatcher(logger, pool, &acceptAll{}, free{}, campaigns.DispatchConfig{ChunkSize: 200})}
	for _, a := range jobs.args {
		require.NoError(t, w.Work(ctx, &river.Job[campaigns.SendBatchArgs]{Args: a}))
	}

	rows, err := pool.Query(ctx, `SELECT id, wamid FROM sends WHERE campaign_id = $1`, c.ID)
	require.NoError(t, err)
	type send struct {
		id    int64
		wamid string
	}
	sends, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (send, error) {
		var s send
		return s, r.Scan(&s.id, &s.wamid)
	})
	require.NoError(t, err)
	require.Len(t, sends, n)

	rng := rand.New(rand.NewPCG(3, 4))
	t0 := time.Now().Add(-time.Hour)
	billable := true
	var evs []whatsapp.Status
	for i, s := range sends {
		at := func(k int) string { return strconv.FormatInt(t0.Add(time.Duration(i+k)*time.Second).Unix(), 10) }
		st := func(status string, k int) whatsapp.Status {
			return whatsapp.Status{ID: s.wamid, Status: status, Timestamp: at(k), RecipientID: "55", BizOpaqueCallbackData: campaigns.CallbackData(s.id)}
		}
		sent := st("sent", 0)
		sent.Pricing = &whatsapp.Pricing{Billable: &billable, PricingModel: "PMP", Type: "regular", Category: "marketing"}
		evs = append(evs, sent)
		if rng.IntN(20) == 0 {
			f := st("failed", 1)
			f.Errors = []whatsapp.ErrorObject{{Code: []int{131026, 131049, 131050}[rng.IntN(3)]}}
			evs = append(evs, f)
			continue
		}
		d := st("delivered", 1)
		d.Pricing = sent.Pricing
		evs = append(evs, d)
		if rng.IntN(2) == 0 {
			evs = append(evs, st("read", 2))
		}
	}
	evs = append(evs, evs...)
	rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	var bodies [][]byte
	for len(evs) > 0 {
		k := min(len(evs), 1+rng.IntN(60))
		b, err := json.Marshal(whatsapp.NewStatusNotification("waba", whatsapp.Metadata{PhoneNumberID: "1"}, evs[:k]))
		require.NoError(t, err)
		bodies = append(bodies, b)
		evs = evs[k:]
	}
	_, err = pool.Exec(ctx, `INSERT INTO webhook_events (body) SELECT unnest($1::bytea[])`, bodies)
	require.NoError(t, err)

	a := campaigns.NewApplier(logger, pool, campaigns.ApplierConfig{BatchSize: 100})
	for {
		k, err := a.ApplyBatch(ctx)
		require.NoError(t, err)
		if k == 0 {
			break
		}
	}
	v, err := report.Verify(ctx, pool, c.ID)
	require.NoError(t, err)
	require.True(t, v.OK, "report equals the recount: %v", v.Mismatches)
	rep, err := report.Campaign(ctx, pool, c.ID, report.Options{})
	require.NoError(t, err)
	require.EqualValues(t, n, rep.Sent+rep.Failed)
	require.Zero(t, rep.Pending)
	require.Equal(t, fmt.Sprint(rep.Failed), fmt.Sprint(sumValues(rep.FailedByCode)))
}

func sumValues(m map[string]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}
