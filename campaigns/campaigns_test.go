package campaigns

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/storetest"
	"github.com/herald-sh/herald/internal/whatsapp"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestParseBinding(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want Binding
		err  bool
	}{
		{in: "1=name", want: Binding{Component: "body", Param: "1", Field: "name"}},
		{in: "first_name=attr:first", want: Binding{Component: "body", Param: "first_name", Field: "first"}},
		{in: "header.1='Sale'", want: Binding{Component: "header", Param: "1", Value: "Sale"}},
		{in: "button.1=attr:order,default=X,format=upper", want: Binding{Component: "button", Index: 1, Param: "1", Field: "order", Default: "X", Format: "upper"}},
		{in: "1=", err: true},
		{in: "footer.1=name", err: true},
		{in: "1=name,color=red", err: true},
		{in: "button.x=name", err: true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseBinding(tc.in)
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func promoTemplate() Template {
	info := whatsapp.TemplateInfo{Name: "promo", Language: "pt_BR", Status: "APPROVED", Category: "MARKETING",
		Components: []whatsapp.TemplateComponent{
			{Type: "BODY", Text: "Olá {{1}}, sua oferta em {{2}} vence {{3}}."},
			{Type: "BUTTONS", Buttons: []whatsapp.TemplateButton{{Type: "QUICK_REPLY", Text: "Stop promotions"}, {Type: "URL", Text: "Ver", URL: "https://x.example/o/{{1}}"}}},
		}}
	return templateFromInfo(1, info)
}

func TestValidateAndBuildComponents(t *testing.T) {
	t.Parallel()
	tpl := promoTemplate()
	bindings := []Binding{
		{Component: "body", Param: "1", Field: "name"},
		{Component: "body", Param: "2", Field: "city", Format: "upper"},
		{Component: "body", Param: "3", Field: "due", Format: "date:02/01/2006"},
		{Component: "button", Index: 1, Param: "1", Field: "code"},
	}
	require.NoError(t, ValidateBindings(tpl, bindings))

	err := ValidateBindings(tpl, bindings[:2])
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "not bound", ve.Fields["body.3"])
	require.Equal(t, "not bound", ve.Fields["button.1"])
	require.ErrorAs(t, ValidateBindings(tpl, append(bindings, Binding{Component: "body", Param: "9", Field: "x"})), &ve)
	require.Contains(t, ve.Fields["body.9"], "no such parameter")

	comps, err := BuildComponents(tpl, bindings, []string{"Ana", "Recife", "2026-12-01", "ORD-7"}, 42)
	require.NoError(t, err)
	b, err := json.Marshal(comps)
	require.NoError(t, err)
	require.JSONEq(t, `[
		{"type":"body","parameters":[{"type":"text","text":"Ana"},{"type":"text","text":"RECIFE"},{"type":"date_time","date_time":{"fallback_value":"01/12/2026"}}]},
		{"type":"button","sub_type":"quick_reply","index":"0","parameters":[{"type":"payload","payload":"herald:42:0"}]},
		{"type":"button","sub_type":"url","index":"1","parameters":[{"type":"text","text":"ORD-7"}]}
	]`, string(b))

	_, err = BuildComponents(tpl, bindings, []string{"Ana", "Recife", "not a date", "ORD-7"}, 42)
	require.ErrorContains(t, err, "not an ISO date")
}

func TestFoldText(t *testing.T) {
	t.Parallel()
	require.Equal(t, "NAO QUERO", foldText("  Não   quero! "))
	require.Equal(t, "STOP", foldText("stop."))
	require.Equal(t, "DAR DE BAJA", foldText("Dar de baja"))
}

// fixture is a campaign ready to start: a list of contacts, a template, a
// sender.
type fixture struct {
	pool     *pgxpool.Pool
	svc      *Service
	jobs     *recordingInserter
	campaign *Campaign
	contacts map[string]int64 // phone → id
}

// recordingInserter stands in for the River client where a test runs the
// dispatcher itself; it keeps the args it was given, and inserts nothing.
type recordingInserter struct {
	mu   sync.Mutex
	args []river.JobArgs
}

func (r *recordingInserter) InsertManyFastTx(_ context.Context, _ pgx.Tx, params []river.InsertManyParams) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range params {
		r.args = append(r.args, p.Args)
	}
	return len(params), nil
}

