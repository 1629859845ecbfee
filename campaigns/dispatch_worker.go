package campaigns

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/herald-sh/herald/internal/store"
	"github.com/herald-sh/herald/internal/whatsapp"
)

// SendBatchArgs is one dispatch job: the queued sends of a campaign whose ids
// fall in [FirstID, LastID].
type SendBatchArgs struct {
	CampaignID int64 `json:"campaign_id"`
	SenderID   int64 `json:"sender_id"`
	FirstID    int64 `json:"first_id"`
	LastID     int64 `json:"last_id"`
}

// Kind is the stable job kind stored in River's rows.
func (SendBatchArgs) Kind() string { return "campaign_send_batch" }

// InsertOpts puts dispatch on its own queue so that maintenance jobs never
// wait behind a blast.
func (SendBatchArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSends, MaxAttempts: 100}
}

// QueueSends is the River queue of dispatch jobs.
const QueueSends = "sends"

// MessageSender sends one template message; *whatsapp.Client is one.
type MessageSender interface {
	SendTemplate(ctx context.Context, phoneNumberID string, msg whatsapp.TemplateMessage) (*whatsapp.SendResponse, error)
}

// Throttle paces sends per sender number; *throttle.Limiter is one. WaitN
// takes n slots of the number's schedule and returns a moment before the
// first; Depart holds a message, right before its request, until its slot
// (see throttle.Limiter.Depart).
type Throttle interface {
	WaitN(ctx context.Context, senderID int64, n int) ([]time.Time, error)
	Depart(senderID int64, slot time.Time) error
	SlowDown(senderID int64)
}

// DispatchConfig tunes dispatch. Zero values take the defaults.
type DispatchConfig struct {
	// ChunkSize is how many sends are claimed (marked in_flight) at a time
	// (default 50; never more than half a second of the number's rate): more means fewer statements per send (Postgres time per
	// send falls from about 110 µs at 20 to 75 µs at 50 and 60 µs at 200),
	// but more sends left unknown if the process dies mid-chunk, and longer
	// bursts for the throttle to absorb.
	ChunkSize int
	// ChunksInFlight is how many chunks one job may have on the wire or
	// committing while it takes slots for and claims the next (default 8).
	ChunksInFlight int
	// JobsPerSender is how many dispatch jobs of one sender number may take
	// slots and claim sends at once in this process (default 4). A number
	// runs one job, and another only while every running one has its
	// pipeline full (ChunksInFlight chunks out): the Cloud API's round trip,
	// not the number's rate, is then what holds the number back. A job of a
	// campaign the number runs nothing of takes a free place at once. A job
	// that has claimed everything in its range gives its place up while
	// its last answers come back. One more job waits, up to SenderBusyWait
	// (default 10s), to take over a place; any further job snoozes for a
	// second, which frees its River worker for other numbers' jobs.
	JobsPerSender  int
	SenderBusyWait time.Duration
	// MaxAttempts before a retryable send fails (default 5).
	MaxAttempts int
	// PairWindow keeps a number from messaging one person twice within it
	// (default 6s, Meta's pair rate of about one message per 6 s).
	PairWindow time.Duration
	// PauseAfter pauses a campaign after this many consecutive sends failed
	// with the same code (default 50): a broken campaign never burns a list.
	PauseAfter int
	// RequestTimeout bounds one Cloud API call (default 30s).
	RequestTimeout time.Duration
	NowFunc        func() time.Time
}

// Dispatcher sends claimed sends and records what happened.
type Dispatcher struct {
	logger   *slog.Logger
	pool     *pgxpool.Pool
	api      MessageSender
	throttle Throttle
	cfg      DispatchConfig

	mu     sync.Mutex
	slots  map[int64]*senderSlots // per sender number
	seq    uint64                 // order of arrival of waiting jobs
	proven map[int64]time.Time    // campaign → when a chunk of it last committed without stopping it
}

// provenFor is how long a committed chunk vouches for its campaign's next
// jobs in this process (see run).
const provenFor = 10 * time.Minute

// firstLimit is how many chunks a job of the campaign may start with: one
// until a chunk of the campaign has been committed without stopping it, in
// this process and within provenFor; then ChunksInFlight.
func (d *Dispatcher) firstLimit(campaignID int64) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if at, ok := d.proven[campaignID]; ok && d.cfg.NowFunc().Sub(at) < provenFor {
		return d.cfg.ChunksInFlight
	}
	return 1
}

