package report

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/herald-sh/herald/internal/phone"
	"github.com/herald-sh/herald/internal/pricing"
	"github.com/herald-sh/herald/internal/store"
)

// ImportResult says what ImportConversions did.
type ImportResult struct {
	// Rows is the number of data rows read (header excluded).
	Rows int64
	RecordResult
	// Errors lists the refused rows (at most maxImportErrors); Refused
	// counts them all.
	Errors  []RowError
	Refused int64
}

// RowError is one refused row of a conversions file.
type RowError struct {
	Line   int    // 1-based line (CSV) or row (XLSX) of the file
	Column string // header name of the column at fault, or ""
	Reason string
}

func (e RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d column %s: %s", e.Line, e.Column, e.Reason)
}

const (
	// importBatch is how many conversions go into one RecordConversions
	// statement.
	importBatch = 10_000
	// maxImportErrors bounds the row errors kept in an ImportResult.
	maxImportErrors = 1000
)

// importColumns maps accepted header names (lower case, trimmed) to fields.
var importColumns = map[string]string{
	"phone": "phone", "phone_number": "phone", "mobile": "phone", "whatsapp": "phone", "msisdn": "phone",
	"value": "value", "amount": "value", "revenue": "value", "total": "value",
	"currency": "currency",
	"time":     "time", "occurred_at": "time", "date": "time", "timestamp": "time", "datetime": "time",
	"reference": "reference", "ref": "reference", "order": "reference", "order_id": "reference", "id": "reference",
}

// ImportConversions reads conversions from a CSV or XLSX file (by the
// extension of name; XLSX reads the first sheet) and records them with
// RecordConversions, attributed within window. The header row names the
// columns, in any order: phone, value, currency, time and optionally
// reference (a few synonyms are accepted: amount, date, order_id ...).
//
//   - phone is normalised to E.164, numbers without a country code as
//     numbers of defaultRegion ("BR");
//   - value is a decimal in the currency's units ("49.90"), exactly;
//   - currency is an ISO 4217 code;
//   - time is RFC 3339, "2006-01-02 15:04:05" or "2006-01-02" (UTC when
//     the text gives no offset), or an Excel date cell;
//   - reference is the business's id: a file imported twice records each
//     referenced conversion once.
//
// Refused rows are reported in the result and the others recorded, in
// batches of 10,000 (run it in a transaction for all or nothing). name is
// recorded as the conversions' source.
func ImportConversions(ctx context.Context, db store.DBTX, r io.Reader, name string, defaultRegion string, window time.Duration) (*ImportResult, error) {
	var rows rowReader
	switch strings.ToLower(filepath.Ext(name)) {
	case ".xlsx", ".xlsm":
		x, err := newXLSXRows(r)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", name, err)
		}
		defer x.close()
		rows = x
	default:
		c, err := newCSVRows(r)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", name, err)
		}
		rows = c
	}

	header, _, err := rows.next()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: empty file", name)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	col := map[string]int{}
	for i, h := range header {
		field, ok := importColumns[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))]
		if !ok {
			continue // other columns are the business's own
		}
		if _, dup := col[field]; dup {
			return nil, fmt.Errorf("read %s: header: two columns for %s", name, field)
		}
		col[field] = i
	}
	for _, field := range []string{"phone", "value", "currency", "time"} {
		if _, ok := col[field]; !ok {
			return nil, fmt.Errorf("read %s: header: no %s column", name, field)
		}
	}

	res := &ImportResult{}
	batch := make([]Conversion, 0, importBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		rr, err := RecordConversions(ctx, db, batch, window)
		if err != nil {
			return err
		}
		res.Recorded += rr.Recorded
		res.Duplicates += rr.Duplicates
		res.Attributed += rr.Attributed
		batch = batch[:0]
		return nil
	}
	for {
		record, line, err := rows.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		if blank(record) {
			continue
		}
		res.Rows++
		c, rowErr := parseConversion(record, col, defaultRegion, rows.isXLSX())
		if rowErr != nil {
			rowErr.Line = line
			res.Refused++
			if len(res.Errors) < maxImportErrors {
				res.Errors = append(res.Errors, *rowErr)
			}
			continue
		}
		c.Source = name
		batch = append(batch, c)
		if len(batch) == importBatch {
			if err := flush(); err != nil {
				return nil, fmt.Errorf("import %s: %w", name, err)
			}
		}
	}
	if err := flush(); err != nil {
		return nil, fmt.Errorf("import %s: %w", name, err)
	}
	return res, nil
}

