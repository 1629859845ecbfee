package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/campaigns"
	"github.com/herald-sh/herald/importer"
	"github.com/herald-sh/herald/internal/storetest"
	"github.com/herald-sh/herald/internal/whatsapp"
	"github.com/herald-sh/herald/scheduler"
)

// fakeInserter stands in for the River client: it counts the jobs it is
// given and inserts nothing, so sends stay queued.
type fakeInserter struct {
	mu   sync.Mutex
	jobs []river.JobArgs
}

func (f *fakeInserter) InsertManyFastTx(_ context.Context, _ pgx.Tx, params []river.InsertManyParams) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range params {
		f.jobs = append(f.jobs, p.Args)
	}
	return len(params), nil
}

func (f *fakeInserter) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.jobs)
}

// apiBundle is a Server with the REST API mounted on a fresh database.
type apiBundle struct {
	*testBundle
	jobs *fakeInserter
}

// setupAPI mounts the API, scheduler included, on a database of its own.
// opts change the dependencies before they are mounted.
func setupAPI(t *testing.T, opts ...func(*APIDeps)) *apiBundle {
	t.Helper()
	_, pool := storetest.DB(t)
	b := setupOn(t, pool, Config{APITokens: []whatsapp.Secret{testAPIToken}})
	logger := testLogger(t)
	jobs := &fakeInserter{}
	svc := campaigns.NewService(logger, pool, jobs, campaigns.Config{})
	deps := APIDeps{
		Campaigns: svc,
		Importer:  importer.NewService(logger, importer.Config{TempDir: t.TempDir()}, pool),
		Scheduler: scheduler.NewScheduler(logger, pool, svc, scheduler.Config{}),
		Pool:      pool,
	}
	for _, o := range opts {
		o(&deps)
	}
	b.server.MountAPI(deps)
	return &apiBundle{testBundle: b, jobs: jobs}
}

// request serves an authorised request.
func (b *apiBundle) request(method, path, contentType string, body io.Reader) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, body)
	req.Header.Set("Authorization", "Bearer "+testAPIToken.Reveal())
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return b.do(req)
}

func (b *apiBundle) get(path string) *httptest.ResponseRecorder {
	return b.request(http.MethodGet, path, "", nil)
}

// postJSON posts body, a string of JSON or a value to encode.
func (b *apiBundle) postJSON(t *testing.T, path string, body any) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(v)
	default:
		raw, err := json.Marshal(v)
		require.NoError(t, err)
		r = bytes.NewReader(raw)
	}
	return b.request(http.MethodPost, path, "application/json", r)
}

// upload posts a multipart form with a file and fields; a field may
// repeat.
func (b *apiBundle) upload(t *testing.T, path, fileName string, content []byte, fields ...[2]string) *httptest.ResponseRecorder {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		require.NoError(t, mw.WriteField(f[0], f[1]))
	}
	if fileName != "" {
		fw, err := mw.CreateFormFile("file", fileName)
		require.NoError(t, err)
		_, err = fw.Write(content)
		require.NoError(t, err)
	}
	require.NoError(t, mw.Close())
	return b.request(http.MethodPost, path, mw.FormDataContentType(), &buf)
}

// decode reads a JSON answer into a fresh T, after checking the status.
func decode[T any](t *testing.T, rec *httptest.ResponseRecorder, status int) T {
	t.Helper()
	require.Equal(t, status, rec.Code, rec.Body.String())
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var v T
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v), rec.Body.String())
	return v
}

// requireFields checks a JSON error answer names exactly these fields.
func requireFields(t *testing.T, rec *httptest.ResponseRecorder, status int, fields ...string) errorBody {
	t.Helper()
	e := decode[errorBody](t, rec, status)
	got := make([]string, 0, len(e.Fields))
	for f := range e.Fields {
		got = append(got, f)
	}
	require.ElementsMatch(t, fields, got, "fields of %s", rec.Body.String())
	return e
}

// contactsCSV is a small list: two opted in, one not, one bad number.
const contactsCSV = "name,phone,consent,city\n" +
	"Ana,11987654301,yes,Recife\n" +
	"Bruno,(11) 98765-4302,sim,Natal\n" +
	"Carla,11987654303,no,Recife\n" +
	"Dani,not a phone,yes,Natal\n"

