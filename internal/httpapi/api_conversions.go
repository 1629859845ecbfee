package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/herald-sh/herald/internal/phone"
	"github.com/herald-sh/herald/internal/pricing"
	"github.com/herald-sh/herald/internal/report"
	"github.com/herald-sh/herald/internal/store"
)

// maxFieldErrors bounds the fields a 422 names when many items of a batch
// are wrong: enough to see the pattern, not a second copy of the input.
const maxFieldErrors = 100

// conversionSource is recorded as the source of conversions posted as JSON.
const conversionSource = "api"

// conversionJSON is one conversion as posted.
type conversionJSON struct {
	// Phone is the contact's number, E.164 or national with
	// ?default_country=.
	Phone string `json:"phone"`
	// Value is a decimal amount in units of Currency, as a JSON number or
	// string ("49.90"); it is read exactly, never through a float.
	Value json.RawMessage `json:"value"`
	// Currency is an ISO 4217 code ("BRL").
	Currency string `json:"currency"`
	// OccurredAt is an RFC 3339 time.
	OccurredAt string `json:"occurred_at"`
	// Reference is the business's own id; a reference recorded before is
	// not recorded again.
	Reference string `json:"reference,omitempty"`
}

// recordResult is report.RecordResult in snake_case.
type recordResult struct {
	Recorded   int64 `json:"recorded"`
	Duplicates int64 `json:"duplicates"`
	Attributed int64 `json:"attributed"`
}

// handleConversionsRecord records a JSON array of conversions and
// attributes each to the campaign message last delivered to its contact
// within the attribution window. Either every item is valid and the batch
// is recorded in one statement, or nothing is and the 422 names each bad
// field as "[i].field".
func (a *api) handleConversionsRecord(w http.ResponseWriter, r *http.Request) error {
	region, err := defaultCountry(r.URL.Query().Get("default_country"))
	if err != nil {
		return err
	}
	var in []conversionJSON
	if err := a.decodeJSON(w, r, &in, ""); err != nil {
		return err
	}
	convs := make([]report.Conversion, 0, len(in))
	bad := map[string]string{}
	for i, c := range in {
		conv, problems := c.parse(region)
		for field, problem := range problems {
			if len(bad) < maxFieldErrors {
				bad[fmt.Sprintf("[%d].%s", i, field)] = problem
			}
		}
		convs = append(convs, conv)
	}
	if len(bad) > 0 {
		return &ValidationError{Fields: bad}
	}
	res, err := report.RecordConversions(r.Context(), a.deps.Pool, convs, a.deps.AttributionWindow)
	if err != nil {
		return err
	}
	return respond(w, recordResult{Recorded: res.Recorded, Duplicates: res.Duplicates, Attributed: res.Attributed})
}

// parse checks a posted conversion, returning each bad field's problem.
func (c conversionJSON) parse(region string) (report.Conversion, map[string]string) {
	bad := map[string]string{}
	conv := report.Conversion{Currency: strings.ToUpper(strings.TrimSpace(c.Currency)),
		Reference: strings.TrimSpace(c.Reference), Source: conversionSource}
	if num, err := phone.Normalize(c.Phone, region); err != nil {
		bad["phone"] = fmt.Sprintf("%q: %v", c.Phone, err)
	} else {
		conv.Phone = num.E164
	}
	if v, err := pricing.ParseMicros(jsonScalar(c.Value)); err != nil {
		bad["value"] = "want a decimal amount like 49.90: " + err.Error()
	} else {
		conv.ValueMicros = v
	}
	if !isCurrency(conv.Currency) {
		bad["currency"] = fmt.Sprintf("%q: want an ISO 4217 code such as USD", c.Currency)
	}
	if t, err := time.Parse(time.RFC3339Nano, c.OccurredAt); err != nil {
		bad["occurred_at"] = fmt.Sprintf("%q: want an RFC 3339 time such as 2026-10-12T09:30:00Z", c.OccurredAt)
	} else {
		conv.OccurredAt = t
	}
	return conv, bad
}