type contactRow struct {
	phone, name, consent string
	attrs                map[string]string
}

func newFixture(t *testing.T, pool *pgxpool.Pool, contacts []contactRow, bindings []Binding) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{pool: pool, jobs: &recordingInserter{}, contacts: map[string]int64{}}
	f.svc = NewService(discard, pool, f.jobs, Config{BatchSize: 3})
	_, err := TemplateUpsert(ctx, pool, promoTemplate().Info)
	require.NoError(t, err)
	_, err = SenderUpsert(ctx, pool, Sender{PhoneNumberID: "555001", RatePerSecond: 80})
	require.NoError(t, err)
	var listID int64
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO lists (name) VALUES ('l') RETURNING id`).Scan(&listID))
	for _, c := range contacts {
		attrs, _ := json.Marshal(c.attrs)
		var id int64
		require.NoError(t, pool.QueryRow(ctx, `INSERT INTO contacts (phone, name, consent, attributes, country) VALUES ($1, $2, $3, $4, 'BR') RETURNING id`,
			c.phone, c.name, c.consent, attrs).Scan(&id))
		_, err := pool.Exec(ctx, `INSERT INTO list_members (list_id, contact_id) VALUES ($1, $2)`, listID, id)
		require.NoError(t, err)
		f.contacts[c.phone] = id
	}
	camp, err := f.svc.Create(ctx, NewCampaign{Name: "c", Template: "promo", Language: "pt_BR", PhoneNumberID: "555001",
		Lists: []string{"l"}, Bindings: bindings})
	require.NoError(t, err)
	f.campaign = camp
	return f
}

var promoBindings = []Binding{
	{Component: "body", Param: "1", Field: "name"},
	{Component: "body", Param: "2", Field: "city", Default: "sua cidade"},
	{Component: "body", Param: "3", Value: "2026-12-01", Format: "date:02/01"},
	{Component: "button", Index: 1, Param: "1", Field: "code"},
}

// optedIn is contacts from..to, opted in, their numbers format with each
// index.
func optedIn(format string, from, to int) []contactRow {
	var contacts []contactRow
	for i := from; i <= to; i++ {
		contacts = append(contacts, contactRow{fmt.Sprintf(format, i), "N", "opted_in", attrs("X", "C")})
	}
	return contacts
}

func attrs(city, code string) map[string]string {
	m := map[string]string{"code": code}
	if city != "" {
		m["city"] = city
	}
	return m
}

// recount reads the truth from the sends rows and compares it with the
// rollups.
func requireRollupsExact(t *testing.T, pool *pgxpool.Pool, campaignID int64) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	truth := map[string]int64{}
	rows, err := pool.Query(ctx, `SELECT status, count(*) FROM sends WHERE campaign_id = $1 GROUP BY status`, campaignID)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		var n int64
		require.NoError(t, rows.Scan(&s, &n))
		truth[s] = n
	}
	require.NoError(t, rows.Err())
	var replied, clicked int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(replied_at), count(clicked_at) FROM sends WHERE campaign_id = $1`, campaignID).Scan(&replied, &clicked))
	rolled := map[string]int64{}
	var rr, rc int64
	row := pool.QueryRow(ctx, `SELECT coalesce(sum(queued),0), coalesce(sum(in_flight),0), coalesce(sum(accepted),0), coalesce(sum(unknown),0),
		coalesce(sum(sent),0), coalesce(sum(delivered),0), coalesce(sum(read),0), coalesce(sum(failed),0), coalesce(sum(cancelled),0),
		coalesce(sum(replied),0), coalesce(sum(clicked),0) FROM campaign_rollups WHERE campaign_id = $1`, campaignID)
	vals := make([]int64, len(rollupStatuses))
	dest := []any{}
	for i := range vals {
		dest = append(dest, &vals[i])
	}
	require.NoError(t, row.Scan(append(dest, &rr, &rc)...))
	for i, s := range rollupStatuses {
		if vals[i] != 0 {
			rolled[s] = vals[i]
		}
	}
	require.Equal(t, truth, rolled, "rollups must equal a recount of sends")
	require.Equal(t, replied, rr, "replied")
	require.Equal(t, clicked, rc, "clicked")
	return truth
}