// prove records that a chunk of the campaign was committed without stopping
// it; stopped forgets the campaign, so that its next job starts with one
// chunk again (a template fixed and the campaign resumed).
func (d *Dispatcher) prove(campaignID int64, stopped bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if stopped {
		delete(d.proven, campaignID)
		return
	}
	now := d.cfg.NowFunc()
	if _, ok := d.proven[campaignID]; !ok && len(d.proven) >= 1024 {
		for id, at := range d.proven {
			if now.Sub(at) >= provenFor {
				delete(d.proven, id)
			}
		}
	}
	d.proven[campaignID] = now
}

// NewDispatcher returns a Dispatcher.
func NewDispatcher(logger *slog.Logger, pool *pgxpool.Pool, api MessageSender, throttle Throttle, cfg DispatchConfig) *Dispatcher {
	cfg.ChunkSize = cmp.Or(cfg.ChunkSize, 50)
	cfg.ChunksInFlight = cmp.Or(cfg.ChunksInFlight, 8)
	cfg.JobsPerSender = cmp.Or(cfg.JobsPerSender, 4)
	cfg.SenderBusyWait = cmp.Or(cfg.SenderBusyWait, 10*time.Second)
	cfg.MaxAttempts = cmp.Or(cfg.MaxAttempts, 5)
	cfg.PairWindow = cmp.Or(cfg.PairWindow, 6*time.Second)
	cfg.PauseAfter = cmp.Or(cfg.PauseAfter, 50)
	cfg.RequestTimeout = cmp.Or(cfg.RequestTimeout, 30*time.Second)
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	return &Dispatcher{logger: logger, pool: pool, api: api, throttle: throttle, cfg: cfg,
		slots: map[int64]*senderSlots{}, proven: map[int64]time.Time{}}
}

// senderSlots are the places for running jobs of one sender number, and
// the job waiting for one. Guarded by Dispatcher.mu.
type senderSlots struct {
	running   int
	campaigns map[int64]int // running jobs by campaign
	// full counts the running jobs waiting for a chunk of their full
	// pipeline to come back (see bind).
	full    int
	waiting *placeWaiter // nil when none waits
}

// take gives a place to a job of campaignID.
func (s *senderSlots) take(campaignID int64) {
	s.running++
	s.campaigns[campaignID]++
}

// short reports whether the number could use one more running job: it has
// none, or every running one has its pipeline full and a place is free.
func (s *senderSlots) short(jobsPerSender int) bool {
	return s.running == 0 || (s.running < jobsPerSender && s.full >= s.running)
}

// placeWaiter is a job waiting for a place. A place is handed to it
// (ready) or it is bumped by a more urgent job (bumped).
type placeWaiter struct {
	campaignID int64
	priority   int // River's: 1 is the most urgent
	seq        uint64
	ready      chan struct{}
	bumped     chan struct{}
}

// before reports whether w should have a place before o: the more urgent
// first, then the one that came first.
func (w *placeWaiter) before(o *placeWaiter) bool {
	if w.priority != o.priority {
		return w.priority < o.priority
	}
	return w.seq < o.seq
}

