package httpapi

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/herald-sh/herald/internal/report"
)

// handleReport answers a campaign's report: funnel, failures, cost,
// conversions and, unless ?series=false, a time series in buckets of
// ?step= (a Go duration, default 1m).
func (a *api) handleReport(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	opts := report.Options{Card: a.deps.Card}
	q := r.URL.Query()
	bad := map[string]string{}
	if v := q.Get("series"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad["series"] = fmt.Sprintf("%q: want true or false", v)
		}
		opts.NoSeries = !b
	}
	if v := q.Get("step"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			bad["step"] = fmt.Sprintf("%q: want a duration of 1m or more, like 5m or 1h", v)
		}
		opts.SeriesStep = d
	}
	if len(bad) > 0 {
		return &ValidationError{Fields: bad}
	}
	rep, err := report.Campaign(r.Context(), a.deps.Pool, id, opts)
	if err != nil {
		return err
	}
	return respond(w, rep)
}

// handleReportCSV downloads a campaign's recipients, one row each, as CSV.
func (a *api) handleReportCSV(w http.ResponseWriter, r *http.Request) error {
	return a.export(w, r, "csv", "text/csv; charset=utf-8", report.WriteCSV)
}

// handleReportXLSX downloads a campaign's report as a workbook: a summary
// sheet with a funnel chart and the recipients.
func (a *api) handleReportXLSX(w http.ResponseWriter, r *http.Request) error {
	return a.export(w, r, "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", report.WriteXLSX)
}

// export writes a campaign's report and recipients with write. The headers
// go out with the first byte, so a failure before it (a missing campaign,
// a query that fails) is an ordinary JSON error; one after it aborts the
// connection, so that a truncated file never looks whole.
func (a *api) export(w http.ResponseWriter, r *http.Request, ext, contentType string,
	write func(io.Writer, *report.CampaignReport, report.RecipientIter) error) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	rep, err := report.Campaign(r.Context(), a.deps.Pool, id, report.Options{Card: a.deps.Card, NoSeries: true})
	if err != nil {
		return err
	}
	lw := &lazyWriter{w: w, header: func(h http.Header) {
		h.Set("Content-Type", contentType)
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="campaign-%d.%s"`, id, ext))
	}}
	if err := write(lw, rep, report.Recipients(r.Context(), a.deps.Pool, id)); err != nil {
		if !lw.started {
			return err
		}
		a.abort(r, "export campaign report", err)
	}
	if !lw.started {
		lw.start()
	}
	return nil
}

// lazyWriter sets the download headers and the 200 status only when the
// first byte is written.
type lazyWriter struct {
	w       http.ResponseWriter
	header  func(http.Header)
	started bool
}

func (l *lazyWriter) start() {
	l.started = true
	l.header(l.w.Header())
	l.w.WriteHeader(http.StatusOK)
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.start()
	}
	return l.w.Write(p)
}

// handleVerify answers whether a campaign's rollups agree with a recount of
// its raw rows.
func (a *api) handleVerify(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := report.Verify(r.Context(), a.deps.Pool, id)
	if err != nil {
		return err
	}
	return respond(w, v)
}
