package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/report"
	"github.com/herald-sh/herald/internal/storetest"
	"github.com/herald-sh/herald/internal/wasim"
)

// TestMain doubles as herald's main when HERALD_TEST_MAIN=1, so tests can
// run herald as a separate process (and kill it) without building it.
func TestMain(m *testing.M) {
	if os.Getenv("HERALD_TEST_MAIN") == "1" {
		main()
		return
	}
	storetest.Main(m)
}

func runHerald(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr)
	return stdout.String(), stderr.String(), code
}

// TestDemoEndToEnd is the thin path: import, templates through the client,
// campaign expansion, River dispatch under the throttle to the simulator,
// signed webhooks back through the receiver, application, report. Twice in
// a row on one database, as `make demo` is run.
func TestDemoEndToEnd(t *testing.T) {
	t.Parallel()
	dsn, pool := storetest.DB(t)
	env := map[string]string{"DATABASE_URL": dsn, "HERALD_LOG_LEVEL": "warn"}
	for run := 1; run <= 2; run++ {
		stdout, stderr, code := runHerald(t, env, "demo", "--json", "--rate", "400")
		require.Equal(t, 0, code, "run %d: %s", run, stderr)
		var rep struct {
			CampaignID   int64            `json:"campaign_id"`
			Audience     int64            `json:"audience"`
			Skipped      map[string]int64 `json:"skipped"`
			Sent         int64            `json:"sent"`
			Delivered    int64            `json:"delivered"`
			Read         int64            `json:"read"`
			Failed       int64            `json:"failed"`
			FailedByCode map[string]int64 `json:"failed_by_code"`
			Replied      *int64           `json:"replied"`
			Clicked      *int64           `json:"clicked"`
			ByButton     map[string]int64 `json:"clicks_by_button"`
			Cost         struct {
				Currency    string   `json:"currency"`
				Total       *float64 `json:"total"`
				TotalMicros int64    `json:"total_micros"`
			} `json:"cost"`
			Conversions int64 `json:"conversions"`
			Revenue     struct {
				TotalMicros int64 `json:"total_micros"`
			} `json:"revenue"`
			ROI *float64 `json:"roi"`
		}
		require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
		var skipped int64
		for _, n := range rep.Skipped {
			skipped += n
		}
		require.Positive(t, rep.Audience)
		require.Equal(t, rep.Audience, rep.Sent+rep.Failed+skipped, "every recipient in exactly one final state: %s\n%s", stdout, stderr)
		require.Positive(t, rep.Skipped["not_opted_in"], "the sample has contacts who did not opt in")
		require.GreaterOrEqual(t, float64(rep.Delivered), 0.9*float64(rep.Sent))
		var byCode int64
		for _, n := range rep.FailedByCode {
			byCode += n
		}
		require.Equal(t, rep.Failed, byCode)
		require.NotNil(t, rep.Replied)
		require.NotNil(t, rep.Clicked)
		var taps int64
		for _, n := range rep.ByButton {
			taps += n
		}
		require.GreaterOrEqual(t, taps, *rep.Clicked, "every clicked send has a tap by some button")
		require.Equal(t, "USD", rep.Cost.Currency)
		require.NotNil(t, rep.Cost.Total)
		require.Positive(t, *rep.Cost.Total)

		// The sample shop's orders, credited to the campaign that reached
		// the buyers, make the report's revenue and ROI.
		var orders, revenue int64
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*), coalesce(sum(value_micros), 0) FROM conversions
			WHERE campaign_id = $1 AND currency = 'USD' AND reference LIKE 'demo-%'`, rep.CampaignID).Scan(&orders, &revenue))
		require.Positive(t, orders)
		require.Equal(t, orders, rep.Conversions)
		require.Equal(t, revenue, rep.Revenue.TotalMicros)
		require.NotNil(t, rep.ROI)
		require.InDelta(t, float64(revenue-rep.Cost.TotalMicros)/float64(rep.Cost.TotalMicros), *rep.ROI, 1e-9)

		v, err := report.Verify(context.Background(), pool, rep.CampaignID)
		require.NoError(t, err)
		require.True(t, v.OK, "rollups equal a recount: %v", v.Mismatches)

		// Nobody was messaged twice: one send per contact and campaign, and
		// the simulator accepted one message per send.
		var dup int
		require.NoError(t, pool.QueryRow(context.Background(),
			`SELECT count(*) FROM (SELECT wamid FROM sends WHERE campaign_id = $1 AND wamid IS NOT NULL GROUP BY wamid HAVING count(*) > 1) d`,
			rep.CampaignID).Scan(&dup))
		require.Zero(t, dup)
	}
}

// TestConversionsROI credits an imported sale to the demo campaign that
// reached the buyer, and the report shows the revenue.
func TestConversionsROI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, pool := storetest.DB(t)
	env := map[string]string{"DATABASE_URL": dsn, "HERALD_LOG_LEVEL": "warn"}
	stdout, stderr, code := runHerald(t, env, "demo", "--json", "--rate", "400")
	require.Equal(t, 0, code, stderr)
	type roi struct {
		CampaignID  int64 `json:"campaign_id"`
		Conversions int64 `json:"conversions"`
		Revenue     struct {
			TotalMicros int64 `json:"total_micros"`
		} `json:"revenue"`
	}
	var rep roi
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	var phone string
	var delivered time.Time
	require.NoError(t, pool.QueryRow(ctx, `SELECT phone, coalesce(delivered_at, read_at) FROM sends
		WHERE campaign_id = $1 AND coalesce(delivered_at, read_at) IS NOT NULL ORDER BY id LIMIT 1`, rep.CampaignID).Scan(&phone, &delivered))
	file := filepath.Join(t.TempDir(), "sales.csv")
	csv := "phone,value,currency,time,reference\n" +
		phone + ",149.90,USD," + delivered.Add(time.Hour).UTC().Format(time.RFC3339) + ",order-1\n" +
		"not a phone,10,USD," + delivered.UTC().Format(time.RFC3339) + ",order-2\n"
	require.NoError(t, os.WriteFile(file, []byte(csv), 0o600))
	stdout, stderr, code = runHerald(t, env, "conversions", "import", file, "--json")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, `"Attributed": 1`)
	require.Contains(t, stdout, `"Refused": 1`)

	stdout, stderr, code = runHerald(t, env, "report", strconv.FormatInt(rep.CampaignID, 10), "--json")
	require.Equal(t, 0, code, stderr)
	var after roi
	require.NoError(t, json.Unmarshal([]byte(stdout), &after), stdout)
	require.Equal(t, rep.Conversions+1, after.Conversions, "the demo's own orders and this sale")
	require.Equal(t, rep.Revenue.TotalMicros+149_900_000, after.Revenue.TotalMicros)
}

func TestConfigErrorsListEveryField(t *testing.T) {
	t.Parallel()
	_, stderr, code := runHerald(t, map[string]string{"HERALD_LOG_LEVEL": "loud", "HERALD_LOG_FORMAT": "xml"}, "migrate")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `log level "loud"`)
	require.Contains(t, stderr, `log format "xml"`)
}

func TestWorkerRefusesAHeadroomOutOfRange(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"0", "-0.01", "0.5"} {
		_, stderr, code := runHerald(t, nil, "worker", "--headroom", h)
		require.Equal(t, 2, code, "--headroom %s: %s", h, stderr)
		require.Contains(t, stderr, "--headroom "+h+": want a share of the rate above 0 and below 0.5")
	}
}

func TestRateCardNeedsBothFiles(t *testing.T) {
	t.Parallel()
	_, stderr, code := runHerald(t, map[string]string{"HERALD_RATE_CARD": "rates.csv"}, "migrate")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "HERALD_RATE_CARD_MARKETS")
}

func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	_, stderr, code := runHerald(t, map[string]string{"WHATSAPP_TOKEN": "tok-SECRET-123", "WHATSAPP_APP_SECRET": "app-SECRET-456",
		"HERALD_LOG_LEVEL": "debug", "DATABASE_URL": "postgres://u:pw-SECRET-789@127.0.0.1:1/none?connect_timeout=1"}, "migrate")
	require.NotEqual(t, 0, code)
	for _, s := range []string{"tok-SECRET-123", "app-SECRET-456", "pw-SECRET-789"} {
		require.NotContains(t, stderr, s)
	}
}

// TestSimulatorOutlastsIdleConnections: the simulator's server keeps a
// connection that herald's client dialed but has not used open for longer
// than the client keeps it, so that the client never picks one the server
// is closing (a send on it would end unknown).
func TestSimulatorOutlastsIdleConnections(t *testing.T) {
	t.Parallel()
	idle := apiHTTPClient(20).Transport.(*http.Transport).IdleConnTimeout
	require.Positive(t, idle)
	require.Greater(t, wasim.HTTPServer("", nil).ReadHeaderTimeout, idle)
}
