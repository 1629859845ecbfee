package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

const (
	// writerMaxBytes caps the bodies of one batch, so that a burst of large
	// payloads (up to 3 MB each) is not sent as one giant statement.
	writerMaxBytes = 16 << 20
	// writerCommitTimeout bounds one batch's INSERT. Handlers are waiting on
	// it, and Meta treats a slow answer as a failure anyway.
	writerCommitTimeout = 5 * time.Second
)

var (
	// errWriterNotRunning is returned to handlers before Start or after Stop.
	errWriterNotRunning = errors.New("webhook writer not running")
	// errStoreUnavailable wraps the error of a batch that did not commit.
	errStoreUnavailable = errors.New("webhook store unavailable")
)

// writeBatchFunc stores bodies durably, all or none.
type writeBatchFunc func(ctx context.Context, bodies [][]byte) error

// pendingEvent is one handler's body waiting for its batch to commit.
type pendingEvent struct {
	ctx  context.Context // the request's; a batch drops bodies whose client has gone
	body []byte
	done chan error // capacity 1, so the writer never blocks on a handler that left
}

// writer is the group-commit writer: handlers submit bodies, one goroutine
// inserts them in batches and hands each handler its batch's outcome.
type writer struct {
	logger         *slog.Logger
	metrics        *metrics
	maxBatch       int
	maxWait        time.Duration
	writeBatchFunc writeBatchFunc
	// enqueuedFunc, when set (by tests), is called once a body is queued.
	enqueuedFunc func()

	queue     chan *pendingEvent
	startOnce sync.Once
	stopOnce  sync.Once
	started   chan struct{} // closed by start
	stopping  chan struct{} // closed by stop
	done      chan struct{} // closed when the loop has returned

	mu    sync.Mutex
	hooks []func()
}

func newWriter(logger *slog.Logger, m *metrics, maxBatch int, maxWait time.Duration, f writeBatchFunc) *writer {
	return &writer{
		logger:         logger,
		metrics:        m,
		maxBatch:       maxBatch,
		maxWait:        maxWait,
		writeBatchFunc: f,
		// Room for a second batch to gather while one commits; beyond that,
		// handlers wait to enqueue, which is the back-pressure we want.
		queue:    make(chan *pendingEvent, 2*maxBatch),
		started:  make(chan struct{}),
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
	}
}

func (w *writer) start(ctx context.Context) {
	w.startOnce.Do(func() {
		close(w.started)
		go w.run(ctx)
	})
}

func (w *writer) stop() {
	w.stopOnce.Do(func() { close(w.stopping) })
	select {
	case <-w.started:
		<-w.done
	default:
	}
}

func (w *writer) onStored(f func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hooks = append(w.hooks, f)
}

// submit hands body to the writer and waits until it is committed (nil), its
// batch failed (errStoreUnavailable), the writer is not running, or ctx ends.
// When ctx ends first the body may still be committed; nothing leaks either
// way, because the writer's answer goes into a buffered channel.
func (w *writer) submit(ctx context.Context, body []byte) error {
	select {
	case <-w.started:
	default:
		return errWriterNotRunning
	}
	p := &pendingEvent{ctx: ctx, body: body, done: make(chan error, 1)}
	select {
	case w.queue <- p:
	case <-w.done:
		return errWriterNotRunning
	case <-ctx.Done():
		return ctx.Err()
	}
	if w.enqueuedFunc != nil {
		w.enqueuedFunc()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-w.done:
		// The loop may have answered just before returning.
		select {
		case err := <-p.done:
			return err
		default:
			return errWriterNotRunning
		}
	}
}

func (w *writer) run(ctx context.Context) {
	defer close(w.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	batch := make([]*pendingEvent, 0, w.maxBatch)
	for {
		select {
		case p := <-w.queue:
			batch = append(batch[:0], p)
		case <-w.stopping:
			w.drain(ctx, batch)
			return
		case <-ctx.Done():
			w.drain(ctx, batch)
			return
		}
		size := len(batch[0].body)
		deadline := time.Now().Add(w.maxWait)
		stop := false
	fill:
		for len(batch) < w.maxBatch && size < writerMaxBytes {
			// Take what queued up while the previous batch committed...
			select {
			case p := <-w.queue:
				batch = append(batch, p)
				size += len(p.body)
				continue
			default:
			}
			// ...then wait for more until the batch's deadline.
			wait := time.Until(deadline)
			if wait <= 0 {
				break
			}
			timer.Reset(wait)
			select {
			case p := <-w.queue:
				timer.Stop()
				batch = append(batch, p)
				size += len(p.body)
			case <-timer.C:
				break fill
			case <-w.stopping:
				timer.Stop()
				stop = true
				break fill
			case <-ctx.Done():
				timer.Stop()
				stop = true
				break fill
			}
		}
		w.flush(ctx, batch)
		if stop {
			w.drain(ctx, batch)
			return
		}
	}
}

// drain commits everything still queued, in batches, without waiting for
// more.
func (w *writer) drain(ctx context.Context, batch []*pendingEvent) {
	for {
		batch = batch[:0]
		size := 0
	take:
		for len(batch) < w.maxBatch && size < writerMaxBytes {
			select {
			case p := <-w.queue:
				batch = append(batch, p)
				size += len(p.body)
			default:
				break take
			}
		}
		if len(batch) == 0 {
			return
		}
		w.flush(ctx, batch)
	}
}

// flush commits the bodies of batch whose request is still waiting and
// tells each waiting handler the outcome.
func (w *writer) flush(ctx context.Context, batch []*pendingEvent) {
	live := make([]*pendingEvent, 0, len(batch))
	bodies := make([][]byte, 0, len(batch))
	for _, p := range batch {
		// The client gave up (and Meta will retry): storing the body now
		// would only add a duplicate.
		if p.ctx.Err() != nil {
			continue
		}
		live = append(live, p)
		bodies = append(bodies, p.body)
	}
	if len(bodies) == 0 {
		return
	}
	// Handlers are waiting on this commit, so it must finish even while the
	// writer is being stopped.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writerCommitTimeout)
	begin := time.Now()
	err := w.writeBatchFunc(cctx, bodies)
	cancel()
	w.metrics.commitDuration.Observe(time.Since(begin).Seconds())
	if err != nil {
		// Logged here once per batch; the handlers answer 503 without logging.
		w.logger.Error("store webhook events", slog.Int("events", len(bodies)), slog.Any("error", err))
		err = fmt.Errorf("%w: %w", errStoreUnavailable, err)
	} else {
		w.metrics.batchSize.Observe(float64(len(bodies)))
		w.metrics.stored.Add(float64(len(bodies)))
	}
	for _, p := range live {
		p.done <- err
	}
	if err != nil {
		return
	}
	w.mu.Lock()
	hooks := w.hooks
	w.mu.Unlock()
	for _, f := range hooks {
		f()
	}
}
