package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/campaigns"
	"github.com/herald-sh/herald/internal/httpapi"
	"github.com/herald-sh/herald/internal/report"
	"github.com/herald-sh/herald/internal/store"
	"github.com/herald-sh/herald/internal/storetest"
	"github.com/herald-sh/herald/internal/wasim"
	"github.com/herald-sh/herald/internal/whatsapp"
)

// chaosRecipients is the campaign size of the kill test: small in `make
// test`, 50,000 in `make chaos` (HERALD_CHAOS_RECIPIENTS).
func chaosRecipients() int {
	if n, err := strconv.Atoi(os.Getenv("HERALD_CHAOS_RECIPIENTS")); err == nil && n > 0 {
		return n
	}
	return 2000
}

// chaosKills is how many times the kill test kills the worker: 2 in `make
// test`, 5 in `make chaos` (HERALD_CHAOS_KILLS). Each kill costs up to
// River's rescue interval (30 s) before the dead worker's jobs run again.
func chaosKills() int {
	if n, err := strconv.Atoi(os.Getenv("HERALD_CHAOS_KILLS")); err == nil && n > 0 {
		return n
	}
	return 2
}

// chaosRig is a database with a campaign ready to start, a simulator, and a
// webhook receiver with its applier in this process.
type chaosRig struct {
	dsn     string
	pool    *pgxpool.Pool
	sim     *wasim.Server
	simURL  string
	applier *campaigns.Applier
	svc     *campaigns.Service
}

func newChaosRig(t *testing.T, recipients int, failures wasim.FailureMix) *chaosRig {
	return newChaosRigRate(t, recipients, failures, 1000)
}

// newChaosRigRate is newChaosRig with the simulator capping each number at
// simRate messages per second (the sender is registered at 1,000/s).
func newChaosRigRate(t *testing.T, recipients int, failures wasim.FailureMix, simRate int) *chaosRig {
	t.Helper()
	dsn, pool := storetest.DB(t)
	return newChaosRigOn(t, dsn, pool, recipients, failures, simRate)
}

// newChaosRigOn builds the rig on a given migrated database.
func newChaosRigOn(t *testing.T, dsn string, pool *pgxpool.Pool, recipients int, failures wasim.FailureMix, simRate int) *chaosRig {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	secret := whatsapp.Secret("chaos-secret")

	receiver := httpapi.NewServer(logger, pool, httpapi.Config{AppSecret: secret, VerifyToken: "v"})
	applier := campaigns.NewApplier(logger, pool, campaigns.ApplierConfig{})
	receiver.OnStored(applier.Wake)
	rctx, cancel := context.WithCancel(ctx)
	receiver.Start(rctx)
	applier.Start(rctx)
	hooks := httptest.NewServer(receiver.Handler())

	sim := wasim.New(wasim.Config{Templates: demoTemplates, Rate: simRate, Failures: failures, Seed: 7,
		WebhookURL: hooks.URL + "/webhooks/whatsapp", AppSecret: secret, WABAID: demoWABA}, logger)
	sim.Start(rctx)
	simSrv := httptest.NewServer(sim)
	t.Cleanup(func() {
		simSrv.Close()
		sim.Close()
		hooks.Close()
		applier.Stop()
		receiver.Stop()
		cancel()
	})

	client := whatsapp.NewClient(whatsapp.Config{BaseURL: simSrv.URL, Token: "t"})
	infos, err := client.ListTemplates(ctx, demoWABA)
	require.NoError(t, err)
	for _, info := range infos {
		_, err := campaigns.TemplateUpsert(ctx, pool, info)
		require.NoError(t, err)
	}
	_, err = campaigns.SenderUpsert(ctx, pool, campaigns.Sender{PhoneNumberID: demoPhoneNumberID, RatePerSecond: 1000})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `
		WITH l AS (INSERT INTO lists (name) VALUES ('chaos') RETURNING id),
		c AS (INSERT INTO contacts (phone, name, consent, country)
		      SELECT '+55119' || lpad(i::text, 8, '0'), 'N' || i, 'opted_in', 'BR' FROM generate_series(1, $1) i RETURNING id)
		INSERT INTO list_members (list_id, contact_id) SELECT l.id, c.id FROM l, c`, recipients)
	require.NoError(t, err)
	inserter, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	require.NoError(t, err)
	svc := campaigns.NewService(logger, pool, inserter, campaigns.Config{})
	return &chaosRig{dsn: dsn, pool: pool, sim: sim, simURL: simSrv.URL, applier: applier, svc: svc}
}

