package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// deliver marks a campaign's send to phone delivered an hour ago, as the
// webhook applier would, so that conversions have a message to credit.
func (b *apiBundle) deliver(t *testing.T, campaignID int64, phone string) {
	t.Helper()
	tag, err := b.pool.Exec(context.Background(), `
		UPDATE sends s SET status = 'delivered', delivered_at = now() - interval '1 hour'
		FROM contacts c WHERE c.id = s.contact_id AND s.campaign_id = $1 AND c.phone = $2`, campaignID, phone)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())
}

func TestAPIConversions(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	id := b.startedCampaign(t)
	b.deliver(t, id, "+5511987654301")

	t.Run("Record", func(t *testing.T) {
		body := `[
			{"phone": "+55 11 98765-4301", "value": 49.90, "currency": "brl", "occurred_at": "` + recent() + `", "reference": "order-1"},
			{"phone": "11987654302", "value": "10", "currency": "BRL", "occurred_at": "` + recent() + `", "reference": "order-2"},
			{"phone": "+5511987654399", "value": 5, "currency": "BRL", "occurred_at": "` + recent() + `"}
		]`
		got := decode[recordResult](t, b.postJSON(t, "/api/v1/conversions?default_country=BR", body), http.StatusOK)
		require.Equal(t, recordResult{Recorded: 3, Attributed: 1}, got, "only Ana's message was delivered")

		again := decode[recordResult](t, b.postJSON(t, "/api/v1/conversions?default_country=BR", body), http.StatusOK)
		require.Equal(t, recordResult{Recorded: 1, Duplicates: 2}, again, "references are recorded once; the one without is new")

		var revenue int64
		require.NoError(t, b.pool.QueryRow(context.Background(),
			`SELECT coalesce(sum(value_micros), 0) FROM conversions WHERE campaign_id = $1`, id).Scan(&revenue))
		require.EqualValues(t, 49_900_000, revenue, "49.90 read exactly")

		rep := decode[map[string]any](t, b.get(fmt.Sprintf("/api/v1/campaigns/%d/report", id)), http.StatusOK)
		require.EqualValues(t, 1, rep["conversions"])
	})

	t.Run("Invalid", func(t *testing.T) {
		body := `[
			{"phone": "+5511987654301", "value": 1, "currency": "BRL", "occurred_at": "` + recent() + `"},
			{"phone": "12", "value": "1,50", "currency": "reais", "occurred_at": "yesterday"}
		]`
		e := requireFields(t, b.postJSON(t, "/api/v1/conversions", body), http.StatusUnprocessableEntity,
			"[1].phone", "[1].value", "[1].currency", "[1].occurred_at")
		require.Contains(t, e.Fields["[1].currency"], "ISO 4217")
		requireFields(t, b.postJSON(t, "/api/v1/conversions", `[{"phone":"+5511987654301","amount":1}]`), http.StatusUnprocessableEntity, "amount")
		requireFields(t, b.postJSON(t, "/api/v1/conversions", `{"phone":"+5511987654301"}`), http.StatusUnprocessableEntity, "body")
		requireFields(t, b.postJSON(t, "/api/v1/conversions?default_country=Brazil", `[]`), http.StatusUnprocessableEntity, "default_country")

		var n int
		require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM conversions WHERE reference IS NULL AND value_micros = 1000000`).Scan(&n))
		require.Zero(t, n, "one bad item records nothing")
	})

	t.Run("Import", func(t *testing.T) {
		file := "phone,amount,currency,date,order_id\n" +
			"+5511987654301,120.00,BRL," + recent() + ",order-10\n" +
			"11987654302,30,BRL," + recent() + ",order-11\n" +
			"not a phone,1,BRL," + recent() + ",order-12\n"
		got := decode[conversionImportResult](t, b.upload(t, "/api/v1/conversions/import", "shop.csv", []byte(file),
			[2]string{"default_country", "BR"}), http.StatusOK)
		require.EqualValues(t, 3, got.Rows)
		require.EqualValues(t, 2, got.Recorded)
		require.EqualValues(t, 1, got.Attributed)
		require.EqualValues(t, 1, got.Refused)
		require.Equal(t, []conversionError{{Line: 4, Column: "phone", Reason: got.Errors[0].Reason}}, got.Errors)

		e := requireFields(t, b.upload(t, "/api/v1/conversions/import", "shop.csv", []byte("name,total\nAna,1\n")),
			http.StatusUnprocessableEntity, "file")
		require.Contains(t, e.Fields["file"], "no phone column")
		requireFields(t, b.upload(t, "/api/v1/conversions/import", "shop.csv", []byte(file), [2]string{"window", "a week"}),
			http.StatusUnprocessableEntity, "window")
		requireFields(t, b.upload(t, "/api/v1/conversions/import", "", nil), http.StatusUnprocessableEntity, "file")
	})
}

// recent is a time after the test's deliveries, in RFC 3339.
func recent() string { return time.Now().UTC().Format("2006-01-02T15:04:05Z") }
