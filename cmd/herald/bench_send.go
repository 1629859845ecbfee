package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/spf13/cobra"

	"github.com/herald-sh/herald/campaigns"
	"github.com/herald-sh/herald/internal/report"
	"github.com/herald-sh/herald/internal/throttle"
	"github.com/herald-sh/herald/internal/wasim"
	"github.com/herald-sh/herald/internal/whatsapp"
)

// benchSendOptions are the flags of `herald bench send`.
type benchSendOptions struct {
	recipients  int
	senders     int
	rate        int
	webhooks    bool
	batchSize   int
	chunkSize   int
	sendWorkers int
	timeout     time.Duration
	keep        bool
	cpuProfile  string
	simProfile  string
	headroom    float64
	workers     int
	simRate     int
	simLatency  time.Duration
}

// benchSendCmd is `herald bench send`.
func (a *app) benchSendCmd() *cobra.Command {
	var o benchSendOptions
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Measure the campaign engine: sends per second committed, end to end with webhooks, worker memory",
		Long: `Creates a scratch database next to herald's (<database>_bench, dropped
afterwards) holding --recipients opted-in contacts in one list per sender
number, registers --senders numbers at --rate messages per second, and
starts one campaign per number (the expansion is timed). A Cloud API
simulator on loopback, in this process, caps each number at --rate.

A herald worker then runs in a child process, as in production: River,
dispatch, the throttle and, with --webhooks, the webhook receiver and the
status applier. With --webhooks the simulator answers every send with sent,
delivered and read statuses, posted to the worker's receiver.

Printed: sends per second from the first claim to the last committed
outcome (and over the middle 80% of sends), claim-to-commit latency, with
--webhooks the rate until every status is applied and the lag from a
webhook's receipt to its application, and the worker's peak RSS (VmHWM).
The run fails unless every send is final, every campaign's rollups equal a
recount, and the simulator saw nobody messaged twice.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.recipients < 1 || o.senders < 1 || o.workers < 1 || o.rate < 1 || o.rate > 1000 {
				return usageError{errors.New("--recipients, --senders and --workers must be positive, --rate in 1..1000")}
			}
			return a.benchSend(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.recipients, "recipients", 1_000_000, "recipients, spread evenly over the senders' campaigns")
	f.IntVar(&o.senders, "senders", 10, "sender numbers, one campaign each")
	f.IntVar(&o.rate, "rate", 1000, "messages per second of each number (throttle and simulator cap)")
	f.IntVar(&o.simRate, "sim-rate", 0, "the simulator's cap per number, if not --rate (0: --rate; -1: no cap)")
	f.DurationVar(&o.simLatency, "sim-latency", 0, "how long the simulator takes to answer each request (the Cloud API's round trip)")
	f.BoolVar(&o.webhooks, "webhooks", false, "answer every send with sent, delivered and read webhooks and wait until all are applied")
	f.IntVar(&o.batchSize, "batch-size", 0, "sends per River job (campaigns.Config.BatchSize; 0: default)")
	f.IntVar(&o.chunkSize, "chunk-size", 0, "sends claimed at a time (campaigns.DispatchConfig.ChunkSize; 0: default)")
	f.IntVar(&o.sendWorkers, "send-workers", 0, "dispatch jobs run at once by the worker (0: the worker's default)")
	f.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long")
	f.BoolVar(&o.keep, "keep", false, "keep the scratch database")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the worker to this file")
	f.IntVar(&o.workers, "workers", 1, "worker processes sharing the numbers (the throttle holds each number's rate across them)")
	f.StringVar(&o.simProfile, "sim-cpuprofile", "", "write a CPU profile of this process (the simulator) while the worker runs to this file")
	f.Float64Var(&o.headroom, "headroom", 0, "share of each number's rate the throttle leaves unused (0: the default)")
	return cmd
}

// benchRig is a scratch database with sender numbers, templates and an
// audience, and a simulator serving on loopback.
type benchRig struct {
	a        *app
	pool     *pgxpool.Pool
	url      string
	drop     func()
	sim      *wasim.Server
	simURL   string
	simHTTP  *http.Server
	secret   whatsapp.Secret
	dbName   string
	senders  []string // phone_number_ids
	lists    []string
	campaign []int64
}

type benchRigOptions struct {
	recipients, senders, rate int
	simRate                   int // 0: rate; -1: no cap
	simLatency                time.Duration
	webhookURL                string // "" turns webhooks off
	read                      float64
	keep                      bool
}

const benchDatabaseSuffix = "_bench"

// newBenchRig creates the scratch database and the simulator.
func (a *app) newBenchRig(ctx context.Context, o benchRigOptions, secret whatsapp.Secret) (*benchRig, error) {
	if _, err := a.openDB(ctx); err != nil {
		return nil, err
	}
	pool, drop, err := a.benchDatabase(ctx, benchDatabaseSuffix)
	if err != nil {
		return nil, err
	}
	r := &benchRig{a: a, pool: pool, drop: drop, secret: secret}
	u, err := url.Parse(a.located.URL)
	if err != nil {
		drop()
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	r.dbName = pool.Config().ConnConfig.Database
	u.Path = "/" + r.dbName
	r.url = u.String()
	if o.keep {
		r.drop = pool.Close
	}

	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	r.sim = wasim.New(wasim.Config{
		Templates: demoTemplates, Token: "bench", Rate: simRate(o.rate, o.simRate), Seed: 1, Latency: o.simLatency,
		Failures:   wasim.FailureMix{Read: o.read},
		WebhookURL: o.webhookURL, AppSecret: secret, WABAID: demoWABA,
	}, slog.New(slog.DiscardHandler))
	r.simHTTP = wasim.HTTPServer("", r.sim)
	go r.simHTTP.Serve(simLn) //nolint:errcheck // ends with Close
	r.simURL = "http://" + simLn.Addr().String()

	client := whatsapp.NewClient(whatsapp.Config{BaseURL: r.simURL, Token: "bench"})
	infos, err := client.ListTemplates(ctx, demoWABA)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("sync templates: %w", err)
	}
	for _, info := range infos {
		if _, err := campaigns.TemplateUpsert(ctx, pool, info); err != nil {
			r.close()
			return nil, err
		}
	}
	for i := range o.senders {
		id := fmt.Sprintf("2000000000%05d", i+1)
		if _, err := campaigns.SenderUpsert(ctx, pool, campaigns.Sender{PhoneNumberID: id, WABAID: demoWABA, RatePerSecond: o.rate}); err != nil {
			r.close()
			return nil, err
		}
		r.senders = append(r.senders, id)
		r.lists = append(r.lists, fmt.Sprintf("bench-%d", i+1))
	}
	if err := benchAudience(ctx, pool, o.recipients, len(r.lists)); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// startCPUProfile writes a CPU profile of this process to path until stop
// is called; with path "" it does nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// simRate is the simulator's cap: the throttle's rate unless set, none
// (wasim's negative Rate) if -1.
func simRate(rate, set int) int {
	switch {
	case set < 0:
		return -1
	case set == 0:
		return rate
	}
	return set
}

func (r *benchRig) close() {
	if r.sim != nil {
		r.sim.Close()
		_ = r.simHTTP.Close()
	}
	r.drop()
}

// benchAudience inserts n opted-in contacts, dealt round-robin into lists
// bench-1 … bench-<lists>.
func benchAudience(ctx context.Context, pool *pgxpool.Pool, n, lists int) error {
	_, err := pool.Exec(ctx, `
		WITH l AS (INSERT INTO lists (name) SELECT 'bench-' || k FROM generate_series(1, $2::int) k RETURNING id, name),
		c AS (INSERT INTO contacts (phone, name, consent, country)
		      SELECT '+55119' || lpad(i::text, 8, '0'), 'Contact ' || i, 'opted_in', 'BR' FROM generate_series(1, $1::int) i
		      RETURNING id)
		INSERT INTO list_members (list_id, contact_id)
		SELECT l.id, c.id FROM c JOIN l ON l.name = 'bench-' || (c.id % $2::int + 1)`, n, lists)
	if err != nil {
		return fmt.Errorf("generate %d contacts: %w", n, err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE contacts; ANALYZE list_members; ANALYZE lists`); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	return nil
}