// enter takes a place of senderID's for a job of campaignID and reports
// whether it got one: at once if the number is short of running jobs
// (senderSlots.short) or runs none of the campaign's and has a place free
// (a small campaign or a reminder starts beside a blast and shares the
// number's rate with it), otherwise after waiting for one (at most
// SenderBusyWait, and never past ctx's deadline) to be given up or opened
// by bind. One job waits per number; a job that finds the turn taken does
// not wait, unless it is more urgent than the waiting one, which then gives
// up its turn. The waiting job is what
// keeps the number busy when a running one ends, so it never idles while
// jobs are due; a job that does not get a place snoozes, which frees its
// River worker for other numbers' jobs. Without the order, a reminder on a
// number busy with a blast found the turn taken by the blast's jobs at each
// try and could wait for the whole blast.
//
// Places beyond the first go only to numbers whose jobs are held back by
// the round trip. When every job that found a place free ran, the first
// numbers' jobs took all of River's workers (four running and four waiting
// each), and a campaign started a few seconds later on another number sent
// nothing until they were done (docs/BENCHMARKS.md, "Campaign engine").
func (d *Dispatcher) enter(ctx context.Context, senderID, campaignID int64, priority int) bool {
	d.mu.Lock()
	slots, ok := d.slots[senderID]
	if !ok {
		slots = &senderSlots{campaigns: map[int64]int{}}
		d.slots[senderID] = slots
	}
	newCampaign := slots.campaigns[campaignID] == 0 && slots.running < d.cfg.JobsPerSender
	if newCampaign || (slots.waiting == nil && slots.short(d.cfg.JobsPerSender)) {
		slots.take(campaignID)
		d.mu.Unlock()
		return true
	}
	d.seq++
	w := &placeWaiter{campaignID: campaignID, priority: priority, seq: d.seq, ready: make(chan struct{}, 1), bumped: make(chan struct{})}
	if slots.waiting != nil {
		if !w.before(slots.waiting) {
			d.mu.Unlock()
			return false
		}
		close(slots.waiting.bumped)
	}
	slots.waiting = w
	d.mu.Unlock()

	wait := d.cfg.SenderBusyWait
	if deadline, ok := ctx.Deadline(); ok {
		// Snooze rather than reach the job timeout, which River would
		// count as a failed attempt.
		wait = min(wait, time.Until(deadline)*3/4)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.ready:
		return true
	case <-w.bumped:
		return false
	case <-t.C:
	case <-ctx.Done():
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if slots.waiting == w {
		slots.waiting = nil
		return false
	}
	select { // handed a place, or bumped, while giving up
	case <-w.ready:
		d.leaveLocked(slots, campaignID)
	default:
	}
	return false
}

// leave gives up the place a job of campaignID took.
func (d *Dispatcher) leave(senderID, campaignID int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.leaveLocked(d.slots[senderID], campaignID)
}

// leaveLocked gives a place up: to the waiting job, if any.
func (d *Dispatcher) leaveLocked(slots *senderSlots, campaignID int64) {
	if slots.campaigns[campaignID]--; slots.campaigns[campaignID] == 0 {
		delete(slots.campaigns, campaignID)
	}
	slots.running--
	if slots.waiting != nil {
		d.handOver(slots)
	}
}

// handOver gives a free place to the waiting job.
func (d *Dispatcher) handOver(slots *senderSlots) {
	w := slots.waiting
	slots.waiting = nil
	slots.take(w.campaignID)
	w.ready <- struct{}{}
}

// bind records that a running job of senderID's waits (full) or no longer
// waits for a chunk of its full pipeline to come back. When that makes
// every running job of the number wait so, a job waiting for a place gets a
// new one: the number's requests are out for longer than a job's pipeline
// covers at its rate.
func (d *Dispatcher) bind(senderID int64, full bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	slots := d.slots[senderID]
	if !full {
		slots.full--
		return
	}
	slots.full++
	if slots.waiting != nil && slots.short(d.cfg.JobsPerSender) {
		d.handOver(slots)
	}
}

// SendBatchWorker runs SendBatchArgs jobs.
type SendBatchWorker struct {
	river.WorkerDefaults[SendBatchArgs]
	Dispatcher *Dispatcher
}

// Work dispatches the job's range chunk by chunk until nothing claimable is
// left, then snoozes until the earliest retry, or finishes.
func (w *SendBatchWorker) Work(ctx context.Context, job *river.Job[SendBatchArgs]) error {
	err := w.Dispatcher.dispatch(ctx, job.Args)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// The job ran out of time with work left (a slow number, a long
		// range): carry on in a fresh run without spending an attempt, so
		// River's growing retry backoff does not stall the campaign.
		return river.JobSnooze(time.Second)
	}
	return err
}

type claimed struct {
	id        int64
	contactID int64
	phone     string
	params    []string
	attempts  int16
}

// outcome is what one send's request produced.
type outcome struct {
	send   claimed
	status string // accepted, failed, queued; "" leaves it in_flight (unknown outcome)
	wamid  string
	waID   string
	err    *whatsapp.Error
	action whatsapp.Action
	next   time.Time
	refund bool // the attempt is not counted (throttled, paused)
}

type campaignInfo struct {
	c    *Campaign
	t    Template
	plan *componentPlan
}