func (r *chaosRig) startCampaign(t *testing.T) int64 {
	t.Helper()
	return r.startCampaignWith(t, r.svc, "chaos", 0)
}

// startCampaignWith starts a campaign to list through svc at priority (0:
// the default).
func (r *chaosRig) startCampaignWith(t *testing.T, svc *campaigns.Service, list string, priority int) int64 {
	t.Helper()
	c, err := svc.Create(context.Background(), campaigns.NewCampaign{Name: list, Template: "spring_sale", Language: "pt_BR",
		PhoneNumberID: demoPhoneNumberID, Lists: []string{list}, Priority: priority,
		Bindings: []campaigns.Binding{{Component: "body", Param: "1", Field: "name"}}})
	require.NoError(t, err)
	_, err = svc.Start(context.Background(), c.ID)
	require.NoError(t, err)
	return c.ID
}

// setSenderRate sets the rig's sender number's rate_per_second (the
// simulator's cap stays as the rig was built).
func (r *chaosRig) setSenderRate(t *testing.T, perSecond int) {
	t.Helper()
	_, err := r.pool.Exec(context.Background(), `UPDATE sender_numbers SET rate_per_second = $1`, perSecond)
	require.NoError(t, err)
}

// worker starts `herald worker` as a separate process. --unknown-after is
// short, so that the sends left in flight by a kill settle within the
// test, but longer than a send can legitimately stay in flight here: a
// chunk's slots at the number's floor rate (a tenth of 1,000/s: 0.5 s), a
// message held back for one more slot, and a request of up to a second
// (TestFailureMix), with room for a host busy with the other tests.
func (r *chaosRig) worker(t *testing.T, extra ...string) *exec.Cmd {
	t.Helper()
	args := append([]string{"worker", "--send-workers", "8", "--unknown-after", "5s", "--job-timeout", "3s"}, extra...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "HERALD_TEST_MAIN=1", "DATABASE_URL="+r.dsn, "WHATSAPP_API_URL="+r.simURL,
		"WHATSAPP_TOKEN=t", "HERALD_LOG_LEVEL=error")
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	return cmd
}

