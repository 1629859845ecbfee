package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/herald-sh/herald/campaigns"
	"github.com/herald-sh/herald/internal/report"
	"github.com/herald-sh/herald/internal/store"
	"github.com/herald-sh/herald/internal/wasim"
	"github.com/herald-sh/herald/internal/whatsapp"
)

//go:embed demodata/contacts.csv
var demoContacts []byte

// Demo identities: a simulated WABA and business number.
const (
	demoWABA          = "100000000000009"
	demoPhoneNumberID = "100000000000001"
	demoDisplayPhone  = "15550001111"
	demoList          = "demo"
)

// demoTemplates are the approved templates the demo's simulator knows.
var demoTemplates = []wasim.TemplateDef{
	{Name: "spring_sale", Language: "pt_BR", Category: wasim.CategoryMarketing, BodyParams: 1,
		Buttons: []wasim.ButtonDef{{SubType: wasim.ButtonQuickReply, Text: "Quero ver"}, {SubType: wasim.ButtonQuickReply, Text: "Stop promotions"}}},
	{Name: "appointment_reminder", Language: "en_US", Category: wasim.CategoryUtility, ParamNames: []string{"first_name", "when"}},
}

func (a *app) demoCmd() *cobra.Command {
	var (
		asJSON  bool
		rate    int
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Import a sample list, run a campaign against the built-in simulator and print the report",
		Long: `demo runs herald's whole path in one process: it imports a bundled list of
about 1,000 contacts (some not opted in, a few invalid numbers), registers the
simulator's templates through the Cloud API client, sends a campaign through
River jobs under the sender's rate limit to an in-process Cloud API simulator,
receives its signed status webhooks and replies and, once every send is final
and every webhook applied, records a sample shop's orders from the contacts
the campaign reached (as herald conversions import would), then prints the
report: delivery, engagement, cost, revenue and ROI.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			pool, err := a.openDB(ctx)
			if err != nil {
				return err
			}
			defer a.closeDB(ctx)
			rep, err := a.runDemo(ctx, pool, rate, timeout)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return report.WriteText(a.stdout, rep)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().IntVar(&rate, "rate", 80, "the sender's messages per second (the simulator caps at the same rate)")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up if the campaign is not final by then")
	return cmd
}

func (a *app) runDemo(ctx context.Context, pool *pgxpool.Pool, rate int, timeout time.Duration) (*report.CampaignReport, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// Fresh secrets per run: the simulator signs with the app secret and
	// herald's receiver checks it, exactly as with Meta.
	a.cfg.AppSecret = whatsapp.Secret(randomHex(16))
	a.cfg.VerifyToken = whatsapp.Secret(randomHex(8))
	token := whatsapp.Secret(randomHex(16))

	hookLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for webhooks: %w", err)
	}
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the simulator: %w", err)
	}
	seed := time.Now().UnixNano()
	sim := wasim.New(wasim.Config{
		Templates:          demoTemplates,
		Token:              token,
		Rate:               rate,
		Failures:           wasim.DefaultFailureMix(),
		WebhookURL:         "http://" + hookLn.Addr().String() + "/webhooks/whatsapp",
		AppSecret:          a.cfg.AppSecret,
		WABAID:             demoWABA,
		DisplayPhoneNumber: demoDisplayPhone,
		Seed:               seed,
	}, a.logger)
	simSrv := wasim.HTTPServer("", sim)
	go simSrv.Serve(simLn) //nolint:errcheck // ends with Shutdown below
	sim.Start(ctx)
	defer func() {
		sim.Close()
		_ = simSrv.Shutdown(context.WithoutCancel(ctx))
	}()
	client := whatsapp.NewClient(whatsapp.Config{BaseURL: "http://" + simLn.Addr().String(), APIVersion: a.cfg.APIVersion, Token: token})

	// Templates come from the (simulated) WABA through the real client.
	infos, err := client.ListTemplates(ctx, demoWABA)
	if err != nil {
		return nil, fmt.Errorf("sync templates: %w", err)
	}
	for _, info := range infos {
		if _, err := campaigns.TemplateUpsert(ctx, pool, info); err != nil {
			return nil, err
		}
	}
	if _, err := campaigns.SenderUpsert(ctx, pool, campaigns.Sender{PhoneNumberID: demoPhoneNumberID, DisplayPhone: demoDisplayPhone,
		WABAID: demoWABA, RatePerSecond: rate}); err != nil {
		return nil, err
	}
	sum, err := a.importDemoList(ctx, pool)
	if err != nil {
		return nil, err
	}
	a.logger.Info("imported sample list", slog.String("list", demoList), slog.Int("rows", sum.Rows),
		slog.Int("imported", sum.Imported), slog.Int("invalid", sum.Invalid), slog.Int("not_opted_in", sum.NotOptedIn))

	eng, err := a.newEngine(pool, engineOptions{API: client, Work: true, Listener: hookLn, UnknownAfter: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	if err := eng.start(ctx); err != nil {
		return nil, err
	}
	defer eng.stop(ctx)

	camp, err := eng.service.Create(ctx, campaigns.NewCampaign{
		Name:          "demo spring sale " + time.Now().UTC().Format(time.DateTime),
		Template:      "spring_sale",
		Language:      "pt_BR",
		PhoneNumberID: demoPhoneNumberID,
		Lists:         []string{demoList},
		Bindings:      []campaigns.Binding{{Component: "body", Param: "1", Field: "name"}},
		Priority:      2,
	})
	if err != nil {
		return nil, err
	}
	exp, err := eng.service.Start(ctx, camp.ID)
	if err != nil {
		return nil, err
	}
	a.logger.Info("campaign started", slog.Int64("campaign_id", camp.ID), slog.Int64("audience", exp.Audience),
		slog.Int64("sends", exp.Sends), slog.Int("jobs", exp.Jobs))

	if err := waitCampaignFinal(ctx, eng.service, camp.ID); err != nil {
		return nil, err
	}
	// Every webhook the simulator will ever send is out and answered, and
	// everything stored has been applied.
	if err := sim.Drain(ctx); err != nil {
		return nil, fmt.Errorf("drain simulator webhooks: %w", err)
	}
	select {
	case <-eng.applier.Idle():
	case <-ctx.Done():
		return nil, fmt.Errorf("apply webhooks: %w", ctx.Err())
	}
	orders, err := recordDemoOrders(ctx, pool, camp.ID, seed)
	if err != nil {
		return nil, fmt.Errorf("record the sample shop's orders: %w", err)
	}
	a.logger.Info("recorded the sample shop's orders", slog.Int64("orders", orders.Rows), slog.Int64("attributed", orders.Attributed))
	return report.Campaign(ctx, pool, camp.ID, report.Options{})
}

// demoPrices are the sample shop's products, in USD.
var demoPrices = [...]string{"19.90", "29.90", "49.90", "89.90", "149.00"}

// recordDemoOrders stands in for the shop's order export: a quarter of the
// contacts who tapped "Quero ver" buy, and one in a hundred of those who
// only read the message, each some time between reading it and now. The
// orders go through the same import as `herald conversions import`, which
// credits each to the campaign that reached the buyer, so that the report
// shows revenue and ROI.
func recordDemoOrders(ctx context.Context, pool *pgxpool.Pool, campaignID, seed int64) (*report.ImportResult, error) {
	rows, err := pool.Query(ctx, `
SELECT s.phone, coalesce(s.clicked_at, s.read_at), s.clicked_at IS NOT NULL
FROM sends s
WHERE s.campaign_id = $1 AND (s.clicked_at IS NOT NULL OR s.read_at IS NOT NULL)
  AND NOT EXISTS (SELECT 1 FROM inbound_messages i WHERE i.send_id = s.id AND i.type IN ('button', 'interactive')
                  AND lower(coalesce(nullif(i.text, ''), i.button)) LIKE 'stop%')
ORDER BY s.id`, campaignID)
	if err != nil {
		return nil, err
	}
	type reader struct {
		phone   string
		at      time.Time
		clicked bool
	}
	readers, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (reader, error) {
		var x reader
		return x, r.Scan(&x.phone, &x.at, &x.clicked)
	})
	if err != nil {
		return nil, err
	}
	rnd := mathrand.New(mathrand.NewPCG(uint64(seed), 0x5ca1ab1e))
	var b strings.Builder
	b.WriteString("phone,value,currency,time,order_id\n")
	n := 0
	for _, r := range readers {
		if buys := r.clicked && rnd.IntN(4) == 0 || rnd.IntN(100) == 0; !buys {
			continue
		}
		n++
		at := r.at.Add(time.Duration(rnd.Int64N(int64(max(time.Since(r.at), 1)))))
		fmt.Fprintf(&b, "%s,%s,USD,%s,demo-%d-%d\n", r.phone, demoPrices[rnd.IntN(len(demoPrices))],
			at.UTC().Format(time.RFC3339), campaignID, n)
	}
	var res *report.ImportResult
	err = store.WithTx(ctx, pool, func(tx pgx.Tx) error {
		res, err = report.ImportConversions(ctx, tx, strings.NewReader(b.String()), "demo-orders.csv", "", report.DefaultAttributionWindow)
		return err
	})
	return res, err
}

// waitCampaignFinal polls the campaign until it completes (every send final).
func waitCampaignFinal(ctx context.Context, svc *campaigns.Service, id int64) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := svc.Get(ctx, id)
		if err != nil {
			return err
		}
		switch c.Status {
		case "completed":
			return nil
		case "paused", "cancelled":
			return fmt.Errorf("campaign %d is %s: %s", id, c.Status, c.StatusReason)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("campaign %d not final: %w", id, errors.Join(ctx.Err()))
		case <-tick.C:
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
