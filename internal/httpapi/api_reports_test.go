package httpapi

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/herald-sh/herald/internal/report"
)

func TestAPIReports(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	id := b.startedCampaign(t)
	path := fmt.Sprintf("/api/v1/campaigns/%d", id)

	t.Run("JSON", func(t *testing.T) {
		rep := decode[map[string]any](t, b.get(path+"/report"), http.StatusOK)
		for _, key := range []string{
			"campaign_id", "name", "template", "template_language", "category", "status", "created_at", "started_at",
			"finished_at", "audience", "skipped", "skipped_total", "sent", "delivered", "read", "failed", "unknown",
			"pending", "cancelled", "replied", "clicked", "unaccounted", "failed_by_code", "failed_codes", "cost",
			"rates", "conversions", "revenue", "roi", "cost_per_conversion", "series",
		} {
			require.Contains(t, rep, key)
		}
		require.EqualValues(t, id, rep["campaign_id"])
		require.EqualValues(t, 3, rep["audience"])
		require.EqualValues(t, 2, rep["pending"])
		require.Equal(t, map[string]any{"not_opted_in": 1.0}, rep["skipped"])
		require.Contains(t, rep["cost"], "total_micros")
		require.Contains(t, rep["rates"], "delivery_rate")

		noSeries := decode[map[string]any](t, b.get(path+"/report?series=false&step=5m"), http.StatusOK)
		require.Equal(t, []any{}, noSeries["series"])
		requireFields(t, b.get(path+"/report?series=maybe&step=1s"), http.StatusUnprocessableEntity, "series", "step")
	})

	t.Run("CSV", func(t *testing.T) {
		rec := b.get(path + "/report.csv")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		require.Equal(t, "text/csv; charset=utf-8", rec.Header().Get("Content-Type"))
		require.Equal(t, fmt.Sprintf(`attachment; filename="campaign-%d.csv"`, id), rec.Header().Get("Content-Disposition"))
		records, err := csv.NewReader(rec.Body).ReadAll()
		require.NoError(t, err)
		require.Len(t, records, 1+3, "a header and one row per recipient, skipped included")
		require.Contains(t, records[0], "phone")
	})

	t.Run("XLSX", func(t *testing.T) {
		rec := b.get(path + "/report.xlsx")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		require.Equal(t, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", rec.Header().Get("Content-Type"))
		f, err := excelize.OpenReader(bytes.NewReader(rec.Body.Bytes()))
		require.NoError(t, err)
		defer f.Close()
		require.GreaterOrEqual(t, len(f.GetSheetList()), 2, "summary and recipients")
	})

	t.Run("Verify", func(t *testing.T) {
		v := decode[map[string]any](t, b.get(path+"/verify"), http.StatusOK)
		require.Equal(t, true, v["ok"], v)
		require.Equal(t, []any{}, v["mismatches"])
	})
}

func TestAPIExportFailure(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	id := b.startedCampaign(t)
	a := &api{s: b.server, deps: APIDeps{Pool: b.pool}.withDefaults(b.pool)}
	req := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/api/v1/campaigns/%d/report.csv", id), nil)
		r.SetPathValue("id", fmt.Sprint(id))
		return r
	}

	t.Run("BeforeTheFirstByte", func(t *testing.T) {
		// Nothing was sent: the failure is an ordinary JSON 500, with
		// none of the download's headers.
		rec := httptest.NewRecorder()
		err := a.export(rec, req(), "csv", "text/csv", func(io.Writer, *report.CampaignReport, report.RecipientIter) error {
			return errors.New("recipients query failed")
		})
		require.EqualError(t, err, "recipients query failed")
		a.fail(rec, req(), err)
		require.Equal(t, http.StatusInternalServerError, rec.Code)
		require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
		require.Empty(t, rec.Header().Get("Content-Disposition"))
	})

	t.Run("AfterTheFirstByte", func(t *testing.T) {
		// The 200 is gone: the connection is reset instead of ending as if
		// the file were whole.
		rec := httptest.NewRecorder()
		require.PanicsWithValue(t, http.ErrAbortHandler, func() {
			_ = a.export(rec, req(), "csv", "text/csv", func(w io.Writer, _ *report.CampaignReport, _ report.RecipientIter) error {
				_, _ = io.WriteString(w, "phone,status\n")
				return errors.New("connection to the database lost")
			})
		})
		require.Equal(t, http.StatusOK, rec.Code)
		require.Contains(t, b.logs.String(), "connection to the database lost")
	})
}
