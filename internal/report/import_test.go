package report

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/herald-sh/herald/internal/storetest"
)

func TestImportConversions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("CSV", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		f := newFixture(t, tx)
		// Helena (+5511900000008) was delivered at t0+2min; Igor at t0+2min.
		file := "\ufeffOrder_ID;Telefone;Phone;Amount;Currency;Date\n" +
			"A-1;x;+55 11 90000-0008;49.90;usd;2026-10-12T10:00:00Z\n" +
			"A-2;x;(11) 90000-0009;10;USD;2026-10-12 10:00:00\n" +
			"A-3;x;12345;10;USD;2026-10-12\n" +
			"A-4;x;+5511900000008;1,5;USD;2026-10-12\n" +
			"A-5;x;+5511900000008;1.5;dollars;2026-10-12\n" +
			"A-6;x;+5511900000008;1.5;USD;yesterday\n" +
			";;;;;\n" +
			"A-1;x;+5511900000008;49.90;USD;2026-10-12T10:00:00Z\n" +
			"A-7;x;+5511900000008;5;USD;2026-11-30\n"
		res, err := ImportConversions(ctx, tx, strings.NewReader(file), "orders.csv", "BR", 0)
		require.NoError(t, err)
		require.Equal(t, int64(8), res.Rows)
		require.Equal(t, RecordResult{Recorded: 3, Duplicates: 1, Attributed: 2}, res.RecordResult)
		require.Equal(t, int64(4), res.Refused)
		require.Len(t, res.Errors, 4)
		require.Equal(t, RowError{Line: 4, Column: "phone", Reason: `"12345": too short`}, res.Errors[0])
		require.Equal(t, 5, res.Errors[1].Line)
		require.Equal(t, "value", res.Errors[1].Column)
		require.Equal(t, "currency", res.Errors[2].Column)
		require.Equal(t, "time", res.Errors[3].Column)
		require.Equal(t, "line 4 column phone: \"12345\": too short", res.Errors[0].Error())

		var sendID int64
		var source string
		require.NoError(t, tx.QueryRow(ctx, `SELECT send_id, source FROM conversions WHERE reference = 'A-2'`).Scan(&sendID, &source))
		require.Equal(t, f.sends["+5511900000009"], sendID)
		require.Equal(t, "orders.csv", source)

		r, err := Campaign(ctx, tx, f.campaignID, Options{NoSeries: true})
		require.NoError(t, err)
		require.Equal(t, int64(2), r.Conversions)
		require.Equal(t, int64(59_900_000), r.Revenue.TotalMicros)
	})

	t.Run("XLSX", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		f := newFixture(t, tx)
		x := excelize.NewFile()
		defer x.Close()
		require.NoError(t, x.SetSheetRow("Sheet1", "A1", &[]any{"phone", "value", "currency", "time", "reference"}))
		require.NoError(t, x.SetSheetRow("Sheet1", "A2", &[]any{"+5511900000008", 12.5, "USD", t0.Add(time.Hour), "X-1"}))
		require.NoError(t, x.SetSheetRow("Sheet1", "A4", &[]any{"11900000009", "7", "USD", "2026-10-12 09:30:00", "X-2"}))
		var buf bytes.Buffer
		require.NoError(t, x.Write(&buf))

		res, err := ImportConversions(ctx, tx, &buf, "shop.xlsx", "BR", 0)
		require.NoError(t, err)
		require.Empty(t, res.Errors)
		require.Equal(t, int64(2), res.Rows)
		require.Equal(t, RecordResult{Recorded: 2, Attributed: 2}, res.RecordResult)

		var at time.Time
		var value int64
		require.NoError(t, tx.QueryRow(ctx, `SELECT occurred_at, value_micros FROM conversions WHERE reference = 'X-1'`).Scan(&at, &value))
		require.True(t, at.Equal(t0.Add(time.Hour)), at)
		require.Equal(t, int64(12_500_000), value)
		var phone string
		require.NoError(t, tx.QueryRow(ctx, `SELECT phone FROM conversions WHERE reference = 'X-2'`).Scan(&phone))
		require.Equal(t, "+5511900000009", phone)
		_ = f
	})

	t.Run("BadHeader", func(t *testing.T) {
		t.Parallel()
		tx := storetest.Tx(t)
		_, err := ImportConversions(ctx, tx, strings.NewReader("phone,value,time\n"), "x.csv", "BR", 0)
		require.ErrorContains(t, err, "no currency column")
		_, err = ImportConversions(ctx, tx, strings.NewReader(""), "x.csv", "BR", 0)
		require.ErrorContains(t, err, "empty file")
		_, err = ImportConversions(ctx, tx, strings.NewReader("phone,mobile,value,currency,time\n"), "x.csv", "BR", 0)
		require.ErrorContains(t, err, "two columns for phone")
	})
}