func TestExpansion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := storetest.DB(t)
	f := newFixture(t, pool, []contactRow{
		{"+5511900000001", "Ana", "opted_in", attrs("Recife", "A1")},
		{"+5511900000002", "Bia", "opted_in", attrs("", "B2")},   // city falls back to the default
		{"+5511900000003", "", "opted_in", attrs("Natal", "C3")}, // no name: missing parameter
		{"+5511900000004", "Caio", "not_opted_in", attrs("Natal", "D4")},
		{"+5511900000005", "Duda", "opted_out", attrs("Natal", "E5")},
		{"+5511900000006", "Eva", "opted_in", attrs("Natal", "")}, // no code
		{"+5511900000007", "Fabi", "opted_in", attrs("Natal", "G7")},
	}, promoBindings)

	exp, err := f.svc.Start(ctx, f.campaign.ID)
	require.NoError(t, err)
	require.Equal(t, int64(7), exp.Audience)
	require.Equal(t, int64(3), exp.Sends)
	require.Equal(t, map[string]int64{"missing_parameter": 2, "not_opted_in": 1, "opted_out": 1}, exp.Skipped)
	require.Equal(t, 1, exp.Jobs, "three sends, batch size three")

	var detail string
	require.NoError(t, pool.QueryRow(ctx, `SELECT detail FROM campaign_exclusions WHERE contact_id = $1`, f.contacts["+5511900000003"]).Scan(&detail))
	require.Equal(t, "missing body {{1}} ← name", detail)
	var params []string
	require.NoError(t, pool.QueryRow(ctx, `SELECT params FROM sends WHERE contact_id = $1`, f.contacts["+5511900000002"]).Scan(&params))
	require.Equal(t, []string{"Bia", "sua cidade", "2026-12-01", "B2"}, params)

	c, err := f.svc.Get(ctx, f.campaign.ID)
	require.NoError(t, err)
	require.Equal(t, "running", c.Status)
	require.Equal(t, map[string]int64{"queued": 3}, requireRollupsExact(t, pool, c.ID))

	_, err = f.svc.Start(ctx, f.campaign.ID)
	require.ErrorIs(t, err, ErrInvalidTransition, "a campaign expands once")
}

// scriptedAPI answers each recipient from a script, and counts requests.
type scriptedAPI struct {
	mu     sync.Mutex
	script map[string][]error // per phone, consumed in order; nil = accept
	calls  map[string]int
	seq    int
}

func (s *scriptedAPI) SendTemplate(_ context.Context, _ string, msg whatsapp.TemplateMessage) (*whatsapp.SendResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[msg.To]++
	if errs := s.script[msg.To]; len(errs) > 0 {
		s.script[msg.To] = errs[1:]
		if errs[0] != nil {
			return nil, errs[0]
		}
	}
	s.seq++
	return &whatsapp.SendResponse{
		Contacts: []whatsapp.ResponseContact{{Input: msg.To, WaID: msg.To[1:]}},
		Messages: []whatsapp.ResponseMessage{{ID: fmt.Sprintf("wamid.%d", s.seq)}},
	}, nil
}

