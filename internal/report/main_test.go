package report

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// t0 is when the fixture campaign started.
var t0 = time.Date(2026, 10, 12, 9, 0, 0, 0, time.UTC)

type fixture struct {
	campaignID int64
	templateID int64
	senderID   int64
	contacts   map[string]int64 // phone → contact id
	sends      map[string]int64 // phone → send id
}

// exec runs statements that must succeed.
func exec(t testing.TB, db pgx.Tx, sql string, args ...any) {
	t.Helper()
	_, err := db.Exec(context.Background(), sql, args...)
	require.NoError(t, err, sql)
}

func queryInt(t testing.TB, db pgx.Tx, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, db.QueryRow(context.Background(), sql, args...).Scan(&n), sql)
	return n
}

// newTemplateAndSender inserts a template and a sender number.
func newTemplateAndSender(t testing.TB, tx pgx.Tx, name, category string) (templateID, senderID int64) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, tx.QueryRow(ctx, `INSERT INTO templates (name, language, category, status)
		VALUES ($1, 'en', $2, 'APPROVED') RETURNING id`, name, category).Scan(&templateID))
	require.NoError(t, tx.QueryRow(ctx, `INSERT INTO sender_numbers (phone_number_id, display_phone_number)
		VALUES ($1, '+15550001111') ON CONFLICT (phone_number_id) DO UPDATE SET status = 'active' RETURNING id`,
		"pn-"+name).Scan(&senderID))
	return templateID, senderID
}

func newCampaign(t testing.TB, tx pgx.Tx, templateID, senderID int64, name, status string, audience int64) int64 {
	t.Helper()
	var id int64
	require.NoError(t, tx.QueryRow(context.Background(), `INSERT INTO campaigns
		(name, template_id, sender_id, list_ids, status, audience, created_at, started_at, finished_at)
		VALUES ($1, $2, $3, '{}', $4::text, $5, $6::timestamptz, $6::timestamptz, CASE WHEN $4::text IN ('completed', 'cancelled') THEN $6::timestamptz + interval '1 hour' END)
		RETURNING id`, name, templateID, senderID, status, audience, t0).Scan(&id))
	return id
}

func newContact(t testing.TB, tx pgx.Tx, phone, name, country string) int64 {
	t.Helper()
	var id int64
	require.NoError(t, tx.QueryRow(context.Background(), `INSERT INTO contacts (phone, name, country, consent)
		VALUES ($1, $2, $3, 'opted_in')
		ON CONFLICT (phone) DO UPDATE SET name = excluded.name RETURNING id`, phone, name, country).Scan(&id))
	return id
}

// sendSpec is one send of a fixture: its status and what happened to it,
// in minutes after t0 (0 = never).
type sendSpec struct {
	phone, name, country, status string
	errorCode                    int
	delivered, read              int // minutes after t0
	replied, clicked             bool
	billable                     *bool
}

// newSend inserts a send with timestamps consistent with its status.
func newSend(t testing.TB, tx pgx.Tx, campaignID, contactID int64, s sendSpec) int64 {
	t.Helper()
	at := func(min int) *time.Time {
		if min == 0 {
			return nil
		}
		v := t0.Add(time.Duration(min) * time.Minute)
		return &v
	}
	var errCode *int
	var errTitle string
	var failedAt *time.Time
	if s.status == "failed" {
		errCode, errTitle, failedAt = &s.errorCode, "Error title from Meta", at(1)
	}
	sent := s.status == "accepted" || s.status == "sent" || s.status == "delivered" || s.status == "read"
	var acceptedAt, sentAt, repliedAt, clickedAt *time.Time
	if sent {
		acceptedAt = at(1)
	}
	if s.status == "sent" || s.status == "delivered" || s.status == "read" {
		sentAt = at(1)
	}
	if s.replied {
		repliedAt = at(s.read + 1)
	}
	if s.clicked {
		clickedAt = at(s.read + 2)
	}
	var id int64
	require.NoError(t, tx.QueryRow(context.Background(), `INSERT INTO sends
		(campaign_id, contact_id, phone, country, status, wamid, error_code, error_title, error_details,
		 pricing_category, billable, queued_at, accepted_at, sent_at, delivered_at, read_at, failed_at, replied_at, clicked_at)
		VALUES ($1::bigint, $2, $3, $4, $5, CASE WHEN $6::timestamptz IS NOT NULL THEN 'wamid.' || $1::bigint || '.' || $3 END, $7::int, $8,
		        CASE WHEN $7::int IS NOT NULL THEN 'details of ' || $7 ELSE '' END,
		        CASE WHEN $10::timestamptz IS NOT NULL OR $11::timestamptz IS NOT NULL THEN 'marketing' ELSE '' END,
		        $9, $15, $6::timestamptz, $12, $10::timestamptz, $11::timestamptz, $16, $13, $14)
		RETURNING id`,
		campaignID, contactID, s.phone, s.country, s.status, acceptedAt, errCode, errTitle,
		s.billable, at(s.delivered), at(s.read), sentAt, repliedAt, clickedAt, t0, failedAt).Scan(&id))
	return id
}