// startCampaigns creates and starts one campaign per sender and returns how
// long the expansions took and how many jobs they enqueued.
func (r *benchRig) startCampaigns(ctx context.Context, batchSize int) (time.Duration, int, int64, error) {
	inserter, err := river.NewClient(riverpgxv5.New(r.pool), &river.Config{})
	if err != nil {
		return 0, 0, 0, err
	}
	svc := campaigns.NewService(r.a.logger, r.pool, inserter, campaigns.Config{BatchSize: batchSize})
	var ids []int64
	for i, sender := range r.senders {
		c, err := svc.Create(ctx, campaigns.NewCampaign{Name: r.lists[i], Template: "spring_sale", Language: "pt_BR",
			PhoneNumberID: sender, Lists: []string{r.lists[i]},
			Bindings: []campaigns.Binding{{Component: "body", Param: "1", Field: "name"}}})
		if err != nil {
			return 0, 0, 0, err
		}
		ids = append(ids, c.ID)
	}
	var took time.Duration
	var jobs int
	var sends int64
	for _, id := range ids {
		start := time.Now()
		exp, err := svc.Start(ctx, id)
		if err != nil {
			return 0, 0, 0, err
		}
		took += time.Since(start)
		jobs += exp.Jobs
		sends += exp.Sends
	}
	r.campaign = ids
	return took, jobs, sends, nil
}