type noThrottle struct{ slowDowns int }

func nowTimes(n int) []time.Time {
	t := make([]time.Time, n)
	for i := range t {
		t[i] = time.Now()
	}
	return t
}

func (*noThrottle) WaitN(ctx context.Context, _ int64, n int) ([]time.Time, error) {
	return nowTimes(n), ctx.Err()
}
func (n *noThrottle) Depart(int64, time.Time) error { return nil }
func (n *noThrottle) SlowDown(int64)                { n.slowDowns++ }

func apiErr(code int) error { return &whatsapp.Error{HTTPStatus: 400, Code: code, Message: "x"} }

func runJobs(t *testing.T, d *Dispatcher, f *fixture) []error {
	t.Helper()
	var errs []error
	for _, args := range f.sendJobs() {
		errs = append(errs, d.dispatch(context.Background(), args))
	}
	return errs
}

// sendJobs are the dispatch jobs the fixture's campaign has enqueued.
func (f *fixture) sendJobs() []SendBatchArgs {
	var jobs []SendBatchArgs
	for _, a := range f.jobs.args {
		if args, ok := a.(SendBatchArgs); ok {
			jobs = append(jobs, args)
		}
	}
	return jobs
}

func TestDispatchOutcomes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := storetest.DB(t)
	f := newFixture(t, pool, optedIn("+551190000000%d", 1, 6), promoBindings)
	api := &scriptedAPI{calls: map[string]int{}, script: map[string][]error{
		"+5511900000002": {apiErr(131026)},                                  // undeliverable: fails
		"+5511900000003": {apiErr(130429)},                                  // throttled: slows down, retried later, free
		"+5511900000004": {apiErr(131050)},                                  // stopped marketing: fails, opts out
		"+5511900000005": {fmt.Errorf("x: %w", whatsapp.ErrOutcomeUnknown)}, // answer lost: stays in flight
	}}
	thr := &noThrottle{}
	d := NewDispatcher(discard, pool, api, thr, DispatchConfig{ChunkSize: 4})
	_, err := f.svc.Start(ctx, f.campaign.ID)
	require.NoError(t, err)

	errs := runJobs(t, d, f)
	require.Len(t, errs, 2)
	var snooze *river.JobSnoozeError
	require.ErrorAs(t, errs[0], &snooze, "the throttled send waits in the first range")
	require.Equal(t, 1, thr.slowDowns)

	status := func(phone string) (s string, attempts int16, code *int32) {
		require.NoError(t, pool.QueryRow(ctx, `SELECT status, attempts, error_code FROM sends WHERE contact_id = $1`, f.contacts[phone]).Scan(&s, &attempts, &code))
		return
	}
	s, _, code := status("+5511900000002")
	require.Equal(t, "failed", s)
	require.EqualValues(t, 131026, *code)
	s, attempts, _ := status("+5511900000003")
	require.Equal(t, "queued", s)
	require.Zero(t, attempts, "a throttled attempt is not counted")
	s, _, _ = status("+5511900000004")
	require.Equal(t, "failed", s)
	var consent string
	require.NoError(t, pool.QueryRow(ctx, `SELECT consent FROM contacts WHERE id = $1`, f.contacts["+5511900000004"]).Scan(&consent))
	require.Equal(t, "opted_out", consent)
	s, _, _ = status("+5511900000005")
	require.Equal(t, "in_flight", s, "an unknown outcome is never resent blindly")
	s, _, _ = status("+5511900000001")
	require.Equal(t, "accepted", s)
	requireRollupsExact(t, pool, f.campaign.ID)

	// The retry goes out once due; the lost answer is reconciled by the
	// deadline. Nobody is messaged twice.
	_, err = pool.Exec(ctx, `UPDATE sends SET next_attempt_at = now() WHERE status = 'queued'`)
	require.NoError(t, err)
	for _, err := range runJobs(t, d, f) {
		require.NoError(t, err)
	}
	n, err := Reconcile(ctx, pool, 0)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	truth := requireRollupsExact(t, pool, f.campaign.ID)
	require.Equal(t, map[string]int64{"accepted": 3, "failed": 2, "unknown": 1}, truth)
	for phone, calls := range api.calls {
		if phone == "+5511900000003" {
			require.Equal(t, 2, calls, "throttled once, then accepted")
			continue
		}
		require.Equal(t, 1, calls, phone)
	}
	c, err := f.svc.Get(ctx, f.campaign.ID)
	require.NoError(t, err)
	require.Equal(t, "completed", c.Status)
}