// jsonScalar returns a JSON string's text, or any other value's literal
// (a number's digits as written, never through a float).
func jsonScalar(raw json.RawMessage) string {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	return string(raw)
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, c := range []byte(s) {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// defaultCountry checks an optional ISO 3166-1 alpha-2 region.
func defaultCountry(v string) (string, error) {
	v = strings.ToUpper(strings.TrimSpace(v))
	if v != "" && (len(v) != 2 || v[0] < 'A' || v[0] > 'Z' || v[1] < 'A' || v[1] > 'Z') {
		return "", &ValidationError{Fields: map[string]string{"default_country": fmt.Sprintf("%q: want an ISO 3166-1 alpha-2 code such as BR", v)}}
	}
	return v, nil
}

// conversionImportResult is report.ImportResult in snake_case.
type conversionImportResult struct {
	Rows int64 `json:"rows"`
	recordResult
	Refused int64             `json:"refused"`
	Errors  []conversionError `json:"errors"`
}

// conversionError is a refused row of a conversions file.
type conversionError struct {
	Line   int    `json:"line"`
	Column string `json:"column"`
	Reason string `json:"reason"`
}

// handleConversionsImport records the conversions of an uploaded CSV or
// XLSX file (fields: file, default_country, window). The file is recorded
// in one transaction: a failure leaves nothing behind, so the upload can
// simply be repeated (references are recorded once anyway).
func (a *api) handleConversionsImport(w http.ResponseWriter, r *http.Request) error {
	f, fh, err := a.parseUpload(w, r)
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll() //nolint:errcheck // temporary files; nothing to do on failure
	}
	if err != nil {
		return err
	}
	defer f.Close()
	region, err := defaultCountry(formValue(r, "default_country"))
	if err != nil {
		return err
	}
	window := a.deps.AttributionWindow
	if v := formValue(r, "window"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return &ValidationError{Fields: map[string]string{"window": fmt.Sprintf("%q: want a positive duration such as 168h", v)}}
		}
		window = d
	}
	var res *report.ImportResult
	db := &watchedDB{}
	err = store.WithTx(r.Context(), a.deps.Pool, func(tx pgx.Tx) error {
		db.DBTX = tx
		var err error
		res, err = report.ImportConversions(r.Context(), db, f, fh.Filename, region, window)
		return err
	})
	if err != nil {
		// ImportConversions words what is wrong with a file (no phone
		// column, not a workbook) in plain errors; those are the client's.
		// Whatever reached the database is not.
		if db.failed || r.Context().Err() != nil {
			return err
		}
		return &ValidationError{Fields: map[string]string{"file": err.Error()}}
	}
	out := conversionImportResult{Rows: res.Rows, Refused: res.Refused, Errors: make([]conversionError, len(res.Errors)),
		recordResult: recordResult{Recorded: res.Recorded, Duplicates: res.Duplicates, Attributed: res.Attributed}}
	for i, e := range res.Errors {
		out.Errors[i] = conversionError{Line: e.Line, Column: e.Column, Reason: e.Reason}
	}
	return respond(w, out)
}

// watchedDB remembers whether any statement through it failed, which tells
// a database failure from a file the client got wrong. It watches what
// report.ImportConversions uses (QueryRow) and the other single-statement
// methods; SendBatch passes through unwatched.
type watchedDB struct {
	store.DBTX
	failed bool
}

func (d *watchedDB) note(err error) error {
	if err != nil {
		d.failed = true
	}
	return err
}

func (d *watchedDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := d.DBTX.Exec(ctx, sql, args...)
	return tag, d.note(err)
}

func (d *watchedDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := d.DBTX.Query(ctx, sql, args...)
	return rows, d.note(err)
}

func (d *watchedDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return watchedRow{row: d.DBTX.QueryRow(ctx, sql, args...), db: d}
}

func (d *watchedDB) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	n, err := d.DBTX.CopyFrom(ctx, table, columns, src)
	return n, d.note(err)
}

type watchedRow struct {
	row pgx.Row
	db  *watchedDB
}

func (r watchedRow) Scan(dest ...any) error { return r.db.note(r.row.Scan(dest...)) }