// rollupsFromSends fills campaign_rollups (two slots) and campaign_failures
// from the sends the way the campaigns package keeps them, with the cost of
// the billable delivered sends at price micros each.
func rollupsFromSends(t testing.TB, tx pgx.Tx, campaignID, price int64) {
	t.Helper()
	exec(t, tx, `DELETE FROM campaign_rollups WHERE campaign_id = $1`, campaignID)
	exec(t, tx, `DELETE FROM campaign_failures WHERE campaign_id = $1`, campaignID)
	exec(t, tx, `INSERT INTO campaign_rollups (campaign_id, slot, queued, in_flight, accepted, unknown, sent,
		delivered, read, failed, cancelled, replied, clicked, cost_micros)
		SELECT $1, (id % 2)::smallint,
		       count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'in_flight'),
		       count(*) FILTER (WHERE status = 'accepted'), count(*) FILTER (WHERE status = 'unknown'),
		       count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'delivered'),
		       count(*) FILTER (WHERE status = 'read'), count(*) FILTER (WHERE status = 'failed'),
		       count(*) FILTER (WHERE status = 'cancelled'), count(replied_at), count(clicked_at),
		       $2 * count(*) FILTER (WHERE status IN ('delivered', 'read') AND billable IS NOT FALSE)
		FROM sends WHERE campaign_id = $1 GROUP BY id % 2`, campaignID, price)
	exec(t, tx, `INSERT INTO campaign_failures (campaign_id, error_code, count)
		SELECT $1, coalesce(error_code, 0), count(*) FROM sends
		WHERE campaign_id = $1 AND status = 'failed' GROUP BY 2`, campaignID)
}

func ptr[T any](v T) *T { return &v }

// newFixture builds a finished marketing campaign to Brazil with an
// audience of 20:
//
//	accepted 2, sent 2, delivered 3, read 3, failed 3 (131026 ×2, 131049),
//	unknown 2, cancelled 1; skipped: opted_out 2, not_opted_in 1, invalid 1;
//	replied 2, clicked 1; 6 delivered at 0.0625 USD = 0.375 USD.
//
// One recipient's name is a spreadsheet formula.
func newFixture(t testing.TB, tx pgx.Tx) fixture {
	t.Helper()
	f := fixture{contacts: map[string]int64{}, sends: map[string]int64{}}
	f.templateID, f.senderID = newTemplateAndSender(t, tx, "spring_sale", "marketing")
	f.campaignID = newCampaign(t, tx, f.templateID, f.senderID, "Spring sale", "completed", 20)
	specs := []sendSpec{
		{phone: "+5511900000001", name: "Ana", status: "accepted"},
		{phone: "+5511900000002", name: "Bruno", status: "accepted"},
		{phone: "+5511900000003", name: "Carla", status: "sent"},
		{phone: "+5511900000004", name: "Davi", status: "sent"},
		{phone: "+5511900000005", name: "=HYPERLINK(\"http://evil\",\"x\")", status: "delivered", delivered: 2},
		{phone: "+5511900000006", name: "@SUM(A1)", status: "delivered", delivered: 2},
		{phone: "+5511900000007", name: "-2+3", status: "delivered", delivered: 3},
		{phone: "+5511900000008", name: "Helena", status: "read", delivered: 2, read: 5, replied: true, clicked: true},
		{phone: "+5511900000009", name: "Igor", status: "read", delivered: 2, read: 6, replied: true},
		{phone: "+5511900000010", name: "\tJoana", status: "read", delivered: 3, read: 7},
		{phone: "+5511900000011", name: "Karla", status: "failed", errorCode: 131026},
		{phone: "+5511900000012", name: "Lucas", status: "failed", errorCode: 131026},
		{phone: "+5511900000013", name: "Marta", status: "failed", errorCode: 131049},
		{phone: "+5511900000014", name: "Nuno", status: "unknown"},
		{phone: "+5511900000015", name: "Olga", status: "unknown"},
		{phone: "+5511900000016", name: "Paulo", status: "cancelled"},
	}
	for _, s := range specs {
		s.country = "BR"
		id := newContact(t, tx, s.phone, s.name, s.country)
		f.contacts[s.phone] = id
		f.sends[s.phone] = newSend(t, tx, f.campaignID, id, s)
	}
	for i, reason := range []string{"opted_out", "opted_out", "not_opted_in", "invalid"} {
		phone := fmt.Sprintf("+55119000000%02d", 17+i)
		id := newContact(t, tx, phone, "Skipped "+reason, "BR")
		f.contacts[phone] = id
		exec(t, tx, `INSERT INTO campaign_exclusions (campaign_id, contact_id, reason, detail) VALUES ($1, $2, $3, $4)`,
			f.campaignID, id, reason, "+detail")
	}
	rollupsFromSends(t, tx, f.campaignID, 62_500)
	for _, m := range []struct {
		min   int
		event string
		n     int64
	}{{1, "sent", 10}, {1, "failed", 3}, {2, "delivered", 4}, {3, "delivered", 2}, {5, "read", 1}, {6, "read", 1},
		{6, "replied", 1}, {7, "read", 1}, {7, "clicked", 1}, {7, "replied", 1}} {
		exec(t, tx, `INSERT INTO campaign_minutes (campaign_id, minute, event, count) VALUES ($1, $2, $3, $4)`,
			f.campaignID, t0.Add(time.Duration(m.min)*time.Minute), m.event, m.n)
	}
	return f
}

// copyRows is a pgx.CopyFromSource of literal rows.
func copyRows(rows ...[]any) pgx.CopyFromSource { return pgx.CopyFromRows(rows) }