func (a *app) benchSend(ctx context.Context, o benchSendOptions) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	secret := whatsapp.Secret(rand.Text())
	var hookLn net.Listener
	ro := benchRigOptions{recipients: o.recipients, senders: o.senders, rate: o.rate, simRate: o.simRate, simLatency: o.simLatency, keep: o.keep}
	if o.webhooks {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		defer ln.Close()
		hookLn = ln
		ro.webhookURL = "http://" + ln.Addr().String() + "/webhooks/whatsapp"
		ro.read = 1
	}
	start := time.Now()
	rig, err := a.newBenchRig(ctx, ro, secret)
	if err != nil {
		return err
	}
	defer rig.close()
	fmt.Fprintf(a.stdout, "scratch database ready: %d contacts in %d lists in %s\n", o.recipients, o.senders, time.Since(start).Round(time.Millisecond))

	took, jobs, sends, err := rig.startCampaigns(ctx, o.batchSize)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "expansion: %d sends and %d jobs in %d campaigns in %s (%.0f sends/s)\n",
		sends, jobs, len(rig.campaign), took.Round(time.Millisecond), float64(sends)/took.Seconds())

	rig.sim.Start(ctx)
	// The simulator in this process allocates per request like a worker,
	// and keeps a record of every send (a live heap that grows with the
	// run): collect at five times the live heap, without a memory limit.
	if a.getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	args := []string{}
	if o.chunkSize > 0 {
		args = append(args, "--chunk-size", strconv.Itoa(o.chunkSize))
	}
	if o.sendWorkers > 0 {
		args = append(args, "--send-workers", strconv.Itoa(o.sendWorkers))
	}
	if o.cpuProfile != "" {
		args = append(args, "--cpuprofile", o.cpuProfile)
	}
	if o.headroom > 0 {
		args = append(args, "--headroom", strconv.FormatFloat(o.headroom, 'g', -1, 64))
	}
	stopProfile, err := startCPUProfile(o.simProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	cpu0 := benchCPU()
	pg0 := postgresCPU(rig.dbName)
	var workers []*benchWorker
	for i := range o.workers {
		ln := hookLn
		if i > 0 {
			ln = nil // one worker serves the webhooks
		}
		w, err := rig.startWorker(ctx, args, ln)
		if err != nil {
			return err
		}
		defer w.kill()
		workers = append(workers, w)
	}
	if hookLn != nil {
		hookLn.Close() // the worker holds its own copy
	}

	if err := rig.waitSent(ctx, sends, o.webhooks); err != nil {
		return err
	}
	if o.webhooks {
		if err := rig.sim.Drain(ctx); err != nil {
			return err
		}
		if err := rig.waitApplied(ctx); err != nil {
			return err
		}
	}
	if err := rig.waitCompleted(ctx); err != nil {
		return err
	}
	cpu := benchCPU().sub(cpu0)
	pg := postgresCPU(rig.dbName).since(pg0) // before the worker's connections close
	var hwm int64
	var workerCPU time.Duration
	var peaks workerPeaks
	var thr throttle.Stats
	for _, w := range workers {
		h, c, err := w.stop()
		if err != nil {
			return err
		}
		hwm, workerCPU = max(hwm, h), workerCPU+c
		peaks.liveHeap, peaks.goroutines = max(peaks.liveHeap, w.peaks.liveHeap), max(peaks.goroutines, w.peaks.goroutines)
		thr.Leases, thr.Slots, thr.HeldBack, thr.TopUps = thr.Leases+w.throttle.Leases, thr.Slots+w.throttle.Slots, thr.HeldBack+w.throttle.HeldBack, thr.TopUps+w.throttle.TopUps
	}

	fig, err := rig.sendFigures(ctx, o.webhooks)
	if err != nil {
		return err
	}
	fig.print(a.stdout)
	rig.printSim(a.stdout)
	rig.printPacing(a.stdout, o.rate)
	fmt.Fprintf(a.stdout, "throttle: %d leases took %d slots; %d messages held back (a second already full) took one more, in %d leases\n",
		thr.Leases, thr.Slots, thr.HeldBack, thr.TopUps)
	fmt.Fprintf(a.stdout, "worker: peak RSS (VmHWM) %.0f MB (live heap at most %.0f MB, at most %d goroutines), CPU %.1f s (%.0f µs per send)\n",
		float64(hwm)/(1<<20), float64(peaks.liveHeap)/(1<<20), peaks.goroutines, workerCPU.Seconds(), workerCPU.Seconds()*1e6/float64(fig.sends))
	if len(workers) > 1 {
		fmt.Fprintf(a.stdout, "  (%d worker processes: the largest peak RSS, the sum of their CPU)\n", len(workers))
	}
	fmt.Fprintf(a.stdout, "postgres: CPU %.1f s (%.0f µs per send) in this database's backends and the server's background processes\n",
		pg.Seconds(), pg.Seconds()*1e6/float64(fig.sends))
	other := cpu.busy - workerCPU - cpu.self - pg
	fmt.Fprintf(a.stdout, "machine: %.0f%% of %d cores busy while the worker ran; this process (simulator) %.1f s CPU (%.0f µs per send); other processes %.1f s\n",
		cpu.busyShare()*100, cpu.cores, cpu.self.Seconds(), cpu.self.Seconds()*1e6/float64(fig.sends), other.Seconds())
	return rig.check(ctx, fig, o.webhooks)
}

