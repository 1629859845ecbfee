package report

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/herald-sh/herald/internal/store"
)

// DefaultAttributionWindow is how long after its delivery a campaign message
// earns the conversions of its recipient.
const DefaultAttributionWindow = 7 * 24 * time.Hour

var currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)

// Conversion is one purchase, sign-up or other outcome the business wants to
// credit to campaigns.
type Conversion struct {
	// ContactID names the contact; 0 finds it by Phone.
	ContactID int64
	// Phone is the E.164 number ("+5511987654321"); it may be empty when
	// ContactID is set.
	Phone string
	// ValueMicros is the value in micro-units of Currency.
	ValueMicros int64
	// Currency is an ISO 4217 code ("BRL").
	Currency   string
	OccurredAt time.Time
	// Reference is the business's own id (order number). Recording a
	// reference a second time does nothing, so an import can be repeated.
	Reference string
	// Source says where the conversion came from ("shop.csv", "api").
	Source string
}

// RecordResult counts what RecordConversions did.
type RecordResult struct {
	// Recorded conversions are new rows; Duplicates had a Reference
	// already recorded (or twice in the input) and were left alone.
	Recorded, Duplicates int64
	// Attributed is how many of the recorded ones credit a campaign.
	Attributed int64
}

// Attribution (both statements below): the conversion goes to the send to
// the same contact delivered last at or before the conversion, and no
// earlier than window before it (both ends included). A read send counts
// as delivered even if its delivered status never arrived. Ties go to the
// newer send. sends_contact_idx keeps the lateral lookup to a contact's few
// sends.
const conversionsInsert = `
WITH input AS (
    SELECT i.*, coalesce(
               (SELECT c.id FROM contacts c WHERE c.id = i.contact_id),
               (SELECT c.id FROM contacts c WHERE i.contact_id = 0 AND c.phone = i.phone)) AS cid
    FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::timestamptz[], $6::text[], $7::text[])
         AS i(contact_id, phone, value_micros, currency, occurred_at, reference, source)
), ins AS (
    INSERT INTO conversions (contact_id, phone, value_micros, currency, occurred_at, reference, source, send_id, campaign_id)
    SELECT i.cid, coalesce(nullif(i.phone, ''), (SELECT c.phone FROM contacts c WHERE c.id = i.cid), ''),
           i.value_micros, i.currency, i.occurred_at, nullif(i.reference, ''), i.source, s.id, s.campaign_id
    FROM input i
    LEFT JOIN LATERAL (
        SELECT s.id, s.campaign_id
        FROM sends s
        WHERE s.contact_id = i.cid
          AND coalesce(s.delivered_at, s.read_at) <= i.occurred_at
          AND coalesce(s.delivered_at, s.read_at) >= i.occurred_at - $8::bigint * interval '1 microsecond'
        ORDER BY coalesce(s.delivered_at, s.read_at) DESC, s.id DESC
        LIMIT 1
    ) s ON true
    ON CONFLICT (reference) DO NOTHING
    RETURNING send_id
)
SELECT count(*), count(send_id) FROM ins`

const conversionsAttribute = `
WITH attributed AS (
    UPDATE conversions cv
    SET send_id = s.id, campaign_id = s.campaign_id
    FROM conversions c2
    CROSS JOIN LATERAL (
        SELECT s.id, s.campaign_id
        FROM sends s
        WHERE s.contact_id = c2.contact_id
          AND coalesce(s.delivered_at, s.read_at) <= c2.occurred_at
          AND coalesce(s.delivered_at, s.read_at) >= c2.occurred_at - $1::bigint * interval '1 microsecond'
        ORDER BY coalesce(s.delivered_at, s.read_at) DESC, s.id DESC
        LIMIT 1
    ) s
    WHERE cv.id = c2.id AND c2.send_id IS NULL AND c2.contact_id IS NOT NULL AND c2.occurred_at >= $2
    RETURNING 1
)
SELECT count(*) FROM attributed`

// RecordConversions stores conversions and attributes each to the last
// campaign message delivered to its contact at or before the conversion and
// within window (0 means DefaultAttributionWindow). It is one statement
// whatever the number of conversions. A phone that matches no contact is
// recorded unattributed; a ContactID that matches none is too.
func RecordConversions(ctx context.Context, db store.DBTX, conversions []Conversion, window time.Duration) (RecordResult, error) {
	if window <= 0 {
		window = DefaultAttributionWindow
	}
	n := len(conversions)
	var (
		contactIDs = make([]int64, n)
		phones     = make([]string, n)
		values     = make([]int64, n)
		currencies = make([]string, n)
		times      = make([]time.Time, n)
		references = make([]string, n)
		sources    = make([]string, n)
	)
	for i, c := range conversions {
		currency := strings.ToUpper(strings.TrimSpace(c.Currency))
		switch {
		case c.ContactID == 0 && c.Phone == "":
			return RecordResult{}, fmt.Errorf("conversion %d: neither contact nor phone", i)
		case !currencyRe.MatchString(currency):
			return RecordResult{}, fmt.Errorf("conversion %d: currency %q is not an ISO 4217 code", i, c.Currency)
		case c.OccurredAt.IsZero():
			return RecordResult{}, fmt.Errorf("conversion %d: no time", i)
		}
		contactIDs[i], phones[i], values[i], currencies[i] = c.ContactID, c.Phone, c.ValueMicros, currency
		times[i], references[i], sources[i] = c.OccurredAt, strings.TrimSpace(c.Reference), c.Source
	}
	var res RecordResult
	if n == 0 {
		return res, nil
	}
	err := db.QueryRow(ctx, conversionsInsert, contactIDs, phones, values, currencies, times, references, sources,
		window.Microseconds()).Scan(&res.Recorded, &res.Attributed)
	if err != nil {
		return RecordResult{}, fmt.Errorf("record %d conversions: %w", n, store.InterpretError(err))
	}
	res.Duplicates = int64(n) - res.Recorded
	return res, nil
}

// AttributeConversions attributes the conversions recorded unattributed
// that occurred at or after since, with the same rule as RecordConversions.
// Run it after late delivery statuses: a conversion recorded before the
// webhook that says its message was delivered finds that message now. It
// returns how many conversions it attributed.
func AttributeConversions(ctx context.Context, db store.DBTX, since time.Time, window time.Duration) (int64, error) {
	if window <= 0 {
		window = DefaultAttributionWindow
	}
	var n int64
	if err := db.QueryRow(ctx, conversionsAttribute, window.Microseconds(), since).Scan(&n); err != nil {
		return 0, fmt.Errorf("attribute conversions since %s: %w", since.Format(time.RFC3339), err)
	}
	return n, nil
}