func TestDispatchPausesOnTemplateError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := storetest.DB(t)
	contacts := optedIn("+551190000001%d", 1, 5)
	f := newFixture(t, pool, contacts, promoBindings)
	script := map[string][]error{}
	for _, c := range contacts {
		script[c.phone] = []error{apiErr(132001)}
	}
	api := &scriptedAPI{calls: map[string]int{}, script: script}
	d := NewDispatcher(discard, pool, api, &noThrottle{}, DispatchConfig{ChunkSize: 1})
	_, err := f.svc.Start(ctx, f.campaign.ID)
	require.NoError(t, err)
	for _, err := range runJobs(t, d, f) {
		require.NoError(t, err)
	}
	c, err := f.svc.Get(ctx, f.campaign.ID)
	require.NoError(t, err)
	require.Equal(t, "paused", c.Status)
	require.Contains(t, c.StatusReason, "132001")
	require.Equal(t, 1, len(api.calls), "one failure pauses the campaign: the list is not burned")
	truth := requireRollupsExact(t, pool, c.ID)
	require.Equal(t, map[string]int64{"queued": 5}, truth, "nothing lost: every send waits for resume")

	// Resume after the template is fixed: everything goes out once.
	f.jobs.args = nil
	api.mu.Lock()
	clear(api.script)
	api.mu.Unlock()
	require.NoError(t, f.svc.Resume(ctx, c.ID))
	for _, err := range runJobs(t, d, f) {
		require.NoError(t, err)
	}
	require.Equal(t, map[string]int64{"accepted": 5}, requireRollupsExact(t, pool, c.ID))

	// Lifecycle rules hold.
	require.ErrorIs(t, f.svc.Resume(ctx, c.ID), ErrInvalidTransition)
}

// gatedAPI accepts every send; while hold is set, each call reports its
// arrival and waits for release.
type gatedAPI struct {
	scriptedAPI
	hold    atomic.Bool
	arrived chan string
	release chan struct{}
}

func newGatedAPI(capacity int) *gatedAPI {
	return &gatedAPI{scriptedAPI: scriptedAPI{calls: map[string]int{}}, arrived: make(chan string, capacity), release: make(chan struct{})}
}

// await waits for n held calls, or fails the test with what after a
// deadline, releasing the held calls first.
func (g *gatedAPI) await(t *testing.T, n int, deadline <-chan time.Time, what func(got int) string) {
	t.Helper()
	for i := range n {
		select {
		case <-g.arrived:
		case <-deadline:
			close(g.release)
			t.Fatal(what(i))
		}
	}
}

func (g *gatedAPI) SendTemplate(ctx context.Context, id string, msg whatsapp.TemplateMessage) (*whatsapp.SendResponse, error) {
	if g.hold.Load() {
		g.arrived <- msg.To
		<-g.release
	}
	return g.scriptedAPI.SendTemplate(ctx, id, msg)
}