// benchWorker is a `herald bench worker` child process.
type benchWorker struct {
	cmd      *exec.Cmd
	hwm      chan int64
	done     bool
	peaks    workerPeaks    // set before hwm is sent
	throttle throttle.Stats // set before hwm is sent
}

// startWorker runs `herald bench worker` against the scratch database and
// the simulator; ln, if not nil, is handed over as the worker's webhook
// listener.
func (r *benchRig) startWorker(ctx context.Context, args []string, ln net.Listener) (*benchWorker, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, append([]string{"bench", "worker"}, args...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	cmd.Env = append(os.Environ(), "DATABASE_URL="+r.url, "WHATSAPP_API_URL="+r.simURL,
		"WHATSAPP_TOKEN=bench", "WHATSAPP_APP_SECRET="+string(r.secret), "HERALD_LOG_LEVEL=warn")
	if ln != nil {
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			return nil, err
		}
		defer f.Close()
		cmd.ExtraFiles = []*os.File{f}
		cmd.Args = append(cmd.Args, "--listen-fd", "3")
	}
	cmd.Stderr = r.a.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	w := &benchWorker{cmd: cmd, hwm: make(chan int64, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		var hwm int64
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "peaks "); ok {
				_, _ = fmt.Sscan(v, &w.peaks.liveHeap, &w.peaks.goroutines)
			}
			if v, ok := strings.CutPrefix(sc.Text(), "throttle "); ok {
				_, _ = fmt.Sscan(v, &w.throttle.Leases, &w.throttle.Slots, &w.throttle.HeldBack, &w.throttle.TopUps)
			}
			if v, ok := strings.CutPrefix(sc.Text(), "vmhwm "); ok {
				hwm, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		w.hwm <- hwm
	}()
	return w, nil
}

// stop interrupts the worker, waits for its orderly shutdown and returns its
// peak RSS and CPU time.
func (w *benchWorker) stop() (int64, time.Duration, error) {
	w.done = true
	if err := w.cmd.Process.Signal(os.Interrupt); err != nil {
		return 0, 0, err
	}
	hwm := <-w.hwm
	if err := w.cmd.Wait(); err != nil {
		return 0, 0, fmt.Errorf("worker: %w", err)
	}
	return hwm, w.cmd.ProcessState.UserTime() + w.cmd.ProcessState.SystemTime(), nil
}

func (w *benchWorker) kill() {
	if !w.done {
		_ = w.cmd.Process.Kill()
		_ = w.cmd.Wait()
	}
}

// benchWorkerCmd is the hidden `herald bench worker`: `herald worker` with
// the engine's tuning knobs as flags, a listener inherited from the bench,
// and its peak RSS printed on exit.
func (a *app) benchWorkerCmd() *cobra.Command {
	var (
		opts       engineOptions
		listenFD   int
		cpuProfile string
	)
	cmd := &cobra.Command{
		Use:    "worker",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			pool, err := a.openDB(ctx)
			if err != nil {
				return err
			}
			defer a.closeDB(ctx)
			opts.Work = true
			stopProfile, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stopProfile()
			if listenFD > 0 {
				ln, err := net.FileListener(os.NewFile(uintptr(listenFD), "listener"))
				if err != nil {
					return fmt.Errorf("inherit listener: %w", err)
				}
				opts.Listener = ln
			}
			eng, err := a.newEngine(pool, opts)
			if err != nil {
				return err
			}
			if err := eng.start(ctx); err != nil {
				return err
			}
			peaks := samplePeaks(ctx)
			<-ctx.Done()
			eng.stop(ctx)
			p := <-peaks
			fmt.Fprintf(a.stdout, "peaks %d %d\n", p.liveHeap, p.goroutines)
			st := eng.limiter.Stats()
			fmt.Fprintf(a.stdout, "throttle %d %d %d %d\n", st.Leases, st.Slots, st.HeldBack, st.TopUps)
			fmt.Fprintf(a.stdout, "vmhwm %d\n", peakRSS())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.SendWorkers, "send-workers", 0, "dispatch jobs run at once (0: default)")
	f.IntVar(&opts.ChunkSize, "chunk-size", 0, "sends claimed at a time (0: default)")
	f.Float64Var(&opts.Headroom, "headroom", 0, "share of each number's rate the throttle leaves unused (0: default)")
	f.IntVar(&listenFD, "listen-fd", 0, "serve webhooks on this inherited listener")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the worker to this file")
	return cmd
}

// workerPeaks are the largest live heap (after a collection) and goroutine
// count a bench worker saw.
type workerPeaks struct{ liveHeap, goroutines uint64 }

// samplePeaks samples the live heap and the goroutines every 100 ms until
// ctx ends, then sends the peaks.
func samplePeaks(ctx context.Context) <-chan workerPeaks {
	out := make(chan workerPeaks, 1)
	go func() {
		samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/sched/goroutines:goroutines"}}
		var p workerPeaks
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(samples)
			p.liveHeap = max(p.liveHeap, samples[0].Value.Uint64())
			p.goroutines = max(p.goroutines, samples[1].Value.Uint64())
			select {
			case <-ctx.Done():
				out <- p
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// benchProgress reads the rollups of the bench's campaigns.
func (r *benchRig) progress(ctx context.Context) (open, done, read int64, err error) {
	err = r.pool.QueryRow(ctx, `
		SELECT coalesce(sum(queued + in_flight), 0), coalesce(sum(accepted + unknown + sent + delivered + read + failed + cancelled), 0),
		       coalesce(sum(read), 0)
		FROM campaign_rollups WHERE campaign_id = ANY($1)`, r.campaign).Scan(&open, &done, &read)
	return
}

// waitSent waits until no send is queued or in flight, printing progress.
func (r *benchRig) waitSent(ctx context.Context, total int64, webhooks bool) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var lastDone int64
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for sends: %w", ctx.Err())
		case <-tick.C:
		}
		open, done, read, err := r.progress(ctx)
		if err != nil {
			return err
		}
		if now := time.Now(); now.Sub(last) >= 5*time.Second {
			rate := float64(done-lastDone) / now.Sub(last).Seconds()
			if webhooks {
				fmt.Fprintf(r.a.stdout, "  %d/%d sent (%.0f/s), %d read\n", done, total, rate, read)
			} else {
				fmt.Fprintf(r.a.stdout, "  %d/%d sent (%.0f/s)\n", done, total, rate)
			}
			last, lastDone = now, done
		}
		if open == 0 && done >= total {
			return nil
		}
	}
}

// waitApplied waits until every stored webhook event and every pending
// status has been applied.
func (r *benchRig) waitApplied(ctx context.Context) error {
	for {
		var unapplied, pending int64
		if err := r.pool.QueryRow(ctx, `
			SELECT (SELECT count(*) FROM webhook_events WHERE applied_at IS NULL), (SELECT count(*) FROM pending_statuses)`).
			Scan(&unapplied, &pending); err != nil {
			return err
		}
		if unapplied == 0 && pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the applier (%d events, %d pending statuses left): %w", unapplied, pending, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitCompleted waits until the dispatch jobs have marked every campaign
// completed.
func (r *benchRig) waitCompleted(ctx context.Context) error {
	for {
		var running int
		if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM campaigns WHERE id = ANY($1) AND status <> 'completed'`, r.campaign).Scan(&running); err != nil {
			return err
		}
		if running == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d campaigns to complete: %w", running, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// sendFigures are what a bench send run measured, read from the rows.
type sendFigures struct {
	webhooks                     bool
	sends                        int64
	dispatch, steady             time.Duration // first claim → last commit; 10th → 90th percentile commit
	claimP50, claimP99           time.Duration // claim → committed outcome
	endToEnd                     time.Duration // first claim → last status applied
	events                       int64
	lagP50, lagP99, lagMax       time.Duration // webhook receipt → application
	statuses                     map[string]int64
	firstClaim, lastAccept, last time.Time
}

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func (r *benchRig) sendFigures(ctx context.Context, webhooks bool) (*sendFigures, error) {
	f := &sendFigures{webhooks: webhooks, statuses: map[string]int64{}}
	var p50, p99, p10, p90 float64
	err := r.pool.QueryRow(ctx, `
		SELECT count(*), min(in_flight_at), max(accepted_at),
		       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM accepted_at - in_flight_at)),
		       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM accepted_at - in_flight_at)),
		       percentile_cont(0.1) WITHIN GROUP (ORDER BY extract(epoch FROM accepted_at)),
		       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM accepted_at))
		FROM sends WHERE campaign_id = ANY($1)`, r.campaign).
		Scan(&f.sends, &f.firstClaim, &f.lastAccept, &p50, &p99, &p10, &p90)
	if err != nil {
		return nil, fmt.Errorf("read send figures: %w", err)
	}
	f.dispatch = f.lastAccept.Sub(f.firstClaim)
	f.steady = secs(p90 - p10)
	f.claimP50, f.claimP99 = secs(p50), secs(p99)
	rows, err := r.pool.Query(ctx, `SELECT status, count(*) FROM sends WHERE campaign_id = ANY($1) GROUP BY status`, r.campaign)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		f.statuses[s] = n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !webhooks {
		return f, nil
	}
	var lp50, lp99, lmax float64
	err = r.pool.QueryRow(ctx, `
		SELECT count(*), max(applied_at),
		       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM applied_at - received_at)),
		       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM applied_at - received_at)),
		       max(extract(epoch FROM applied_at - received_at))
		FROM webhook_events`).Scan(&f.events, &f.last, &lp50, &lp99, &lmax)
	if err != nil {
		return nil, fmt.Errorf("read webhook figures: %w", err)
	}
	f.endToEnd = f.last.Sub(f.firstClaim)
	f.lagP50, f.lagP99, f.lagMax = secs(lp50), secs(lp99), secs(lmax)
	return f, nil
}

func (f *sendFigures) print(w io.Writer) {
	ms := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	fmt.Fprintf(w, "dispatch: %d sends committed in %s = %.0f sends/s (middle 80%%: %.0f sends/s)\n",
		f.sends, f.dispatch.Round(time.Millisecond), float64(f.sends)/f.dispatch.Seconds(), 0.8*float64(f.sends)/f.steady.Seconds())
	fmt.Fprintf(w, "claim to committed outcome: p50 %s  p99 %s\n", ms(f.claimP50), ms(f.claimP99))
	if f.webhooks {
		fmt.Fprintf(w, "end to end: every status applied %s after the first claim = %.0f sends/s\n",
			f.endToEnd.Round(time.Millisecond), float64(f.sends)/f.endToEnd.Seconds())
		fmt.Fprintf(w, "webhooks: %d POSTs stored; receipt to applied: p50 %s  p99 %s  max %s\n",
			f.events, ms(f.lagP50), ms(f.lagP99), ms(f.lagMax))
	}
	fmt.Fprintf(w, "statuses: %v\n", f.statuses)
}

// printSim prints what the simulator saw: 130429 answers mean the throttle
// let more through than a number's cap in some one-second window.
func (r *benchRig) printSim(w io.Writer) {
	st := r.sim.Stats()
	fmt.Fprintf(w, "simulator: %d requests, %d accepted, %d answered 130429 (throughput exceeded)\n", st.Requests, st.Accepted, st.Throttled)
}

// printPacing prints, for each number, what the simulator accepted: the rate
// over the middle of the run (its first and last 5% of sends left out: the
// ramp up and the tail, where fewer sends are left than the rate allows),
// and the fullest one-second and 100-ms windows over the whole run.
func (r *benchRig) printPacing(w io.Writer, rate int) {
	byNumber := map[string][]time.Time{}
	for _, rec := range r.sim.Records() {
		byNumber[rec.PhoneNumberID] = append(byNumber[rec.PhoneNumberID], rec.At)
	}
	for _, id := range r.senders {
		times := byNumber[id]
		if len(times) < 100 {
			continue
		}
		slices.SortFunc(times, time.Time.Compare)
		lo, hi := len(times)/20, len(times)-1-len(times)/20
		mid := float64(hi-lo) / times[hi].Sub(times[lo]).Seconds()
		fmt.Fprintf(w, "number %s: %d accepted, %.1f/s in the middle 90%% (%.2f%% of %d/s); fullest 1 s window %d, fullest 100 ms window %d\n",
			id, len(times), mid, 100*mid/float64(rate), rate,
			throttle.MaxInWindow(times, time.Second), throttle.MaxInWindow(times, 100*time.Millisecond))
		if os.Getenv("HERALD_BENCH_FULL") != "" {
			j := 0
			for i := range times {
				for times[i].Sub(times[j]) >= time.Second {
					j++
				}
				if i-j+1 >= rate {
					fmt.Fprintf(w, "  full window ending %.3fs after the first\n", times[i].Sub(times[0]).Seconds())
				}
			}
		}
	}
}

// check is the promise: every send final, rollups equal to a recount,
// nobody messaged twice.
func (r *benchRig) check(ctx context.Context, f *sendFigures, webhooks bool) error {
	want := "accepted"
	if webhooks {
		want = "read"
	}
	var errs []error
	if f.statuses[want] != f.sends {
		errs = append(errs, fmt.Errorf("%d of %d sends are %s: %v", f.statuses[want], f.sends, want, f.statuses))
	}
	for _, id := range r.campaign {
		v, err := report.Verify(ctx, r.pool, id)
		if err != nil {
			return err
		}
		if !v.OK {
			errs = append(errs, fmt.Errorf("campaign %d: rollups differ from a recount: %v", id, v.Mismatches))
		}
	}
	for _, s := range r.senders {
		if d := r.sim.DuplicateRecipients(s, "spring_sale"); len(d) > 0 {
			errs = append(errs, fmt.Errorf("sender %s messaged %d recipients twice", s, len(d)))
		}
	}
	if st := r.sim.Stats(); int64(st.Accepted) != f.sends {
		errs = append(errs, fmt.Errorf("simulator accepted %d messages for %d sends", st.Accepted, f.sends))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	fmt.Fprintf(r.a.stdout, "check: every send %s, rollups equal a recount in %d campaigns, nobody messaged twice\n", want, len(r.campaign))
	return nil
}

// benchCPUTimes are the machine's busy and total CPU time and this
// process's own.
type benchCPUTimes struct {
	busy, total time.Duration
	self        time.Duration
	cores       int
}

func (c benchCPUTimes) sub(o benchCPUTimes) benchCPUTimes {
	return benchCPUTimes{busy: c.busy - o.busy, total: c.total - o.total, self: c.self - o.self, cores: c.cores}
}

func (c benchCPUTimes) busyShare() float64 {
	if c.total <= 0 {
		return 0
	}
	return float64(c.busy) / float64(c.total)
}

// benchCPU reads /proc/stat (all cores) and this process's rusage.
func benchCPU() benchCPUTimes {
	var c benchCPUTimes
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return c
	}
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if fields[0] == "cpu" {
			for i, v := range fields[1:] {
				n, _ := strconv.ParseInt(v, 10, 64)
				d := time.Duration(n) * 10 * time.Millisecond // USER_HZ is 100 on Linux
				c.total += d
				if i != 3 && i != 4 { // idle, iowait
					c.busy += d
				}
			}
		} else if strings.HasPrefix(fields[0], "cpu") {
			c.cores++
		}
	}
	return c
}

// postgresTimes is the CPU time of Postgres processes by pid.
type postgresTimes map[int]time.Duration

// postgresCPU reads the CPU time of the server processes that work for
// database db: its backends (and autovacuum workers), and the background
// processes every database shares (WAL writer, checkpointer, background
// writer). It is empty where /proc cannot tell.
func postgresCPU(db string) postgresTimes {
	out := postgresTimes{}
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !strings.HasPrefix(string(cmd), "postgres: ") {
			continue
		}
		title := string(cmd)
		shared := strings.Contains(title, "walwriter") || strings.Contains(title, "checkpointer") || strings.Contains(title, "background writer")
		if !shared && !strings.Contains(title, " "+db+" ") {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses.
		i := strings.LastIndexByte(string(stat), ')')
		f := strings.Fields(string(stat)[i+1:])
		if len(f) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		out[pid] = time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ 100
	}
	return out
}

// since sums what each process used after before was read; a process that
// ended in between is lost.
func (t postgresTimes) since(before postgresTimes) time.Duration {
	var sum time.Duration
	for pid, d := range t {
		sum += d - before[pid]
	}
	return sum
}

// benchExpandCmd is `herald bench expand`.
func (a *app) benchExpandCmd() *cobra.Command {
	var (
		recipients, batchSize int
		keep                  bool
	)
	cmd := &cobra.Command{
		Use:   "expand",
		Short: "Measure expansion: a campaign's audience into sends and River jobs",
		Long: `Creates a scratch database next to herald's (<database>_bench, dropped