func (d *Dispatcher) dispatch(ctx context.Context, args SendBatchArgs) error {
	c, err := campaignGet(ctx, d.pool, args.CampaignID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted: nothing to send
	}
	if err != nil {
		return err
	}
	if c.Status != "running" {
		return nil // Resume enqueues new jobs over what is left.
	}
	if !d.enter(ctx, c.SenderID, c.ID, c.Priority) {
		if err := ctx.Err(); err != nil {
			return err
		}
		return river.JobSnooze(time.Second)
	}
	leave := sync.OnceFunc(func() { d.leave(c.SenderID, c.ID) })
	defer leave()
	t, err := TemplateGetByID(ctx, d.pool, c.TemplateID)
	if err != nil {
		return err
	}
	info := campaignInfo{c: c, t: t, plan: newComponentPlan(t, c.Bindings)}
	stopped, err := d.run(ctx, args, info, leave)
	if err != nil {
		return err
	}
	if stopped {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var open int64
	var earliest *time.Time
	if err := d.pool.QueryRow(ctx, sendRangeOpenSQL, args.CampaignID, args.FirstID, args.LastID).Scan(&open, &earliest); err != nil {
		return fmt.Errorf("check range of campaign %d: %w", args.CampaignID, err)
	}
	if open > 0 {
		// Retries wait in the range; come back when the first is due. The
		// campaign might be paused by then: the next run then ends at once.
		wait := time.Second
		if earliest != nil {
			wait = max(time.Until(*earliest), time.Second)
		}
		return river.JobSnooze(wait)
	}
	if _, err := d.pool.Exec(ctx, campaignCompleteSQL, args.CampaignID); err != nil {
		return fmt.Errorf("complete campaign %d: %w", args.CampaignID, err)
	}
	return nil
}

// run dispatches the job's range chunk by chunk until nothing claimable is
// left, the campaign stops or ctx ends. Up to ChunksInFlight chunks are on
// the wire or committing while the next one takes its slots and is claimed,
// so that one job can keep its sender number at its rate. A campaign's first
// job starts with one chunk at a time and opens up only once a chunk has
// been committed without stopping the campaign: a broken template pauses
// the campaign after its first chunk, not after several. The campaign's
// later jobs start open (firstLimit): a job covers about a second of a
// number at 1,000/s, and against the Cloud API's round trip of a few
// hundred milliseconds, waiting for one chunk at the start of every job
// cost a number several percent of its rate.
//
// Once it has nothing left to claim, run gives the job's place up (leave)
// while its last chunks are still on the wire: the place is for taking
// slots and claiming. Against a Cloud API answering in a second, a job
// holding its place through that last second kept a number below its rate.
func (d *Dispatcher) run(ctx context.Context, args SendBatchArgs, info campaignInfo, leave func()) (stopped bool, err error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		stop     bool
		inFlight int
		limit    = d.firstLimit(info.c.ID)
		freed    = make(chan struct{}, d.cfg.ChunksInFlight)
		// cursor is where the sweep's next claim starts: past the last
		// send it claimed, so that each claim reads only unclaimed rows.
		cursor = args.FirstID
		sweep  = true
		spare  []time.Time // slots taken and not used yet
	)
	done := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return stop || firstErr != nil
	}
	// A chunk covers at most half a second of the number's slots: its sends
	// are claimed before the first slot and wait for theirs, and a process
	// that dies leaves them unknown. At 1,000/s that is the whole ChunkSize
	// (50); at the default 80/s, 40; at 10/s, 5.
	chunk := min(d.cfg.ChunkSize, max(1, info.c.SenderRate/2))