// gatedCampaign starts a campaign to six contacts (phones: a format for 1
// to 6) in two jobs of three, for a dispatcher with cfg that sends through
// a gatedAPI holding up to held arrivals.
func gatedCampaign(t *testing.T, phones string, held int, cfg DispatchConfig) (*fixture, *gatedAPI, *Dispatcher, []SendBatchArgs) {
	t.Helper()
	_, pool := storetest.DB(t)
	f := newFixture(t, pool, optedIn(phones, 1, 6), promoBindings) // jobs of 3
	api := newGatedAPI(held)
	d := NewDispatcher(discard, pool, api, &noThrottle{}, cfg)
	_, err := f.svc.Start(context.Background(), f.campaign.ID)
	require.NoError(t, err)
	jobs := f.sendJobs()
	require.Len(t, jobs, 2)
	return f, api, d, jobs
}

// A job that has claimed everything in its range gives its place up while
// its last requests are on the wire: with one place per number, the next
// job sends before the previous one's answers come.
func TestDispatchLeavesItsPlaceWhileItsLastSendsAreOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, api, d, jobs := gatedCampaign(t, "+551190000004%d", 6, DispatchConfig{ChunkSize: 3, JobsPerSender: 1, SenderBusyWait: time.Minute})
	pool := f.pool
	api.hold.Store(true)
	done := make(chan error, 2)
	timeout := time.After(10 * time.Second)
	for j, job := range jobs {
		go func() { done <- d.dispatch(ctx, job) }()
		api.await(t, 3, timeout, func(got int) string {
			return fmt.Sprintf("job %d: %d of its 3 sends went out while the previous job's answers were pending", j+1, got)
		})
	}
	close(api.release)
	require.NoError(t, <-done)
	require.NoError(t, <-done)
	require.Equal(t, map[string]int64{"accepted": 6}, requireRollupsExact(t, pool, f.campaign.ID))
}

// A number whose requests stay out longer than a job's pipeline covers runs
// a second job: with one chunk of one send per job and the first job's
// request held, the second job's request goes out too.
func TestDispatchRunsASecondJobWhileThePipelineIsFull(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, api, d, jobs := gatedCampaign(t, "+551190000005%d", 2, DispatchConfig{ChunkSize: 1, ChunksInFlight: 1, JobsPerSender: 2, SenderBusyWait: time.Minute})
	api.hold.Store(true)
	done := make(chan error, 2)
	timeout := time.After(10 * time.Second)
	for j, job := range jobs {
		go func() { done <- d.dispatch(ctx, job) }()
		api.await(t, 1, timeout, func(int) string {
			return fmt.Sprintf("job %d sent nothing while the first job's pipeline was full", j+1)
		})
	}
	api.hold.Store(false)
	close(api.release)
	require.NoError(t, <-done)
	require.NoError(t, <-done)
	require.Equal(t, map[string]int64{"accepted": 6}, requireRollupsExact(t, f.pool, f.campaign.ID))
}

// A campaign's first job sends one chunk at a time until one is committed
// (TestDispatchPausesOnTemplateError); its later jobs start with every
// chunk they may have in flight, and a campaign stopped by an error starts
// over with one.
func TestDispatchOpensUpForAProvenCampaign(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, api, d, jobs := gatedCampaign(t, "+551190000003%d", 3, DispatchConfig{ChunkSize: 1, ChunksInFlight: 3})
	pool := f.pool
	require.Equal(t, 1, d.firstLimit(f.campaign.ID))
	require.NoError(t, d.dispatch(ctx, jobs[0]))
	require.Equal(t, 3, d.firstLimit(f.campaign.ID))

	// The second job's three sends are all on the wire before any answer.
	api.hold.Store(true)
	done := make(chan error, 1)
	go func() { done <- d.dispatch(ctx, jobs[1]) }()
	api.await(t, 3, time.After(10*time.Second), func(got int) string {
		return fmt.Sprintf("only %d of the second job's 3 sends went out before the first answer", got)
	})
	close(api.release)
	require.NoError(t, <-done)
	require.Equal(t, map[string]int64{"accepted": 6}, requireRollupsExact(t, pool, f.campaign.ID))

	d.prove(f.campaign.ID, true) // what a commit that pauses the campaign does
	require.Equal(t, 1, d.firstLimit(f.campaign.ID))
}

