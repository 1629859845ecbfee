package report

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/herald-sh/herald/internal/storetest"
)

func TestNeutralize(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"=1+2": "'=1+2", "+5511900000001": "'+5511900000001", "-2+3": "'-2+3", "@SUM(A1)": "'@SUM(A1)",
		"\tx": "'\tx", "\rx": "'\rx", "Ana": "Ana", "": "", "a=b": "a=b", "'quoted": "'quoted",
	}
	for in, want := range tests {
		require.Equal(t, want, Neutralize(in), "%q", in)
	}
}

// injectable reports whether a cell would be read as a formula.
func injectable(s string) bool {
	return s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0]))
}

func TestExports(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Text", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		f := newFixture(t, tx)
		exec(t, tx, `UPDATE campaigns SET name = E'Spring\x1b[31m sale' WHERE id = $1`, f.campaignID)
		r, err := Campaign(ctx, tx, f.campaignID, Options{})
		require.NoError(t, err)
		var buf bytes.Buffer
		require.NoError(t, WriteText(&buf, r))
		out := buf.String()
		for _, want := range []string{"Spring?[31m sale", "delivered", "60.0% of sent", "50.0% of delivered",
			"opted_out", "131026", "0.375 USD", "0.625 USD"} {
			require.Contains(t, out, want)
		}
		require.NotContains(t, out, "\x1b")
	})

	t.Run("CSVSummary", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		f := newFixture(t, tx)
		exec(t, tx, `UPDATE campaigns SET name = '=cmd|'' /C calc''!A0' WHERE id = $1`, f.campaignID)
		r, err := Campaign(ctx, tx, f.campaignID, Options{})
		require.NoError(t, err)
		var buf bytes.Buffer
		require.NoError(t, WriteCSV(&buf, r, nil))
		rows, err := csv.NewReader(&buf).ReadAll()
		require.NoError(t, err)
		got := map[string]string{}
		for _, row := range rows {
			got[row[0]] = row[1]
		}
		require.Equal(t, "'=cmd|' /C calc'!A0", got["name"])
		require.Equal(t, "20", got["audience"])
		require.Equal(t, "2", got["skipped_opted_out"])
		require.Equal(t, "10", got["sent"])
		require.Equal(t, "2", got["failed_131026"])
		require.Equal(t, "0.375", got["cost"])
		require.Equal(t, "USD", got["currency"])
	})

	t.Run("CSVRecipients", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		f := newFixture(t, tx)
		r, err := Campaign(ctx, tx, f.campaignID, Options{})
		require.NoError(t, err)
		var buf bytes.Buffer
		require.NoError(t, WriteCSV(&buf, r, Recipients(ctx, tx, f.campaignID)))
		rows, err := csv.NewReader(&buf).ReadAll()
		require.NoError(t, err)
		require.Equal(t, recipientColumns, rows[0])
		require.Len(t, rows, 1+20) // every recipient of the audience
		byPhone := map[string][]string{}
		for _, row := range rows[1:] {
			for _, cell := range row {
				require.False(t, injectable(cell), "cell %q", cell)
			}
			byPhone[row[0]] = row
		}
		row := byPhone["'+5511900000005"]
		require.Equal(t, `'=HYPERLINK("http://evil","x")`, row[1])
		require.Equal(t, "delivered", row[3])
		require.Equal(t, "2026-10-12T09:02:00Z", row[10])
		require.Equal(t, "'@SUM(A1)", byPhone["'+5511900000006"][1])
		require.Equal(t, "'-2+3", byPhone["'+5511900000007"][1])
		require.Equal(t, "'\tJoana", byPhone["'+5511900000010"][1])
		failed := byPhone["'+5511900000011"]
		require.Equal(t, []string{"failed", "131026", "Error title from Meta", "details of 131026"}, failed[3:7])
		skipped := byPhone["'+5511900000017"]
		require.Equal(t, []string{"skipped", "", "opted_out", "'+detail"}, skipped[3:7])
	})

	t.Run("XLSX", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		f := newFixture(t, tx)
		exec(t, tx, `UPDATE campaigns SET name = '+SUM(1,2)' WHERE id = $1`, f.campaignID)
		r, err := Campaign(ctx, tx, f.campaignID, Options{})
		require.NoError(t, err)
		var buf bytes.Buffer
		require.NoError(t, WriteXLSX(&buf, r, Recipients(ctx, tx, f.campaignID)))

		// The chart exists, is a bar chart and reads the funnel table.
		zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		require.NoError(t, err)
		var chart string
		for _, zf := range zr.File {
			if strings.HasPrefix(zf.Name, "xl/charts/chart") {
				rc, err := zf.Open()
				require.NoError(t, err)
				b, err := io.ReadAll(rc)
				require.NoError(t, err)
				chart = string(b)
			}
		}
		require.Contains(t, chart, "<barChart><barDir val=\"bar\">")
		require.Contains(t, chart, "Summary!$B$8:$B$13")
		require.Contains(t, chart, "Summary!$A$8:$A$13")

		x, err := excelize.OpenReader(bytes.NewReader(buf.Bytes()))
		require.NoError(t, err)
		defer x.Close()
		require.Equal(t, []string{"Summary", "Recipients"}, x.GetSheetList())

		summary, err := x.GetRows("Summary")
		require.NoError(t, err)
		require.Equal(t, []string{"Campaign", "'+SUM(1,2)"}, summary[0])
		require.Equal(t, []string{"Funnel", "Count", "Rate"}, summary[6])
		funnel := map[string]string{}
		for _, row := range summary[7:13] {
			funnel[row[0]] = row[1]
		}
		require.Equal(t, map[string]string{"Audience": "20", "Sent": "10", "Delivered": "6", "Read": "3",
			"Replied": "2", "Clicked": "1"}, funnel)
		formulas := 0
		for i := range summary {
			for j := range summary[i] {
				cell, _ := excelize.CoordinatesToCellName(j+1, i+1)
				fx, err := x.GetCellFormula("Summary", cell)
				require.NoError(t, err)
				if fx != "" {
					formulas++
				}
			}
		}
		require.Zero(t, formulas)

		rows, err := x.GetRows("Recipients")
		require.NoError(t, err)
		require.Equal(t, recipientColumns, rows[0])
		require.Len(t, rows, 1+20)
		byPhone := map[string][]string{}
		for i, row := range rows[1:] {
			for j, cell := range row {
				require.False(t, injectable(cell), "row %d column %d: %q", i+2, j+1, cell)
				name, _ := excelize.CoordinatesToCellName(j+1, i+2)
				fx, err := x.GetCellFormula("Recipients", name)
				require.NoError(t, err)
				require.Empty(t, fx)
			}
			byPhone[row[0]] = row
		}
		row := byPhone["'+5511900000005"]
		require.Equal(t, `'=HYPERLINK("http://evil","x")`, row[1])
		require.Equal(t, "delivered", row[3])
		require.Equal(t, "2026-10-12 09:02:00", row[10])
		require.Equal(t, "131026", byPhone["'+5511900000011"][4])
		require.Equal(t, "opted_out", byPhone["'+5511900000017"][5])
	})

	t.Run("XLSXWithoutRecipients", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		f := newFixture(t, tx)
		r, err := Campaign(ctx, tx, f.campaignID, Options{})
		require.NoError(t, err)
		var buf bytes.Buffer
		require.NoError(t, WriteXLSX(&buf, r, nil))
		x, err := excelize.OpenReader(&buf)
		require.NoError(t, err)
		defer x.Close()
		require.Equal(t, []string{"Summary"}, x.GetSheetList())
	})

	t.Run("XLSXSheetsPastTheRowLimit", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		f := newFixture(t, tx)
		x := excelize.NewFile()
		defer x.Close()
		// Five rows a sheet (a header and four recipients) stand for Excel's 1,048,576.
		require.NoError(t, writeRecipientsSheet(x, Recipients(ctx, tx, f.campaignID), 5))
		require.Equal(t, []string{"Sheet1", "Recipients", "Recipients 2", "Recipients 3", "Recipients 4", "Recipients 5"}, x.GetSheetList())
		phones := map[string]bool{}
		for _, sheet := range x.GetSheetList()[1:] {
			rows, err := x.GetRows(sheet)
			require.NoError(t, err)
			require.Equal(t, recipientColumns, rows[0], sheet)
			require.Len(t, rows, 5, sheet)
			for _, row := range rows[1:] {
				phones[row[0]] = true
			}
		}
		require.Len(t, phones, 20)
	})

	t.Run("RecipientsInBatches", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		tmpl, sender := newTemplateAndSender(t, tx, "batches", "utility")
		id := newCampaign(t, tx, tmpl, sender, "Many", "completed", recipientBatch+3)
		exec(t, tx, `INSERT INTO contacts (phone) SELECT '+4930' || lpad(g::text, 8, '0') FROM generate_series(1, $1) g`, recipientBatch+3)
		exec(t, tx, `INSERT INTO sends (campaign_id, contact_id, phone, status)
			SELECT $1, id, phone, 'sent' FROM contacts WHERE phone LIKE '+4930%' AND phone <> '+4930' || lpad('2', 8, '0')`, id)
		exec(t, tx, `INSERT INTO campaign_exclusions (campaign_id, contact_id, reason)
			SELECT $1, id, 'duplicate' FROM contacts WHERE phone = '+4930' || lpad('2', 8, '0')`, id)
		seen := map[string]bool{}
		skipped := 0
		for rcpt, err := range Recipients(ctx, tx, id) {
			require.NoError(t, err)
			require.False(t, seen[rcpt.Phone], rcpt.Phone)
			seen[rcpt.Phone] = true
			if rcpt.Status == "skipped" {
				skipped++
			}
		}
		require.Len(t, seen, recipientBatch+3)
		require.Equal(t, 1, skipped)
	})
}