claiming:
	for ctx.Err() == nil && !done() {
		// Wait for a free place in the pipeline, unless the range has been
		// swept and nothing in it is left to claim: then the job is done
		// claiming and gives its place up (leave, below). left is the
		// count of claimable sends once taken (-1 before).
		left := int64(-1)
		for {
			mu.Lock()
			full := inFlight >= limit
			wide := limit >= d.cfg.ChunksInFlight
			mu.Unlock()
			if !full {
				break
			}
			if (!sweep || cursor > args.LastID) && left < 0 {
				var err error
				if left, err = d.claimable(ctx, args); err != nil {
					wg.Wait()
					return false, errors.Join(err, firstErr)
				}
				if left == 0 {
					break claiming
				}
			}
			// A job opened up that waits on its full pipeline is held back
			// by the round trip: the number may use one more job (bind).
			if wide {
				d.bind(info.c.SenderID, true)
			}
			select {
			case <-freed:
			case <-ctx.Done():
			}
			if wide {
				d.bind(info.c.SenderID, false)
			}
			if ctx.Err() != nil {
				break
			}
		}
		if ctx.Err() != nil || done() {
			break
		}
		// The first sweep claims from the cursor onwards, reading at most
		// two chunks' worth of ids per claim; then passes over the whole
		// range pick up what it left (retries now due, sends another job
		// held) while there is any. Unbounded, every claim of the sweep
		// read the rest of the range: Postgres cannot tell how many of a
		// range's rows are the campaign's queued sends, guesses few, and
		// prefers a bitmap scan of the whole range to an ordered scan that
		// stops after n rows.
		n, from, to := chunk, cursor, args.LastID
		if sweep && cursor <= args.LastID {
			n = int(min(int64(n), args.LastID-cursor+1))
			to = min(args.LastID, cursor+2*int64(chunk)-1)
		} else {
			sweep = false
			if left < 0 {
				var err error
				if left, err = d.claimable(ctx, args); err != nil {
					wg.Wait()
					return false, errors.Join(err, firstErr)
				}
			}
			if left == 0 {
				break
			}
			n, from = int(min(int64(n), left)), args.FirstID
		}
		// Take the chunk's slots before claiming it: a send is marked in
		// flight only when its slot is a moment away, so a process that
		// dies leaves no claimed send waiting on the throttle, only
		// requests already on the wire (which their webhooks reconcile).
		// Slots a claim took but could not use (it found fewer sends than
		// n) are used first: a rerun of a range mostly done finds empty
		// stretches, and taking slots for each left the number idle.
		grants := spare
		spare = nil
		if len(grants) > n {
			grants, spare = grants[:n], grants[n:]
		}
		if len(grants) < n {
			more, err := d.reserve(ctx, info.c.SenderID, n-len(grants))
			if err != nil {
				wg.Wait()
				return false, errors.Join(err, firstErr)
			}
			grants = append(grants, more...)
		}
		batch, err := d.claim(ctx, args, from, to, n, info.c.SenderID)
		if err != nil {
			wg.Wait()
			return false, errors.Join(err, firstErr)
		}
		if len(batch) < len(grants) {
			// Slots the claim found no sends for go to the next claim;
			// those it reaches too late take new ones (Depart).
			spare = append(spare, grants[len(batch):]...)
			grants = grants[:len(batch)]
		}
		if len(batch) == 0 {
			if sweep {
				if to < args.LastID {
					cursor = to + 1 // nothing to claim in this stretch
				} else {
					sweep = false
				}
				continue
			}
			break // what is left is held elsewhere or waits on the pair rate
		}
		if sweep {
			cursor = batch[len(batch)-1].id + 1
		}
		mu.Lock()
		inFlight++
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcomes := d.sendAll(ctx, info, batch, grants)
			stopped, err := d.commit(ctx, info, outcomes)
			if err == nil {
				d.prove(info.c.ID, stopped)
			}
			mu.Lock()
			inFlight--
			switch {
			case err != nil:
				if firstErr == nil {
					firstErr = err
				}
			case stopped:
				stop = true
			default:
				limit = d.cfg.ChunksInFlight
			}
			mu.Unlock()
			select { // the loop re-checks under mu, so a full channel loses nothing
			case freed <- struct{}{}:
			default:
			}
		}()
	}
	leave()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return stop, firstErr
}

// claimable counts the sends of the job's range that a claim could take now.
func (d *Dispatcher) claimable(ctx context.Context, args SendBatchArgs) (int64, error) {
	var n int64
	if err := d.pool.QueryRow(ctx, sendRangeClaimableSQL, args.CampaignID, args.FirstID, args.LastID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count claimable sends of campaign %d: %w", args.CampaignID, err)
	}
	return n, nil
}

// reserve takes n slots of the sender's schedule and returns their times,
// a moment before the first.
func (d *Dispatcher) reserve(ctx context.Context, senderID int64, n int) ([]time.Time, error) {
	return d.throttle.WaitN(ctx, senderID, n)
}

// claim marks the next chunk in_flight and moves the rollups with it, in one
// statement (one round trip, one implicit transaction). Once sent, the
// statement is waited for even if ctx ends (job timeout, shutdown): cut off,
// it could commit on the server with its answer lost, leaving sends in
// flight that were never sent and would end unknown.
func (d *Dispatcher) claim(ctx context.Context, args SendBatchArgs, from, to int64, n int, senderID int64) ([]claimed, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	rows, err := d.pool.Query(ctx, sendClaimSQL, args.CampaignID, from, to, n,
		senderID, d.cfg.PairWindow.Seconds(), rand.IntN(rollupSlots))
	if err != nil {
		return nil, fmt.Errorf("claim sends of campaign %d: %w", args.CampaignID, err)
	}
	out := make([]claimed, 0, n)
	for rows.Next() {
		var c claimed
		if err := rows.Scan(&c.id, &c.contactID, &c.phone, &c.params, &c.attempts); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim sends of campaign %d: %w", args.CampaignID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim sends of campaign %d: %w", args.CampaignID, err)
	}
	return out, nil
}

