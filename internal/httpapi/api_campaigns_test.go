package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/campaigns"
)

func TestAPICampaignLifecycle(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.seedCampaignFixtures(t)
	b.importContacts(t, "vip")

	t.Run("Invalid", func(t *testing.T) {
		for name, tt := range map[string]struct {
			body   any
			status int
			fields []string
		}{
			"Empty":         {body: `{}`, status: http.StatusUnprocessableEntity, fields: []string{"name", "template", "language", "phone_number_id", "lists"}},
			"Priority":      {body: func() any { c := newCampaign("vip"); c.Priority = 9; return c }(), status: http.StatusUnprocessableEntity, fields: []string{"priority"}},
			"NoTemplate":    {body: func() any { c := newCampaign("vip"); c.Template = "nope"; return c }(), status: http.StatusUnprocessableEntity, fields: []string{"template"}},
			"NoList":        {body: newCampaign("nobody"), status: http.StatusUnprocessableEntity, fields: []string{"lists"}},
			"NoSender":      {body: func() any { c := newCampaign("vip"); c.PhoneNumberID = "2"; return c }(), status: http.StatusUnprocessableEntity, fields: []string{"phone_number_id"}},
			"Unbound":       {body: func() any { c := newCampaign("vip"); c.Bindings = nil; return c }(), status: http.StatusUnprocessableEntity, fields: []string{"body.1"}},
			"UnknownField":  {body: `{"name":"x","list":["vip"]}`, status: http.StatusUnprocessableEntity, fields: []string{"list"}},
			"WrongType":     {body: `{"name":"x","lists":"vip"}`, status: http.StatusUnprocessableEntity, fields: []string{"lists"}},
			"BadTime":       {body: `{"name":"x","start_at":"tomorrow"}`, status: http.StatusUnprocessableEntity, fields: []string{"start_at"}},
			"NotJSON":       {body: `name=x`, status: http.StatusBadRequest},
			"NoBody":        {body: nil, status: http.StatusBadRequest},
			"TrailingValue": {body: `{"name":"x"} {}`, status: http.StatusBadRequest},
		} {
			t.Run(name, func(t *testing.T) {
				requireFields(t, b.postJSON(t, "/api/v1/campaigns", tt.body), tt.status, tt.fields...)
			})
		}
	})

	rec := b.postJSON(t, "/api/v1/campaigns", newCampaign("vip"))
	c := decode[campaigns.Campaign](t, rec, http.StatusCreated)
	require.Equal(t, fmt.Sprintf("/api/v1/campaigns/%d", c.ID), rec.Header().Get("Location"))
	require.Equal(t, "draft", c.Status)
	path := fmt.Sprintf("/api/v1/campaigns/%d", c.ID)

	got := decode[map[string]any](t, b.get(path), http.StatusOK)
	require.Equal(t, "october promo", got["name"])
	require.Equal(t, "draft", got["status"])
	require.Contains(t, got, "phone_number_id")

	dr := decode[map[string]any](t, b.postJSON(t, path+"/dry-run", nil), http.StatusOK)
	require.EqualValues(t, 2, dr["sends"])
	require.Contains(t, dr, "estimated_cost_micros")
	require.Len(t, dr["previews"], 2)
	require.Zero(t, b.jobs.count(), "a dry run enqueues nothing")

	started := decode[startResult](t, b.postJSON(t, path+"/start", nil), http.StatusOK)
	require.Equal(t, "running", started.Campaign.Status)
	require.EqualValues(t, 2, started.Expansion.Sends)
	require.EqualValues(t, 1, started.Expansion.Skipped["not_opted_in"])
	require.Equal(t, 1, b.jobs.count())

	paused := decode[campaigns.Campaign](t, b.postJSON(t, path+"/pause", `{"reason":"checking the offer"}`), http.StatusOK)
	require.Equal(t, "paused", paused.Status)
	require.Equal(t, "checking the offer", paused.StatusReason)

	resumed := decode[campaigns.Campaign](t, b.postJSON(t, path+"/resume", nil), http.StatusOK)
	require.Equal(t, "running", resumed.Status)
	require.Equal(t, 2, b.jobs.count(), "resume enqueues the sends still queued")

	e := requireFields(t, b.postJSON(t, path+"/resume", nil), http.StatusConflict, "status")
	require.Equal(t, "conflict", e.Error)
	require.Contains(t, e.Fields["status"], "running")
	requireFields(t, b.postJSON(t, path+"/start", nil), http.StatusConflict, "status")

	// Pause without a body gets the default reason.
	paused = decode[campaigns.Campaign](t, b.postJSON(t, path+"/pause", nil), http.StatusOK)
	require.Equal(t, "paused", paused.Status)
	requireFields(t, b.postJSON(t, path+"/pause", `{"why":"x"}`), http.StatusUnprocessableEntity, "why")

	cancelled := decode[campaigns.Campaign](t, b.postJSON(t, path+"/cancel", nil), http.StatusOK)
	require.Equal(t, "cancelled", cancelled.Status)
	for _, action := range []string{"start", "pause", "resume", "cancel"} {
		e := requireFields(t, b.postJSON(t, path+"/"+action, nil), http.StatusConflict, "status")
		require.Contains(t, e.Fields["status"], "cancelled", action)
	}
}

