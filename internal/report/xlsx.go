package report

import (
	"fmt"
	"io"
	"time"

	"github.com/xuri/excelize/v2"
)

const (
	summarySheet    = "Summary"
	recipientsSheet = "Recipients"
)

// WriteXLSX writes a campaign as an Excel workbook: a "Summary" sheet (the
// report's tables and a bar chart of the funnel) and, when recipients is not
// nil, a "Recipients" sheet with one row per recipient (continued in
// "Recipients 2" … past Excel's limit of 1,048,576 rows a sheet). The recipients are
// streamed (excelize StreamWriter), so memory does not grow with the
// audience; excelize spills to a temporary file past 16 MB. Text that came
// from users is neutralised against formula injection as in WriteCSV.
func WriteXLSX(w io.Writer, r *CampaignReport, recipients RecipientIter) (err error) {
	f := excelize.NewFile()
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close workbook: %w", cerr)
		}
	}()
	if err := f.SetSheetName("Sheet1", summarySheet); err != nil {
		return fmt.Errorf("name summary sheet: %w", err)
	}
	if err := writeSummarySheet(f, r); err != nil {
		return fmt.Errorf("write summary sheet: %w", err)
	}
	if recipients != nil {
		if err := writeRecipientsSheet(f, recipients, excelize.TotalRows); err != nil {
			return fmt.Errorf("write recipients: %w", err)
		}
	}
	if err := f.Write(w); err != nil {
		return fmt.Errorf("write workbook: %w", err)
	}
	return nil
}

// funnelFirstRow is the first data row of the funnel table, which the chart
// reads (rows funnelFirstRow to funnelFirstRow+5).
const funnelFirstRow = 8

func writeSummarySheet(f *excelize.File, r *CampaignReport) error {
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	pct, err := f.NewStyle(&excelize.Style{NumFmt: 10}) // 0.00%
	if err != nil {
		return err
	}
	s := &sheetWriter{f: f, sheet: summarySheet, bold: bold}
	s.row("Campaign", Neutralize(r.Name))
	s.row("Campaign id", r.CampaignID)
	s.row("Template", Neutralize(fmt.Sprintf("%s (%s, %s)", r.Template, r.TemplateLanguage, r.Category)))
	s.row("Status", r.Status)
	s.row("Currency", r.Cost.Currency)
	s.next++
	s.header("Funnel", "Count", "Rate")
	if s.next+1 != funnelFirstRow {
		return fmt.Errorf("funnel table starts at row %d, want %d", s.next+1, funnelFirstRow)
	}
	s.row("Audience", r.Audience)
	s.rateRow("Sent", r.Sent, ratio(r.Sent, r.Audience), pct)
	s.rateRow("Delivered", r.Delivered, r.Rates.Delivery, pct)
	s.rateRow("Read", r.Read, r.Rates.Read, pct)
	s.rateRow("Replied", r.Replied, r.Rates.Reply, pct)
	s.rateRow("Clicked", r.Clicked, r.Rates.Click, pct)
	s.next++
	s.header("Outcome", "Count")
	s.row("Skipped", r.SkippedTotal)
	s.rateRow("Failed", r.Failed, r.Rates.Failure, pct)
	s.row("Unknown", r.Unknown)
	s.row("Cancelled", r.Cancelled)
	s.row("Pending", r.Pending)
	if len(r.Skipped) > 0 {
		s.next++
		s.header("Skipped by reason", "Count")
		for _, k := range sortedKeys(r.Skipped) {
			s.row(Neutralize(k), r.Skipped[k])
		}
	}
	if len(r.FailedCodes) > 0 {
		s.next++
		s.header("Failure code", "Count", "Title")
		for _, fc := range r.FailedCodes {
			s.row(fc.Code, fc.Count, Neutralize(fc.Title))
		}
	}
	s.next++
	s.header("Money", "Amount")
	s.row("Cost", r.Cost.Total)
	s.row("Cost estimated", float64(r.Cost.EstimatedMicros)/1e6)
	s.row("Conversions", r.Conversions)
	s.row("Revenue", r.Revenue.Total)
	if r.ROI != nil {
		s.rateRow("ROI", nil, *r.ROI, pct)
	}
	if r.CostPerConversion != nil {
		s.row("Cost per conversion", r.CostPerConversion.Total)
	}
	if s.err != nil {
		return s.err
	}
	if err := f.SetColWidth(summarySheet, "A", "A", 22); err != nil {
		return err
	}
	if err := f.SetColWidth(summarySheet, "B", "C", 14); err != nil {
		return err
	}

	last := funnelFirstRow + 5
	return f.AddChart(summarySheet, "E2", &excelize.Chart{
		Type: excelize.Bar,
		Series: []excelize.ChartSeries{{
			Name:       fmt.Sprintf("%s!$B$%d", summarySheet, funnelFirstRow-1),
			Categories: fmt.Sprintf("%s!$A$%d:$A$%d", summarySheet, funnelFirstRow, last),
			Values:     fmt.Sprintf("%s!$B$%d:$B$%d", summarySheet, funnelFirstRow, last),
		}},
		Title:  excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: "Funnel"}}},
		Legend: excelize.ChartLegend{Position: "none"},
		// Audience at the top, as a funnel reads: in a bar chart the
		// categories run up the vertical (X) axis.
		XAxis:     excelize.ChartAxis{ReverseOrder: true},
		PlotArea:  excelize.ChartPlotArea{ShowVal: true},
		Dimension: excelize.ChartDimension{Width: 560, Height: 320},
	})
}