// sendAll sends a chunk concurrently, each send at its slot (taken before
// the claim). Requests run to their own timeout even when ctx ends
// (shutdown), so a chunk's outcomes are known and committed rather than left
// unknown.
func (d *Dispatcher) sendAll(ctx context.Context, info campaignInfo, batch []claimed, slots []time.Time) []outcome {
	out := make([]outcome, len(batch))
	sendPool.runAll(len(batch), func(i int) {
		out[i] = d.sendOne(ctx, info, batch[i], slots[i])
	})
	return out
}

func (d *Dispatcher) sendOne(ctx context.Context, info campaignInfo, s claimed, slot time.Time) outcome {
	o := outcome{send: s}
	if w := info.c.Window; w != nil {
		if inside, open := w.nextOpen(d.cfg.NowFunc(), s.phone); !inside {
			// Outside the recipient's window: wait for it, attempt refunded.
			o.status, o.refund, o.next = "queued", true, open
			return o
		}
	}
	comps, err := info.plan.build(s.params, s.id)
	if err != nil {
		var apiErr *whatsapp.Error
		if !errors.As(err, &apiErr) {
			apiErr = &whatsapp.Error{Code: 132012, Title: "Parameter format mismatch", Details: err.Error()}
		}
		o.status, o.err = "failed", apiErr
		return o
	}
	if err := d.throttle.Depart(info.c.SenderID, slot); err != nil {
		// Shutting down: the send goes back to the queue unsent.
		o.status, o.refund, o.next = "queued", true, d.cfg.NowFunc()
		return o
	}
	reqCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.RequestTimeout)
	defer cancel()
	resp, err := d.api.SendTemplate(reqCtx, info.c.PhoneNumberID, whatsapp.TemplateMessage{
		To:                    s.phone,
		Template:              whatsapp.Template{Name: info.t.Name, Language: whatsapp.Language{Code: info.t.Language, Policy: whatsapp.PolicyDeterministic}, Components: comps},
		BizOpaqueCallbackData: CallbackData(s.id),
	})
	if err == nil {
		o.status, o.wamid = "accepted", resp.WAMID()
		if len(resp.Contacts) > 0 {
			o.waID = resp.Contacts[0].WaID
		}
		return o
	}
	return d.classify(o, err, info.c.SenderID)
}

// classify turns a failed request into what happens to the send next.
func (d *Dispatcher) classify(o outcome, err error, senderID int64) outcome {
	now := d.cfg.NowFunc()
	o.action = whatsapp.ActionForError(err)
	var apiErr *whatsapp.Error
	if errors.As(err, &apiErr) {
		o.err = apiErr
	} else {
		o.err = &whatsapp.Error{Code: -1, Title: "request failed", Details: err.Error()}
	}
	attempts := int(o.send.attempts)
	switch o.action {
	case whatsapp.ActionReconcile:
		o.status = "" // stays in_flight; the webhook or the deadline decides
	case whatsapp.ActionSlowDown:
		d.throttle.SlowDown(senderID)
		o.status, o.refund, o.next = "queued", true, now.Add(jitter(time.Second))
	case whatsapp.ActionRetry:
		if attempts >= d.cfg.MaxAttempts {
			o.status = "failed"
		} else {
			o.status, o.next = "queued", now.Add(jitter(backoff(attempts)))
		}
	case whatsapp.ActionRetryRecipientLater:
		// Meta: retry after 4^X seconds.
		if attempts >= d.cfg.MaxAttempts {
			o.status = "failed"
		} else {
			o.status, o.next = "queued", now.Add(jitter(time.Duration(1<<(2*min(attempts, 6)))*time.Second))
		}
	case whatsapp.ActionDefer:
		if attempts >= 3 {
			o.status = "failed"
		} else {
			o.status, o.next = "queued", now.Add(24*time.Hour+jitter(time.Minute))
		}
	case whatsapp.ActionPauseCampaign, whatsapp.ActionStopSender:
		o.status, o.refund, o.next = "queued", true, now
	default: // ActionFailRecipient, ActionOptOut
		o.status = "failed"
	}
	return o
}

// backoff is exponential from 2 s, capped at 5 minutes.
func backoff(attempt int) time.Duration {
	return min(2*time.Second<<min(attempt, 10), 5*time.Minute)
}

// jitter spreads d by ±20% so retries do not arrive in step.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()-0.5)*0.4*float64(d))
}