func (r *chaosRig) claimed(t *testing.T, campaignID int64) int {
	var n int
	require.NoError(t, r.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM sends WHERE campaign_id = $1 AND status <> 'queued'`, campaignID).Scan(&n))
	return n
}

// waitFor polls the database (the only shared signal between processes)
// until cond holds.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// requireSettled checks the promise: every send in exactly one final state,
// counters equal to a recount, nobody messaged twice.
func (r *chaosRig) requireSettled(t *testing.T, campaignID int64, recipients int) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	waitFor(t, 3*time.Minute, "the campaign to complete", func() bool {
		c, err := r.svc.Get(ctx, campaignID)
		require.NoError(t, err)
		return c.Status == "completed"
	})
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	require.NoError(t, r.sim.Drain(dctx))
	select {
	case <-r.applier.Idle():
	case <-dctx.Done():
		t.Fatal("applier did not catch up")
	}
	counts := map[string]int64{}
	rows, err := r.pool.Query(ctx, `SELECT status, count(*) FROM sends WHERE campaign_id = $1 GROUP BY status`, campaignID)
	require.NoError(t, err)
	var total int64
	for rows.Next() {
		var s string
		var n int64
		require.NoError(t, rows.Scan(&s, &n))
		counts[s] = n
		total += n
	}
	require.NoError(t, rows.Err())
	require.EqualValues(t, recipients, total)
	require.Zero(t, counts["queued"]+counts["in_flight"], "no send left open: %v", counts)
	require.Empty(t, r.sim.DuplicateRecipients(demoPhoneNumberID, "spring_sale"), "nobody messaged twice")
	require.LessOrEqual(t, len(r.sim.Records()), recipients)
	var unknownAccepted int
	require.NoError(t, r.pool.QueryRow(ctx, `SELECT count(*) FROM sends WHERE campaign_id = $1 AND status = 'unknown' AND wamid IS NOT NULL`, campaignID).Scan(&unknownAccepted))
	t.Logf("simulator accepted %d messages; %d unknown sends carry a wamid; stats %+v", len(r.sim.Records()), unknownAccepted, r.sim.Stats())
	v, err := report.Verify(ctx, r.pool, campaignID)
	require.NoError(t, err)
	require.True(t, v.OK, "rollups equal a recount: %v", v.Mismatches)
	return counts
}

// TestWorkerKilledRepeatedly kills the worker process with SIGKILL at random
// points of a campaign; a new one takes over each time.
func TestWorkerKilledRepeatedly(t *testing.T) {
	t.Parallel()
	n := chaosRecipients()
	rig := newChaosRig(t, n, wasim.FailureMix{Read: 0.5})
	id := rig.startCampaign(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills := chaosKills()
	for i := range kills {
		w := rig.worker(t)
		// Kill once the campaign has moved on by a random share of a step.
		target := (i + 1) * n / (kills + 2)
		target += rng.IntN(n/(kills+2)/2 + 1)
		waitFor(t, 2*time.Minute, fmt.Sprintf("%d sends claimed", target), func() bool { return rig.claimed(t, id) >= target })
		require.NoError(t, w.Process.Kill())
		_ = w.Wait()
	}
	w := rig.worker(t)
	t.Cleanup(func() {
		_ = w.Process.Signal(os.Interrupt)
		_ = w.Wait()
	})
	counts := rig.requireSettled(t, id, n)
	t.Logf("final states after %d kills: %v", kills, counts)
}

// TestFailureMix runs a campaign through a Cloud API that answers 5% HTTP
// 500, times out 2% of requests (half of them after accepting the message),
// refuses 1% with 131026 and throttles in bursts (its cap is below the
// sender's configured rate). Every send must end in the state its answers
// call for, and nobody may be messaged twice.
func TestFailureMix(t *testing.T) {
	t.Parallel()
	const n = 1000
	// The simulator caps the number at 60/s while herald believes 1,000/s:
	// even at herald's floor (a tenth of the rate) it is throttled in bursts.
	rig := newChaosRigRate(t, n, wasim.FailureMix{HTTP500: 0.05, Timeout: 0.01, TimeoutAccepted: 0.01,
		SyncCodes: map[int]float64{131026: 0.01}, Read: 0.3}, 60)
	id := rig.startCampaign(t)
	w := rig.worker(t, "--request-timeout", "1s")
	t.Cleanup(func() {
		_ = w.Process.Signal(os.Interrupt)
		_ = w.Wait()
	})
	counts := rig.requireSettled(t, id, n)
	stats := rig.sim.Stats()
	t.Logf("final states: %v; simulator: %+v", counts, stats)
	require.Positive(t, stats.Throttled, "the cap below the sender's rate throttles")
	require.Positive(t, stats.HTTP500)
	require.Positive(t, stats.TimedOut)

	ctx := context.Background()
	accepted := map[string]bool{}
	for _, rec := range rig.sim.Records() {
		accepted[rec.To] = true
	}
	rows, err := rig.pool.Query(ctx, `SELECT phone, status, coalesce(error_code, 0) FROM sends WHERE campaign_id = $1`, id)
	require.NoError(t, err)
	var unknown, failed131026 int
	for rows.Next() {
		var phone, status string
		var code int
		require.NoError(t, rows.Scan(&phone, &status, &code))
		if accepted[phone] {
			// Taken by the API, even when its answer was lost: the webhook
			// settles it.
			require.Contains(t, []string{"sent", "delivered", "read"}, status, "accepted send %s", phone)
			continue
		}
		switch status {
		case "unknown":
			unknown++ // a request that timed out: never resent blindly
		case "failed":
			require.Contains(t, []int{131026, whatsapp.CodeHTTPUnparsed}, code, "failed send %s", phone)
			if code == 131026 {
				failed131026++
			}
		default:
			t.Fatalf("send %s was never accepted but is %s", phone, status)
		}
	}
	require.NoError(t, rows.Err())
	require.Equal(t, stats.Rejected[131026], failed131026, "each 131026 answer fails its recipient, once")
	require.LessOrEqual(t, unknown, stats.TimedOut)
}

// TestPostgresRestart restarts the database server in the middle of a
// campaign (immediate shutdown: no checkpoint, connections cut). The worker,
// the receiver and the applier reconnect by themselves; nothing is lost or
// sent twice. It runs on a private cluster so the shared test server is not
// disturbed.
func TestPostgresRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pgctl, err := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	require.NoError(t, err)
	require.NotEmpty(t, pgctl, "PostgreSQL server binaries (pg_ctl) are required")
	base, err := os.MkdirTemp("", "herald-pgrestart-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(base, 0o755)) // the cluster runs as the postgres user
	t.Cleanup(func() { os.RemoveAll(base) })
	dataDir := filepath.Join(base, "pg")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	loc, err := store.Locate(ctx, store.LocateConfig{LocalAddr: "127.0.0.1:1", DataDir: dataDir, Database: "herald"}, logger)
	require.NoError(t, err)
	require.Equal(t, "private", loc.Source)
	t.Cleanup(func() { _ = loc.Close(context.Background()) })
	pool, err := store.Open(ctx, loc.URL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, store.Migrate(ctx, pool, logger))

	const n = 1500
	rig := newChaosRigOn(t, loc.URL, pool, n, wasim.FailureMix{Read: 0.5}, 1000)
	id := rig.startCampaign(t)
	w := rig.worker(t)
	t.Cleanup(func() {
		_ = w.Process.Signal(os.Interrupt)
		_ = w.Wait()
	})
	waitFor(t, time.Minute, "a third of the campaign claimed", func() bool { return rig.claimed(t, id) >= n/3 })
	// The restarted server's output goes to its log file: a pipe would stay
	// open as long as the server runs.
	args := []string{pgctl[len(pgctl)-1], "-D", dataDir, "-l", filepath.Join(dataDir, "server.log"), "-m", "immediate", "-w", "restart"}
	if os.Geteuid() == 0 {
		args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
	}
	require.NoError(t, exec.Command(args[0], args[1:]...).Run(), "restart postgres")
	waitFor(t, 30*time.Second, "postgres back", func() bool { return pool.Ping(ctx) == nil })
	counts := rig.requireSettled(t, id, n)
	t.Logf("final states after a restart: %v", counts)
}

// TestSmallCampaignNotStuckBehindBlast: a small urgent campaign started on
// a number busy with a blast of many jobs completes while the blast still
// has most of its sends queued. The blast's jobs are due at the number's
// pace (campaigns.Service.enqueueRanges), so the new campaign's job is due
// before all but the blast's next few, and among due jobs River runs the
// higher priority first; the number's jobs in this process share its
// tokens, so the small one's 5 sends do not wait for a blast job to end.
func TestSmallCampaignNotStuckBehindBlast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const blast = 3000
	rig := newChaosRig(t, blast, wasim.FailureMix{})
	// 100 messages/s: the blast needs 30 s. Jobs of 50 sends: 60 jobs, more
	// than the worker runs at once for one number.
	rig.setSenderRate(t, 100)
	inserter, err := river.NewClient(riverpgxv5.New(rig.pool), &river.Config{})
	require.NoError(t, err)
	svc := campaigns.NewService(slog.New(slog.DiscardHandler), rig.pool, inserter, campaigns.Config{BatchSize: 50})
	blastID := rig.startCampaignWith(t, svc, "chaos", 4)
	w := rig.worker(t)
	t.Cleanup(func() {
		_ = w.Process.Signal(os.Interrupt)
		_ = w.Wait()
	})
	waitFor(t, time.Minute, "the blast to be under way", func() bool { return rig.claimed(t, blastID) >= 200 })

	_, err = rig.pool.Exec(ctx, `
		WITH l AS (INSERT INTO lists (name) VALUES ('reminder') RETURNING id),
		c AS (INSERT INTO contacts (phone, name, consent, country)
		      SELECT '+55118' || lpad(i::text, 8, '0'), 'R' || i, 'opted_in', 'BR' FROM generate_series(1, 5) i RETURNING id)
		INSERT INTO list_members (list_id, contact_id) SELECT l.id, c.id FROM l, c`)
	require.NoError(t, err)
	urgentID := rig.startCampaignWith(t, svc, "reminder", 1)
	waitFor(t, time.Minute, "the urgent campaign to complete", func() bool {
		c, err := svc.Get(ctx, urgentID)
		require.NoError(t, err)
		return c.Status == "completed"
	})
	claimed := rig.claimed(t, blastID)
	t.Logf("the urgent campaign completed with %d of the blast's %d sends claimed", claimed, blast)
	require.Less(t, claimed, blast/2, "the urgent campaign did not wait for the blast")

	require.NoError(t, svc.Cancel(ctx, blastID))
}

// TestPauseAndResumeMidCampaign: pausing a running campaign stops its
// claims within two seconds (a claim checks the campaign's status in the
// same statement); resuming finishes it with nothing lost or sent twice.
func TestPauseAndResumeMidCampaign(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 2000
	rig := newChaosRig(t, n, wasim.FailureMix{})
	rig.setSenderRate(t, 200)
	id := rig.startCampaign(t)
	w := rig.worker(t)
	t.Cleanup(func() {
		_ = w.Process.Signal(os.Interrupt)
		_ = w.Wait()
	})
	waitFor(t, time.Minute, "the campaign to be under way", func() bool { return rig.claimed(t, id) >= 300 })

	require.NoError(t, rig.svc.Pause(ctx, id, "paused by test"))
	var pausedAt time.Time
	require.NoError(t, rig.pool.QueryRow(ctx, `SELECT now()`).Scan(&pausedAt))
	// Let whatever was claimed before the pause settle, then look for claims
	// made after it.
	waitFor(t, time.Minute, "the sends in flight to settle", func() bool {
		var open int
		require.NoError(t, rig.pool.QueryRow(ctx, `SELECT count(*) FROM sends WHERE campaign_id = $1 AND status = 'in_flight'`, id).Scan(&open))
		return open == 0 && time.Since(pausedAt) > 3*time.Second
	})
	var last time.Time
	var claimed int
	require.NoError(t, rig.pool.QueryRow(ctx, `SELECT max(in_flight_at), count(in_flight_at) FROM sends WHERE campaign_id = $1`, id).Scan(&last, &claimed))
	require.Less(t, claimed, n, "the pause left sends queued")
	require.True(t, last.Before(pausedAt.Add(2*time.Second)), "last claim %s after the pause", last.Sub(pausedAt))
	c, err := rig.svc.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, "paused", c.Status)

	require.NoError(t, rig.svc.Resume(ctx, id))
	counts := rig.requireSettled(t, id, n)
	require.EqualValues(t, n, counts["accepted"]+counts["sent"]+counts["delivered"]+counts["read"], "every recipient messaged once: %v", counts)
}