func TestCancelMovesQueuedSends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := storetest.DB(t)
	f := newFixture(t, pool, []contactRow{
		{"+5511900000021", "A", "opted_in", attrs("X", "C")},
		{"+5511900000022", "B", "opted_in", attrs("X", "C")},
	}, promoBindings)
	_, err := f.svc.Start(ctx, f.campaign.ID)
	require.NoError(t, err)
	require.NoError(t, f.svc.Pause(ctx, f.campaign.ID, ""))
	require.NoError(t, f.svc.Cancel(ctx, f.campaign.ID))
	require.Equal(t, map[string]int64{"cancelled": 2}, requireRollupsExact(t, pool, f.campaign.ID))
	d := NewDispatcher(discard, pool, &scriptedAPI{calls: map[string]int{}}, &noThrottle{}, DispatchConfig{})
	for _, err := range runJobs(t, d, f) {
		require.NoError(t, err)
	}
	require.Equal(t, map[string]int64{"cancelled": 2}, requireRollupsExact(t, pool, f.campaign.ID), "a cancelled campaign sends nothing")
}

var _ = time.Second

// recordingThrottle grants at once and records how many slots each WaitN
// asked for.
type recordingThrottle struct {
	noThrottle
	mu    sync.Mutex
	asked []int
}

func (r *recordingThrottle) WaitN(ctx context.Context, id int64, n int) ([]time.Time, error) {
	r.mu.Lock()
	r.asked = append(r.asked, n)
	r.mu.Unlock()
	return r.noThrottle.WaitN(ctx, id, n)
}

// TestChunkFollowsSenderRate: on a slow number a chunk covers at most half
// a second of its slots, so that claimed sends never wait long for theirs.
func TestChunkFollowsSenderRate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := storetest.DB(t)
	f := newFixture(t, pool, optedIn("+551190000010%d", 1, 7), promoBindings)
	_, err := pool.Exec(ctx, `UPDATE sender_numbers SET rate_per_second = 4`)
	require.NoError(t, err)
	thr := &recordingThrottle{}
	d := NewDispatcher(discard, pool, &scriptedAPI{calls: map[string]int{}}, thr, DispatchConfig{ChunkSize: 50})
	_, err = f.svc.Start(ctx, f.campaign.ID)
	require.NoError(t, err)
	for _, err := range runJobs(t, d, f) {
		require.NoError(t, err)
	}
	require.Equal(t, map[string]int64{"accepted": 7}, requireRollupsExact(t, pool, f.campaign.ID))
	require.NotEmpty(t, thr.asked)
	for _, n := range thr.asked {
		require.LessOrEqual(t, n, 2, "slots asked per chunk at 4/s: %v", thr.asked)
	}
}

// TestPlacesGoToTheMostUrgent: with one place per number, a job as urgent as
// the one waiting for the place does not wait, and a more urgent one takes
// its turn, and then the place.
func TestPlacesGoToTheMostUrgent(t *testing.T) {
	t.Parallel()
	d := NewDispatcher(discard, nil, nil, &noThrottle{}, DispatchConfig{JobsPerSender: 1, SenderBusyWait: time.Minute})
	ctx := context.Background()
	const sender, campaign = 7, 70
	require.True(t, d.enter(ctx, sender, campaign, 4)) // a blast job runs

	waiting := func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.slots[sender].waiting != nil
	}
	got := make(chan string, 3)
	go func() { // a blast job waits for the place
		if d.enter(ctx, sender, campaign, 4) {
			got <- "blast"
		} else {
			got <- "blast gave up its turn"
		}
	}()
	require.Eventually(t, waiting, 5*time.Second, time.Millisecond)
	// The one waiting turn is taken; a job as urgent as the waiting one
	// does not wait.
	require.False(t, d.enter(ctx, sender, campaign, 4))
	// An urgent one takes the blast job's turn.
	go func() {
		if d.enter(ctx, sender, campaign, 1) {
			got <- "urgent"
		}
	}()
	require.Equal(t, "blast gave up its turn", <-got)
	require.Eventually(t, waiting, 5*time.Second, time.Millisecond)
	d.leave(sender, campaign)
	require.Equal(t, "urgent", <-got)
}

