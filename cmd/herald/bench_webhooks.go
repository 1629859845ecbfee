package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/herald-sh/herald/internal/httpapi"
	"github.com/herald-sh/herald/internal/whatsapp"
)

// benchWebhooksSchema holds the benchmark's copy of webhook_events, so that
// its rows never reach the status applier of a real deployment.
const benchWebhooksSchema = "herald_bench_webhooks"

type benchWebhooksOptions struct {
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	batch       int
	wait        time.Duration
}

// benchWebhooksCmd is `herald bench webhooks`.
func (a *app) benchWebhooksCmd() *cobra.Command {
	var o benchWebhooksOptions
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Measure the webhook receiver: signed status POSTs accepted per second, latency, durability",
		Long: `Starts the webhook receiver on a loopback port against herald's database
and fires signed status notifications at it (one status per POST, as Meta
sends them) from a fixed pool of clients. Every 200 is durable: the run
fails unless the stored rows equal the 200s. The rows go to a scratch copy
of webhook_events in the schema ` + benchWebhooksSchema + `, dropped afterwards.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.duration <= 0 || o.concurrency <= 0 {
				return usageError{errors.New("--duration and --concurrency must be positive")}
			}
			return a.benchWebhooks(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long to measure")
	f.DurationVar(&o.warmup, "warmup", time.Second, "load before measuring (connections, prepared statements)")
	f.IntVar(&o.concurrency, "concurrency", 64, "client goroutines, each with one request in flight")
	f.IntVar(&o.batch, "commit-max-batch", 0, "receiver's CommitMaxBatch (0: default)")
	f.DurationVar(&o.wait, "commit-max-wait", 0, "receiver's CommitMaxWait (0: default, negative: none)")
	return cmd
}

func (a *app) benchWebhooks(ctx context.Context, o benchWebhooksOptions) error {
	pool, err := a.openDB(ctx)
	if err != nil {
		return err
	}
	defer a.closeDB(ctx)
	benchPool, err := openBenchWebhooksPool(ctx, pool)
	if err != nil {
		return err
	}
	defer func() {
		benchPool.Close()
		_, _ = pool.Exec(context.WithoutCancel(ctx), `DROP SCHEMA IF EXISTS `+benchWebhooksSchema+` CASCADE`)
	}()

	secret := whatsapp.Secret(rand.Text())
	srv := httpapi.NewServer(a.logger, benchPool, httpapi.Config{
		AppSecret:      secret,
		VerifyToken:    whatsapp.Secret(rand.Text()),
		CommitMaxBatch: o.batch,
		CommitMaxWait:  o.wait,
	})
	srv.Start(ctx)
	defer srv.Stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	url := "http://" + ln.Addr().String()

	fmt.Fprintf(a.stdout, "webhooks: %d clients, %s warm-up, %s measured, loopback %s\n",
		o.concurrency, o.warmup, o.duration, ln.Addr())
	res := runWebhookLoad(ctx, url+"/webhooks/whatsapp", secret, o)

	// Every handler has answered, so every 200 has committed. Stop the
	// server before counting, so that nothing is in flight.
	m := scrapeWriterMetrics(ctx, url+"/metrics")
	if err := hs.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down receiver: %w", err)
	}
	srv.Stop()
	var rows int64
	if err := benchPool.QueryRow(ctx, `SELECT count(*) FROM webhook_events`).Scan(&rows); err != nil {
		return fmt.Errorf("count stored events: %w", err)
	}

	res.print(a.stdout, o.duration)
	if m.batches > 0 {
		fmt.Fprintf(a.stdout, "group commit: %.0f batches, %.1f events per batch and %s per INSERT on average\n",
			m.batches, m.events/m.batches, time.Duration(m.commitSeconds/m.commits*float64(time.Second)).Round(10*time.Microsecond))
	}
	fmt.Fprintf(a.stdout, "durability: %d rows stored, %d POSTs answered 200 (warm-up included)\n", rows, res.okTotal)
	if rows != res.okTotal {
		return fmt.Errorf("stored rows (%d) differ from 200 answers (%d)", rows, res.okTotal)
	}
	if res.failed > 0 || res.errors > 0 {
		return fmt.Errorf("%d POSTs refused and %d failed", res.failed, res.errors)
	}
	return nil
}

// openBenchWebhooksPool creates the scratch schema with a copy of
// webhook_events (same columns, defaults and indexes) and returns a pool
// whose search_path resolves webhook_events to it.
func openBenchWebhooksPool(ctx context.Context, pool *pgxpool.Pool) (*pgxpool.Pool, error) {
	for _, q := range []string{
		`DROP SCHEMA IF EXISTS ` + benchWebhooksSchema + ` CASCADE`,
		`CREATE SCHEMA ` + benchWebhooksSchema,
		`CREATE TABLE ` + benchWebhooksSchema + `.webhook_events (LIKE webhook_events INCLUDING ALL)`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("prepare scratch schema: %w", err)
		}
	}
	cfg := pool.Config()
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = benchWebhooksSchema
	bp, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open scratch pool: %w", err)
	}
	return bp, nil
}

type webhookLoadResult struct {
	ok, failed, errors int64 // in the measured window
	okTotal            int64 // 200s including the warm-up
	codes              map[int]int64
	latencies          []time.Duration // of the measured 200s
}

// runWebhookLoad keeps o.concurrency requests in flight for the warm-up and
// the measured duration.
func runWebhookLoad(ctx context.Context, url string, secret whatsapp.Secret, o benchWebhooksOptions) *webhookLoadResult {
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        o.concurrency,
		MaxIdleConnsPerHost: o.concurrency,
		MaxConnsPerHost:     o.concurrency,
		DisableCompression:  true,
	}}
	defer client.CloseIdleConnections()
	start := time.Now()
	measureFrom := start.Add(o.warmup)
	end := measureFrom.Add(o.duration)

	var (
		seq   atomic.Int64
		mu    sync.Mutex
		wg    sync.WaitGroup
		total = &webhookLoadResult{codes: map[int]int64{}}
	)
	for range o.concurrency {
		wg.Go(func() {
			r := webhookLoadResult{codes: map[int]int64{}}
			for ctx.Err() == nil {
				began := time.Now()
				if !began.Before(end) {
					break
				}
				measured := !began.Before(measureFrom)
				body := benchStatusBody(seq.Add(1), began)
				code, err := postWebhook(ctx, client, url, body, whatsapp.Sign(body, secret))
				took := time.Since(began)
				if code == http.StatusOK {
					r.okTotal++
				}
				if !measured {
					continue
				}
				switch {
				case err != nil:
					r.errors++
				case code == http.StatusOK:
					r.ok++
					r.latencies = append(r.latencies, took)
				default:
					r.failed++
					r.codes[code]++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			total.ok += r.ok
			total.failed += r.failed
			total.errors += r.errors
			total.okTotal += r.okTotal
			total.latencies = append(total.latencies, r.latencies...)
			for c, n := range r.codes {
				total.codes[c] += n
			}
		})
	}
	wg.Wait()
	slices.Sort(total.latencies)
	return total
}

func postWebhook(ctx context.Context, client *http.Client, url string, body []byte, signature string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(whatsapp.SignatureHeader, signature)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// benchStatusBody is a status notification as Meta posts it: one status of
// one marketing message, with pricing on sent and delivered.
func benchStatusBody(i int64, now time.Time) []byte {
	status := []string{whatsapp.StatusSent, whatsapp.StatusDelivered, whatsapp.StatusRead}[i%3]
	st := whatsapp.Status{
		ID:                    "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI" + strings.ToUpper(strconv.FormatInt(i, 16)),
		Status:                status,
		Timestamp:             strconv.FormatInt(now.Unix(), 10),
		RecipientID:           strconv.FormatInt(16505550000+i%10000, 10),
		BizOpaqueCallbackData: "send:" + strconv.FormatInt(i, 10),
	}
	if status != whatsapp.StatusRead {
		st.Pricing = &whatsapp.Pricing{PricingModel: "PMP", Type: "regular", Category: "marketing"}
	}
	n := whatsapp.NewStatusNotification("102290129340398", whatsapp.Metadata{
		DisplayPhoneNumber: "15550783881",
		PhoneNumberID:      "106540352242922",
	}, []whatsapp.Status{st})
	b, err := json.Marshal(n)
	if err != nil {
		panic(err) // the types above always encode
	}
	return b
}

// writerMetrics are the receiver's group-commit histograms, totals only.
type writerMetrics struct {
	batches, events        float64 // committed batches, events in them
	commits, commitSeconds float64 // INSERTs (failed ones too), time in them
}

// scrapeWriterMetrics reads the group-commit histograms from /metrics; the
// figures are zero when it cannot.
func scrapeWriterMetrics(ctx context.Context, url string) writerMetrics {
	var m writerMetrics
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return m
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	fields := map[string]*float64{
		"herald_webhook_commit_batch_size_count":       &m.batches,
		"herald_webhook_commit_batch_size_sum":         &m.events,
		"herald_webhook_commit_duration_seconds_count": &m.commits,
		"herald_webhook_commit_duration_seconds_sum":   &m.commitSeconds,
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, _ := strings.Cut(sc.Text(), " ")
		if f, ok := fields[name]; ok {
			*f, _ = strconv.ParseFloat(value, 64)
		}
	}
	return m
}

func (r *webhookLoadResult) print(w io.Writer, d time.Duration) {
	fmt.Fprintf(w, "accepted: %d POSTs in %s = %.0f/s; refused %d %v; transport errors %d\n",
		r.ok, d, float64(r.ok)/d.Seconds(), r.failed, r.codes, r.errors)
	if len(r.latencies) == 0 {
		return
	}
	fmt.Fprintf(w, "latency of 200s: p50 %s  p95 %s  p99 %s  max %s\n",
		benchPercentile(r.latencies, 50), benchPercentile(r.latencies, 95), benchPercentile(r.latencies, 99),
		r.latencies[len(r.latencies)-1])
}

// benchPercentile of sorted durations, nearest rank.
func benchPercentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(i, 0)].Round(10 * time.Microsecond)
}