func parseConversion(record []string, col map[string]int, defaultRegion string, xlsx bool) (Conversion, *RowError) {
	get := func(field string) string {
		i, ok := col[field]
		if !ok || i >= len(record) {
			return ""
		}
		return strings.TrimSpace(record[i])
	}
	var c Conversion
	num, err := phone.Normalize(get("phone"), defaultRegion)
	if err != nil {
		return c, &RowError{Column: "phone", Reason: fmt.Sprintf("%q: %v", get("phone"), err)}
	}
	c.Phone = num.E164
	if c.ValueMicros, err = pricing.ParseMicros(get("value")); err != nil {
		return c, &RowError{Column: "value", Reason: err.Error()}
	}
	c.Currency = strings.ToUpper(get("currency"))
	if !currencyRe.MatchString(c.Currency) {
		return c, &RowError{Column: "currency", Reason: fmt.Sprintf("%q is not an ISO 4217 code such as USD", get("currency"))}
	}
	if c.OccurredAt, err = parseImportTime(get("time"), xlsx); err != nil {
		return c, &RowError{Column: "time", Reason: err.Error()}
	}
	c.Reference = get("reference")
	return c, nil
}

var importTimeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05Z07:00", "2006-01-02T15:04:05",
	"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"}

func parseImportTime(s string, xlsx bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("empty time")
	}
	for _, layout := range importTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if xlsx {
		// A date cell read raw is Excel's serial day number.
		if serial, err := strconv.ParseFloat(s, 64); err == nil && serial > 0 {
			t, err := excelize.ExcelDateToTime(serial, false)
			if err == nil {
				return t.UTC().Round(time.Second), nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time such as 2026-10-12T09:30:00Z or 2026-10-12 09:30:00", s)
}

func blank(record []string) bool {
	for _, f := range record {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// rowReader yields the records of a file with their line numbers.
type rowReader interface {
	next() ([]string, int, error)
	isXLSX() bool
}

type csvRows struct{ r *csv.Reader }

// newCSVRows reads CSV separated by ',', ';' or tab, whichever the header
// line has most of.
func newCSVRows(r io.Reader) (*csvRows, error) {
	br := bufio.NewReader(r)
	first, err := br.Peek(4096)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	line, _, _ := strings.Cut(string(first), "\n")
	delim := ','
	for _, d := range []rune{';', '\t'} {
		if strings.Count(line, string(d)) > strings.Count(line, string(delim)) {
			delim = d
		}
	}
	cr := csv.NewReader(br)
	cr.Comma = delim
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	return &csvRows{r: cr}, nil
}

func (c *csvRows) next() ([]string, int, error) {
	rec, err := c.r.Read()
	if err != nil {
		return nil, 0, err
	}
	line, _ := c.r.FieldPos(0)
	return rec, line, nil
}

func (c *csvRows) isXLSX() bool { return false }

type xlsxRows struct {
	f    *excelize.File
	rows *excelize.Rows
	line int
}

func newXLSXRows(r io.Reader) (*xlsxRows, error) {
	f, err := excelize.OpenReader(r)
	if err != nil {
		return nil, err
	}
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		f.Close()
		return nil, errors.New("no sheet")
	}
	rows, err := f.Rows(sheets[0])
	if err != nil {
		f.Close()
		return nil, err
	}
	return &xlsxRows{f: f, rows: rows}, nil
}

func (x *xlsxRows) next() ([]string, int, error) {
	if !x.rows.Next() {
		if err := x.rows.Error(); err != nil {
			return nil, 0, err
		}
		return nil, 0, io.EOF
	}
	x.line++
	// Raw values: a date cell comes as its serial number, not as text in
	// whatever format the sheet shows.
	rec, err := x.rows.Columns(excelize.Options{RawCellValue: true})
	return rec, x.line, err
}

func (x *xlsxRows) isXLSX() bool { return true }

func (x *xlsxRows) close() {
	_ = x.rows.Close()
	_ = x.f.Close()
}
