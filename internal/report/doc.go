// Package report turns what herald recorded about a campaign into numbers
// people read: the funnel (audience, skipped, sent, delivered, read,
// replied, clicked, failed by error code), cost from the rate card,
// conversions and revenue attributed within a window, ROI, a time series,
// comparisons across templates and a breakdown by country; and exports them
// as text, JSON (the types carry snake_case tags), CSV and XLSX.
//
// Counts come from the rollups the campaigns package keeps exact in the same
// transactions as every status change (campaign_rollups, campaign_failures,
// campaign_minutes), so Campaign costs the same for a hundred sends or a
// million. Verify recounts from the raw rows and names every disagreement;
// Countries and the per-recipient exports read the sends themselves.
//
// Definitions (CampaignReport):
//
//	sent      = accepted + sent + delivered + read
//	delivered = delivered + read
//	pending   = queued + in_flight
//	skipped   = exclusions, by reason
//	audience  = sent + failed + unknown + cancelled + pending + skipped
//
// Conversions (RecordConversions) are credited to the last campaign message
// delivered to the same contact at or before the conversion, within an
// attribution window of seven days by default.
//
// Spreadsheet exports neutralise user text that a spreadsheet would run as
// a formula (Neutralize).
package report
