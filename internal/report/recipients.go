package report

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald-sh/herald/internal/store"
	"github.com/herald-sh/herald/internal/whatsapp"
)

// Recipient is one person of a campaign's audience: messaged (a send) or
// skipped (an exclusion).
type Recipient struct {
	// SendID is 0 for a skipped recipient.
	SendID    int64
	ContactID int64
	Phone     string
	Name      string
	Country   string
	// Status is the send's status (queued … read, failed, unknown,
	// cancelled), or "skipped".
	Status string
	// ErrorCode is the Cloud API error code of a failed send, 0 otherwise.
	ErrorCode int
	// Error is the error title of a failed send, or the reason a skipped
	// recipient was not messaged (opted_out, invalid ...).
	Error        string
	ErrorDetails string
	// Times of each step; the zero time when it did not happen.
	QueuedAt, AcceptedAt, SentAt, DeliveredAt, ReadAt, FailedAt, RepliedAt, ClickedAt time.Time
}

// RecipientIter yields recipients until it is done or yields an error (then
// it stops). Range over it:
//
//	for rcpt, err := range recipients { … }
type RecipientIter func(yield func(Recipient, error) bool)

// recipientBatch is how many rows each keyset query reads: enough that the
// round trips do not show, few enough that a million-row export holds a
// connection only briefly at a time.
const recipientBatch = 5000

// Both keysets follow the (campaign_id, contact_id) unique key of their
// table, so each batch is one index range scan. The repeated bound on c.id
// is for the planner: without it a merge join walks contacts from the first
// id on every batch (200 ms a batch at a million contacts).
const recipientSendsPage = `
SELECT s.id, s.contact_id, s.phone, c.name, s.country, s.status, coalesce(s.error_code, 0),
       s.error_title, s.error_details, s.queued_at, s.accepted_at, s.sent_at, s.delivered_at,
       s.read_at, s.failed_at, s.replied_at, s.clicked_at
FROM sends s
JOIN contacts c ON c.id = s.contact_id
WHERE s.campaign_id = $1 AND s.contact_id > $2 AND c.id > $2
ORDER BY s.contact_id
LIMIT $3`

const recipientExclusionsPage = `
SELECT e.contact_id, c.phone, c.name, c.country, e.reason, e.detail
FROM campaign_exclusions e
JOIN contacts c ON c.id = e.contact_id
WHERE e.campaign_id = $1 AND e.contact_id > $2 AND c.id > $2
ORDER BY e.contact_id
LIMIT $3`

// Recipients lists a campaign's audience for an export: every send (by
// contact id), then every skipped recipient with its reason. It reads in
// keyset batches, so db may be a pool and the export may take its time.
func Recipients(ctx context.Context, db store.DBTX, campaignID int64) RecipientIter {
	return func(yield func(Recipient, error) bool) {
		for after := int64(0); ; {
			rows, err := db.Query(ctx, recipientSendsPage, campaignID, after, recipientBatch)
			if err != nil {
				yield(Recipient{}, fmt.Errorf("list sends of campaign %d: %w", campaignID, err))
				return
			}
			page, err := pgx.CollectRows(rows, scanSendRecipient)
			if err != nil {
				yield(Recipient{}, fmt.Errorf("list sends of campaign %d: %w", campaignID, err))
				return
			}
			for _, r := range page {
				if !yield(r, nil) {
					return
				}
			}
			if len(page) < recipientBatch {
				break
			}
			after = page[len(page)-1].ContactID
		}
		for after := int64(0); ; {
			rows, err := db.Query(ctx, recipientExclusionsPage, campaignID, after, recipientBatch)
			if err != nil {
				yield(Recipient{}, fmt.Errorf("list exclusions of campaign %d: %w", campaignID, err))
				return
			}
			page, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Recipient, error) {
				r := Recipient{Status: "skipped"}
				err := row.Scan(&r.ContactID, &r.Phone, &r.Name, &r.Country, &r.Error, &r.ErrorDetails)
				return r, err
			})
			if err != nil {
				yield(Recipient{}, fmt.Errorf("list exclusions of campaign %d: %w", campaignID, err))
				return
			}
			for _, r := range page {
				if !yield(r, nil) {
					return
				}
			}
			if len(page) < recipientBatch {
				return
			}
			after = page[len(page)-1].ContactID
		}
	}
}

func scanSendRecipient(row pgx.CollectableRow) (Recipient, error) {
	var r Recipient
	var queued time.Time
	var accepted, sent, delivered, read, failed, replied, clicked *time.Time
	err := row.Scan(&r.SendID, &r.ContactID, &r.Phone, &r.Name, &r.Country, &r.Status, &r.ErrorCode,
		&r.Error, &r.ErrorDetails, &queued, &accepted, &sent, &delivered, &read, &failed, &replied, &clicked)
	if err != nil {
		return r, err
	}
	if r.ErrorCode != 0 && r.Error == "" {
		r.Error = whatsapp.CodeTitle(r.ErrorCode)
	}
	r.QueuedAt = queued.UTC()
	r.AcceptedAt, r.SentAt, r.DeliveredAt, r.ReadAt = utc(accepted), utc(sent), utc(delivered), utc(read)
	r.FailedAt, r.RepliedAt, r.ClickedAt = utc(failed), utc(replied), utc(clicked)
	return r, nil
}

// utc is the time in UTC, or the zero time for NULL.
func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