func TestAPICampaignNotFound(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	for _, route := range []string{
		"GET /api/v1/campaigns/424242", "GET /api/v1/campaigns/x", "GET /api/v1/campaigns/0", "GET /api/v1/campaigns/-1",
		"POST /api/v1/campaigns/424242/dry-run", "POST /api/v1/campaigns/424242/start", "POST /api/v1/campaigns/424242/pause",
		"POST /api/v1/campaigns/424242/resume", "POST /api/v1/campaigns/424242/cancel",
		"GET /api/v1/campaigns/424242/report", "GET /api/v1/campaigns/424242/report.csv",
		"GET /api/v1/campaigns/424242/report.xlsx", "GET /api/v1/campaigns/424242/verify",
	} {
		method, path, _ := strings.Cut(route, " ")
		rec := b.request(method, path, "", nil)
		require.Equal(t, http.StatusNotFound, rec.Code, route)
		require.Equal(t, "application/json", rec.Header().Get("Content-Type"), route)
		require.Empty(t, rec.Header().Get("Content-Disposition"), route)
		require.Equal(t, "not found", decodeError(t, rec.Body).Error, route)
	}
}

func TestAPITemplates(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)

	empty := decode[map[string]any](t, b.get("/api/v1/templates"), http.StatusOK)
	require.Equal(t, []any{}, empty["templates"])

	b.seedCampaignFixtures(t)
	got := decode[map[string][]map[string]any](t, b.get("/api/v1/templates"), http.StatusOK)
	require.Len(t, got["templates"], 1)
	tpl := got["templates"][0]
	require.Equal(t, "promo", tpl["name"])
	require.Equal(t, "pt_BR", tpl["language"])
	require.Equal(t, "MARKETING", tpl["category"])
	require.Equal(t, "APPROVED", tpl["status"])
	require.Equal(t, "tpl-1", tpl["meta_id"])
	require.Equal(t, []any{map[string]any{"component": "body", "index": 0.0, "position": 1.0, "type": "text"}}, tpl["params"])
	require.Len(t, tpl["components"], 1)
}

func TestAPIBodyTooLarge(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, func(d *APIDeps) { d.MaxJSONBytes = 64 })
	c := newCampaign("vip")
	c.Name = strings.Repeat("x", 100)
	rec := b.postJSON(t, "/api/v1/campaigns", c)
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, rec.Body.String())
	require.Equal(t, "request body too large", decodeError(t, rec.Body).Error)
}