// TestSecondPlaceOnlyForAFullPipeline: a number runs a second job only while
// its running job waits on its full pipeline (the round trip holds it
// back); otherwise the second job waits to take over.
func TestSecondPlaceOnlyForAFullPipeline(t *testing.T) {
	t.Parallel()
	d := NewDispatcher(discard, nil, nil, &noThrottle{}, DispatchConfig{JobsPerSender: 2, SenderBusyWait: time.Minute})
	ctx := context.Background()
	const sender, campaign = 7, 70
	require.True(t, d.enter(ctx, sender, campaign, 2))

	got := make(chan int, 2)
	enter := func(job int) {
		go func() {
			if d.enter(ctx, sender, campaign, 2) {
				got <- job
			} else {
				got <- -job
			}
		}()
	}
	waiting := func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.slots[sender].waiting != nil
	}
	enter(2)
	require.Eventually(t, waiting, 5*time.Second, time.Millisecond)
	select {
	case j := <-got:
		t.Fatalf("job %d did not wait while the running job's pipeline had room", j)
	default:
	}
	d.bind(sender, true) // the running job waits on its full pipeline
	require.Equal(t, 2, <-got, "the waiting job gets a second place")
	d.bind(sender, true) // both full: no third place (JobsPerSender 2)
	enter(3)
	require.Eventually(t, waiting, 5*time.Second, time.Millisecond)
	d.bind(sender, false)
	d.bind(sender, false)
	d.leave(sender, campaign)
	require.Equal(t, 3, <-got, "the waiting job takes over the place given up")
	d.leave(sender, campaign)
	d.leave(sender, campaign)
	d.mu.Lock()
	defer d.mu.Unlock()
	slots := d.slots[sender]
	require.Equal(t, [2]int{0, 0}, [2]int{slots.running, slots.full}, "running, full")
	require.Nil(t, slots.waiting)
	require.Empty(t, slots.campaigns)
}

// TestAnotherCampaignStartsBesideABlast: a job of a campaign the number runs
// nothing of takes a free place at once, even while the number's running
// job has room in its pipeline and another of its jobs waits: a small
// campaign or a reminder as urgent as a blast does not wait for a blast job
// to end. Once the places are all taken, it waits like any other.
func TestAnotherCampaignStartsBesideABlast(t *testing.T) {
	t.Parallel()
	d := NewDispatcher(discard, nil, nil, &noThrottle{}, DispatchConfig{JobsPerSender: 2, SenderBusyWait: time.Minute})
	ctx := context.Background()
	const sender, blast, small, third = 7, 70, 71, 72
	require.True(t, d.enter(ctx, sender, blast, 2))
	waited := make(chan bool, 1)
	go func() { waited <- d.enter(ctx, sender, blast, 2) }()
	require.Eventually(t, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.slots[sender].waiting != nil
	}, 5*time.Second, time.Millisecond)

	require.True(t, d.enter(ctx, sender, small, 2), "the small campaign's job starts at once")
	require.False(t, d.enter(ctx, sender, third, 2), "no place free and the turn taken: a third campaign's job snoozes")

	d.leave(sender, small)
	require.True(t, <-waited, "the blast's waiting job takes the place the small campaign gave up")
	d.leave(sender, blast)
	d.leave(sender, blast)
	d.mu.Lock()
	defer d.mu.Unlock()
	require.Zero(t, d.slots[sender].running)
	require.Empty(t, d.slots[sender].campaigns)
}