// importContacts uploads contactsCSV into list and returns the summary.
func (b *apiBundle) importContacts(t *testing.T, list string) importer.Summary {
	t.Helper()
	rec := b.upload(t, "/api/v1/imports", "contacts.csv", []byte(contactsCSV),
		[2]string{"list", list}, [2]string{"default_country", "BR"}, [2]string{"map", "city=town"})
	return decode[importer.Summary](t, rec, http.StatusCreated)
}

// seedCampaignFixtures registers an approved template with one body
// parameter and the sender number "1".
func (b *apiBundle) seedCampaignFixtures(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	_, err := campaigns.TemplateUpsert(ctx, b.pool, whatsapp.TemplateInfo{
		ID: "tpl-1", Name: "promo", Language: "pt_BR", Status: "APPROVED", Category: "MARKETING",
		Components: []whatsapp.TemplateComponent{{Type: "BODY", Text: "Olá {{1}}, sua oferta chegou."}},
	})
	require.NoError(t, err)
	_, err = campaigns.SenderUpsert(ctx, b.pool, campaigns.Sender{PhoneNumberID: "1", RatePerSecond: 80})
	require.NoError(t, err)
}

// newCampaign is a valid campaign over list.
func newCampaign(list string) campaigns.NewCampaign {
	return campaigns.NewCampaign{
		Name: "october promo", Template: "promo", Language: "pt_BR", PhoneNumberID: "1", Lists: []string{list},
		Bindings: []campaigns.Binding{{Component: "body", Param: "1", Field: "name"}},
	}
}

// startedCampaign creates and starts a campaign over a freshly imported
// list and returns its id.
func (b *apiBundle) startedCampaign(t *testing.T) int64 {
	t.Helper()
	b.seedCampaignFixtures(t)
	b.importContacts(t, "vip")
	c := decode[campaigns.Campaign](t, b.postJSON(t, "/api/v1/campaigns", newCampaign("vip")), http.StatusCreated)
	decode[startResult](t, b.postJSON(t, fmt.Sprintf("/api/v1/campaigns/%d/start", c.ID), nil), http.StatusOK)
	return c.ID
}

func TestAPIAuth(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)

	for name, auth := range map[string]string{
		"NoToken":    "",
		"WrongToken": "Bearer not-the-token",
		"NotBearer":  "Basic " + testAPIToken.Reveal(),
	} {
		t.Run(name, func(t *testing.T) {
			for _, route := range []string{"GET /api/v1/templates", "GET /api/v1/campaigns/1", "POST /api/v1/campaigns", "GET /api/v1/schedules"} {
				method, path, _ := strings.Cut(route, " ")
				req := httptest.NewRequest(method, path, strings.NewReader("{}"))
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				rec := b.do(req)
				require.Equal(t, http.StatusUnauthorized, rec.Code, route)
				require.Equal(t, `Bearer realm="herald"`, rec.Header().Get("WWW-Authenticate"))
				require.Equal(t, "missing or invalid bearer token", decodeError(t, rec.Body).Error)
			}
		})
	}

	t.Run("Token", func(t *testing.T) {
		rec := b.get("/api/v1/templates")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	})

	t.Run("OpenAPIIsPublic", func(t *testing.T) {
		rec := b.do(httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil))
		require.Equal(t, http.StatusOK, rec.Code)
		require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	})

	t.Run("UnknownRouteNeedsTokenToo", func(t *testing.T) {
		rec := b.do(httptest.NewRequest(http.MethodGet, "/api/v1/nothing-here", nil))
		require.Equal(t, http.StatusUnauthorized, rec.Code)
		require.Equal(t, http.StatusNotFound, b.get("/api/v1/nothing-here").Code)
	})
}

func TestMountAPIPanicsWithoutServices(t *testing.T) {
	t.Parallel()
	b := setupOn(t, storetest.Pool(t), Config{})
	require.PanicsWithValue(t, "httpapi: APIDeps.Campaigns is nil", func() { b.server.MountAPI(APIDeps{}) })
}
