package report

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/herald-sh/herald/internal/pricing"
)

// WriteText writes a report as aligned tables for a terminal: the funnel with
// its rates, skipped recipients by reason, failures by code with titles,
// cost, and conversions.
func WriteText(w io.Writer, r *CampaignReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }

	// The heading stands outside the table so that a long campaign name
	// does not widen its columns.
	fmt.Fprintf(w, "Campaign %d: %s\n", r.CampaignID, printable(r.Name))
	fmt.Fprintf(w, "Template %s (%s, %s), %s\n\n", printable(r.Template), printable(r.TemplateLanguage), printable(r.Category), printable(r.Status))
	p("Funnel\tcount\trate\t\n")
	p("audience\t%d\t\t\n", r.Audience)
	p("skipped\t%d\t%s of audience\t\n", r.SkippedTotal, percent(ratio(r.SkippedTotal, r.Audience)))
	p("sent\t%d\t%s of audience\t\n", r.Sent, percent(ratio(r.Sent, r.Audience)))
	p("delivered\t%d\t%s of sent\t\n", r.Delivered, percent(r.Rates.Delivery))
	p("read\t%d\t%s of delivered\t\n", r.Read, percent(r.Rates.Read))
	p("replied\t%d\t%s of delivered\t\n", r.Replied, percent(r.Rates.Reply))
	p("clicked\t%d\t%s of delivered\t\n", r.Clicked, percent(r.Rates.Click))
	p("failed\t%d\t%s of attempted\t\n", r.Failed, percent(r.Rates.Failure))
	p("unknown\t%d\t\t\n", r.Unknown)
	p("cancelled\t%d\t\t\n", r.Cancelled)
	p("pending\t%d\t\t\n", r.Pending)
	if r.Unaccounted != 0 {
		p("unaccounted\t%d\t(run verify)\t\n", r.Unaccounted)
	}

	if len(r.Skipped) > 0 {
		p("\t\t\n")
		p("Skipped by reason\tcount\t\n")
		reasons := make([]string, 0, len(r.Skipped))
		for k := range r.Skipped {
			reasons = append(reasons, k)
		}
		sort.Slice(reasons, func(i, j int) bool {
			if r.Skipped[reasons[i]] != r.Skipped[reasons[j]] {
				return r.Skipped[reasons[i]] > r.Skipped[reasons[j]]
			}
			return reasons[i] < reasons[j]
		})
		for _, k := range reasons {
			p("%s\t%d\t\n", printable(k), r.Skipped[k])
		}
	}

	if len(r.FailedCodes) > 0 {
		p("\t\t\n")
		p("Failures by code\tcount\ttitle\t\n")
		for _, fc := range r.FailedCodes {
			p("%d\t%d\t%s\t\n", fc.Code, fc.Count, printable(fc.Title))
		}
	}

	p("\t\t\n")
	p("Cost\t%s\t\n", pricing.FormatMicros(r.Cost.TotalMicros, r.Cost.Currency))
	if r.Cost.EstimatedMicros != r.Cost.TotalMicros {
		p("estimated\t%s\t\n", pricing.FormatMicros(r.Cost.EstimatedMicros, r.Cost.Currency))
	}
	p("conversions\t%d\t\n", r.Conversions)
	p("revenue\t%s\t\n", r.Revenue)
	for _, cur := range sortedKeys(r.OtherRevenue) {
		p("revenue in %s\t%s\t(not in ROI)\t\n", printable(cur), pricing.FormatMicros(r.OtherRevenue[cur], ""))
	}
	if r.ROI != nil {
		p("ROI\t%s\t\n", percent(*r.ROI))
	}
	if r.CostPerConversion != nil {
		p("cost per conversion\t%s\t\n", r.CostPerConversion)
	}
	return tw.Flush()
}

func percent(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// printable replaces control characters (terminal escapes, tabs that would
// break the table) in user-supplied text.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}
