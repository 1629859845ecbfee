package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/herald-sh/herald/internal/pricing"
)

// recipientColumns head the per-recipient table of CSV and XLSX exports.
var recipientColumns = []string{"phone", "name", "country", "status", "error_code", "error", "error_details",
	"queued_at", "accepted_at", "sent_at", "delivered_at", "read_at", "failed_at", "replied_at", "clicked_at"}

// Neutralize defuses a spreadsheet formula: text beginning with '=', '+',
// '-', '@', a tab or a carriage return gets a leading single quote, so that
// Excel, LibreOffice and Google Sheets show it instead of evaluating it
// (OWASP "CSV injection"). Phone numbers in E.164 start with '+' and come
// out as '+5511…, which also keeps them from being read as numbers.
func Neutralize(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// WriteCSV writes a campaign as CSV. With recipients it writes the
// per-recipient table (one header row, then one row per recipient: phone,
// name, country, status, error, times in RFC 3339 UTC); with nil recipients
// it writes the report as "metric,value" rows. Text that came from users
// (names, phones, error details) is neutralised against formula injection.
func WriteCSV(w io.Writer, r *CampaignReport, recipients RecipientIter) error {
	cw := csv.NewWriter(w)
	if recipients == nil {
		for _, row := range summaryRows(r) {
			if err := cw.Write(row); err != nil {
				return fmt.Errorf("write csv: %w", err)
			}
		}
		cw.Flush()
		return cw.Error()
	}
	if err := cw.Write(recipientColumns); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	record := make([]string, len(recipientColumns))
	for rcpt, err := range recipients {
		if err != nil {
			return err
		}
		code := ""
		if rcpt.ErrorCode != 0 {
			code = strconv.Itoa(rcpt.ErrorCode)
		}
		record = append(record[:0], Neutralize(rcpt.Phone), Neutralize(rcpt.Name), Neutralize(rcpt.Country),
			rcpt.Status, code, Neutralize(rcpt.Error), Neutralize(rcpt.ErrorDetails))
		for _, t := range rcpt.times() {
			record = append(record, csvTime(t))
		}
		if err := cw.Write(record); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

func (r *Recipient) times() [8]time.Time {
	return [8]time.Time{r.QueuedAt, r.AcceptedAt, r.SentAt, r.DeliveredAt, r.ReadAt, r.FailedAt, r.RepliedAt, r.ClickedAt}
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// summaryRows is the report as metric,value pairs, in reading order.
func summaryRows(r *CampaignReport) [][]string {
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 4, 64) }
	money := func(m int64) string { return pricing.FormatMicros(m, "") }
	rows := [][]string{
		{"metric", "value"},
		{"campaign_id", i(r.CampaignID)},
		{"name", Neutralize(r.Name)},
		{"template", Neutralize(r.Template)},
		{"template_language", Neutralize(r.TemplateLanguage)},
		{"category", Neutralize(r.Category)},
		{"status", r.Status},
		{"audience", i(r.Audience)},
		{"skipped", i(r.SkippedTotal)},
	}
	for _, k := range sortedKeys(r.Skipped) {
		rows = append(rows, []string{"skipped_" + Neutralize(k), i(r.Skipped[k])})
	}
	rows = append(rows,
		[]string{"sent", i(r.Sent)},
		[]string{"delivered", i(r.Delivered)},
		[]string{"read", i(r.Read)},
		[]string{"replied", i(r.Replied)},
		[]string{"clicked", i(r.Clicked)},
		[]string{"failed", i(r.Failed)},
	)
	for _, fc := range r.FailedCodes {
		rows = append(rows, []string{"failed_" + strconv.Itoa(fc.Code), i(fc.Count)})
	}
	rows = append(rows,
		[]string{"unknown", i(r.Unknown)},
		[]string{"cancelled", i(r.Cancelled)},
		[]string{"pending", i(r.Pending)},
		[]string{"delivery_rate", f(r.Rates.Delivery)},
		[]string{"read_rate", f(r.Rates.Read)},
		[]string{"reply_rate", f(r.Rates.Reply)},
		[]string{"click_rate", f(r.Rates.Click)},
		[]string{"currency", r.Cost.Currency},
		[]string{"cost", money(r.Cost.TotalMicros)},
		[]string{"cost_estimated", money(r.Cost.EstimatedMicros)},
		[]string{"conversions", i(r.Conversions)},
		[]string{"revenue", money(r.Revenue.TotalMicros)},
	)
	if r.ROI != nil {
		rows = append(rows, []string{"roi", f(*r.ROI)})
	}
	if r.CostPerConversion != nil {
		rows = append(rows, []string{"cost_per_conversion", money(r.CostPerConversion.TotalMicros)})
	}
	return rows
}