afterwards) with --recipients opted-in contacts in one list, and times
starting one campaign over it: the audience query, the sends and
exclusions it inserts, the rollups and the River jobs, in one transaction.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if recipients < 1 {
				return usageError{errors.New("--recipients must be positive")}
			}
			ctx := cmd.Context()
			start := time.Now()
			rig, err := a.newBenchRig(ctx, benchRigOptions{recipients: recipients, senders: 1, rate: 1000, keep: keep}, "")
			if err != nil {
				return err
			}
			defer rig.close()
			fmt.Fprintf(a.stdout, "scratch database ready: %d contacts in %s\n", recipients, time.Since(start).Round(time.Millisecond))
			resetPeakRSS()
			took, jobs, sends, err := rig.startCampaigns(ctx, batchSize)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "expansion: %d sends and %d jobs in %s = %.0f sends/s; peak RSS %.0f MB\n",
				sends, jobs, took.Round(time.Millisecond), float64(sends)/took.Seconds(), float64(peakRSS())/(1<<20))
			if sends != int64(recipients) {
				return fmt.Errorf("%d sends for %d recipients", sends, recipients)
			}
			v, err := report.Verify(ctx, rig.pool, rig.campaign[0])
			if err != nil {
				return err
			}
			if !v.OK {
				return fmt.Errorf("rollups differ from a recount: %v", v.Mismatches)
			}
			fmt.Fprintf(a.stdout, "check: one send per recipient, rollups equal a recount\n")
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&recipients, "recipients", 1_000_000, "recipients in the list")
	f.IntVar(&batchSize, "batch-size", 0, "sends per River job (campaigns.Config.BatchSize; 0: default)")
	f.BoolVar(&keep, "keep", false, "keep the scratch database")
	return cmd
}