// sheetWriter appends rows to a small sheet, keeping the first error.
type sheetWriter struct {
	f     *excelize.File
	sheet string
	bold  int
	next  int // 0 means row 1
	err   error
}

func (s *sheetWriter) cell(col int) string {
	name, _ := excelize.CoordinatesToCellName(col, s.next+1)
	return name
}

func (s *sheetWriter) row(values ...any) {
	if s.err != nil {
		return
	}
	s.err = s.f.SetSheetRow(s.sheet, s.cell(1), &values)
	s.next++
}

func (s *sheetWriter) header(values ...any) {
	if s.err != nil {
		return
	}
	start := s.cell(1)
	s.row(values...)
	if s.err == nil {
		end, _ := excelize.CoordinatesToCellName(len(values), s.next)
		s.err = s.f.SetCellStyle(s.sheet, start, end, s.bold)
	}
}

// rateRow writes label, count (nil for none) and a rate formatted as a
// percentage.
func (s *sheetWriter) rateRow(label string, count any, rate float64, style int) {
	if s.err != nil {
		return
	}
	s.row(label, count, rate)
	if s.err == nil {
		c, _ := excelize.CoordinatesToCellName(3, s.next)
		s.err = s.f.SetCellStyle(s.sheet, c, c, style)
	}
}

// recipientSheetName names the sheets of recipients: "Recipients", then
// "Recipients 2", "Recipients 3" … past Excel's 1,048,576 rows a sheet.
func recipientSheetName(i int) string {
	if i == 1 {
		return recipientsSheet
	}
	return fmt.Sprintf("%s %d", recipientsSheet, i)
}

// recipientsStream writes recipient rows into as many sheets as they need.
type recipientsStream struct {
	f              *excelize.File
	sw             *excelize.StreamWriter
	bold, dateTime int
	sheets         int // sheets started
	next           int // next row of the current sheet, 1-based
	maxRows        int // rows a sheet holds, header included
}

// start begins the next sheet with its column widths, frozen header row
// and header.
func (rs *recipientsStream) start() error {
	if rs.sw != nil {
		if err := rs.sw.Flush(); err != nil {
			return fmt.Errorf("flush %s: %w", recipientSheetName(rs.sheets), err)
		}
	}
	rs.sheets++
	name := recipientSheetName(rs.sheets)
	if _, err := rs.f.NewSheet(name); err != nil {
		return fmt.Errorf("add sheet %s: %w", name, err)
	}
	sw, err := rs.f.NewStreamWriter(name)
	if err != nil {
		return fmt.Errorf("stream sheet %s: %w", name, err)
	}
	rs.sw = sw
	widths := []float64{18, 24, 8, 11, 11, 30, 30}
	for i, wd := range widths {
		if err := sw.SetColWidth(i+1, i+1, wd); err != nil {
			return err
		}
	}
	if err := sw.SetColWidth(len(widths)+1, len(recipientColumns), 20); err != nil {
		return err
	}
	// Panes must come before the first row.
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	header := make([]any, len(recipientColumns))
	for i, c := range recipientColumns {
		header[i] = excelize.Cell{StyleID: rs.bold, Value: c}
	}
	if err := sw.SetRow("A1", header); err != nil {
		return fmt.Errorf("write header of %s: %w", name, err)
	}
	rs.next = 2
	return nil
}

func (rs *recipientsStream) write(row []any) error {
	if rs.next > rs.maxRows {
		if err := rs.start(); err != nil {
			return err
		}
	}
	cell, _ := excelize.CoordinatesToCellName(1, rs.next)
	if err := rs.sw.SetRow(cell, row); err != nil {
		return fmt.Errorf("write row %d of %s: %w", rs.next, recipientSheetName(rs.sheets), err)
	}
	rs.next++
	return nil
}

func writeRecipientsSheet(f *excelize.File, recipients RecipientIter, maxRows int) error {
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	dateTime, err := f.NewStyle(&excelize.Style{CustomNumFmt: ptrTo("yyyy-mm-dd hh:mm:ss")})
	if err != nil {
		return err
	}
	rs := &recipientsStream{f: f, bold: bold, dateTime: dateTime, maxRows: maxRows}
	if err := rs.start(); err != nil {
		return err
	}
	row := make([]any, 0, len(recipientColumns))
	for rcpt, err := range recipients {
		if err != nil {
			return err
		}
		var code any
		if rcpt.ErrorCode != 0 {
			code = rcpt.ErrorCode
		}
		row = append(row[:0], Neutralize(rcpt.Phone), Neutralize(rcpt.Name), Neutralize(rcpt.Country), rcpt.Status,
			code, Neutralize(rcpt.Error), Neutralize(rcpt.ErrorDetails))
		for _, t := range rcpt.times() {
			if t.IsZero() {
				row = append(row, nil)
				continue
			}
			// Excel has no time zones: write UTC wall-clock time.
			row = append(row, excelize.Cell{StyleID: dateTime, Value: t.UTC().Truncate(time.Second)})
		}
		if err := rs.write(row); err != nil {
			return err
		}
	}
	if err := rs.sw.Flush(); err != nil {
		return fmt.Errorf("flush %s: %w", recipientSheetName(rs.sheets), err)
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }
