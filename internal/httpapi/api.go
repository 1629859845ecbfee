package httpapi

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/herald-sh/herald/campaigns"
	"github.com/herald-sh/herald/importer"
	"github.com/herald-sh/herald/internal/pricing"
	"github.com/herald-sh/herald/internal/report"
	"github.com/herald-sh/herald/scheduler"
)

// Defaults for APIDeps fields left zero.
const (
	// DefaultMaxUploadBytes bounds a multipart upload: 1 GiB holds a CSV of
	// several million contacts.
	DefaultMaxUploadBytes int64 = 1 << 30
	// DefaultMaxJSONBytes bounds a JSON request body: 32 MiB holds about
	// 200,000 conversions.
	DefaultMaxJSONBytes int64 = 32 << 20
)

// uploadMemory is how much of a multipart upload is held in memory; the
// rest of a file is spooled to a temporary file by mime/multipart.
const uploadMemory = 8 << 20

// APIDeps are what the REST API under /api/v1 serves from.
type APIDeps struct {
	// Campaigns creates campaigns and drives their lifecycle. Required.
	Campaigns *campaigns.Service
	// Importer imports contact lists. Required.
	Importer *importer.Service
	// Scheduler serves /api/v1/schedules. Optional: nil leaves those routes
	// unmounted (they answer 404).
	Scheduler *scheduler.Scheduler
	// Pool runs report, template and conversion queries. Default: the
	// Server's pool.
	Pool *pgxpool.Pool
	// Card prices dry runs and reports. It must be the card the campaign
	// engine prices with. Default pricing.Default().
	Card *pricing.Card
	// AttributionWindow is how long after delivery a message earns a
	// conversion. Default report.DefaultAttributionWindow.
	AttributionWindow time.Duration
	// MaxUploadBytes bounds a multipart upload, in bytes; larger ones get
	// 413. Default DefaultMaxUploadBytes.
	MaxUploadBytes int64
	// MaxJSONBytes bounds a JSON request body, in bytes; larger ones get
	// 413. Default DefaultMaxJSONBytes.
	MaxJSONBytes int64
}

func (d APIDeps) mustValidate() {
	if d.Campaigns == nil {
		panic("httpapi: APIDeps.Campaigns is nil")
	}
	if d.Importer == nil {
		panic("httpapi: APIDeps.Importer is nil")
	}
	if d.MaxUploadBytes < 0 || d.MaxJSONBytes < 0 || d.AttributionWindow < 0 {
		panic("httpapi: negative size or window in APIDeps")
	}
}

func (d APIDeps) withDefaults(pool *pgxpool.Pool) APIDeps {
	d.Pool = cmp.Or(d.Pool, pool)
	if d.Card == nil {
		d.Card = pricing.Default()
	}
	d.AttributionWindow = cmp.Or(d.AttributionWindow, report.DefaultAttributionWindow)
	d.MaxUploadBytes = cmp.Or(d.MaxUploadBytes, DefaultMaxUploadBytes)
	d.MaxJSONBytes = cmp.Or(d.MaxJSONBytes, DefaultMaxJSONBytes)
	return d
}

// api holds the REST handlers. Each returns an error instead of writing
// one, so that every failure goes through fail.
type api struct {
	s       *Server
	deps    APIDeps
	openapi []byte // openapi.json as served
}

// apiHandler is a handler that leaves error answers to fail.
type apiHandler func(w http.ResponseWriter, r *http.Request) error

// apiRoute is one route of the REST API. public routes skip the bearer-token
// check.
type apiRoute struct {
	method string
	path   string
	handle apiHandler
	public bool
}

// MountAPI mounts the REST API under /api/v1 behind the bearer-token check,
// except GET /api/v1/openapi.json, which describes it to anyone. It panics
// when a required dependency is missing or when called twice, both
// programming errors.
func (s *Server) MountAPI(deps APIDeps) {
	deps.mustValidate()
	a := &api{s: s, deps: deps.withDefaults(s.pool)}
	routes := a.routes()
	a.openapi = openAPIDocument(routes)
	for _, rt := range routes {
		pattern := rt.method + " " + rt.path
		h := a.serve(rt.handle)
		if rt.public {
			s.mux.Handle(pattern, h)
		} else {
			s.Mount(pattern, h)
		}
	}
}

// routes lists every route of the REST API; openapi.json describes the same
// set (a test holds them together).
func (a *api) routes() []apiRoute {
	rs := []apiRoute{
		{method: "GET", path: "/api/v1/openapi.json", handle: a.handleOpenAPI, public: true},

		{method: "POST", path: "/api/v1/imports", handle: a.handleImportCreate},
		{method: "GET", path: "/api/v1/imports/{id}", handle: a.handleImportGet},
		{method: "GET", path: "/api/v1/imports/{id}/errors", handle: a.handleImportErrors},
		{method: "GET", path: "/api/v1/lists/{name}/contacts", handle: a.handleListContacts},

		{method: "GET", path: "/api/v1/templates", handle: a.handleTemplateList},
		{method: "POST", path: "/api/v1/campaigns", handle: a.handleCampaignCreate},
		{method: "GET", path: "/api/v1/campaigns/{id}", handle: a.handleCampaignGet},
		{method: "POST", path: "/api/v1/campaigns/{id}/dry-run", handle: a.handleCampaignDryRun},
		{method: "POST", path: "/api/v1/campaigns/{id}/start", handle: a.handleCampaignStart},
		{method: "POST", path: "/api/v1/campaigns/{id}/pause", handle: a.handleCampaignPause},
		{method: "POST", path: "/api/v1/campaigns/{id}/resume", handle: a.handleCampaignResume},
		{method: "POST", path: "/api/v1/campaigns/{id}/cancel", handle: a.handleCampaignCancel},
		{method: "GET", path: "/api/v1/campaigns/{id}/report", handle: a.handleReport},
		{method: "GET", path: "/api/v1/campaigns/{id}/report.csv", handle: a.handleReportCSV},
		{method: "GET", path: "/api/v1/campaigns/{id}/report.xlsx", handle: a.handleReportXLSX},
		{method: "GET", path: "/api/v1/campaigns/{id}/verify", handle: a.handleVerify},

		{method: "POST", path: "/api/v1/conversions", handle: a.handleConversionsRecord},
		{method: "POST", path: "/api/v1/conversions/import", handle: a.handleConversionsImport},
	}
	if a.deps.Scheduler != nil {
		rs = append(rs, a.scheduleRoutes()...)
	}
	return rs
}

// serve adapts an apiHandler to http.Handler.
func (a *api) serve(h apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.fail(w, r, err)
		}
	})
}

// pathID reads the path wildcard name as a positive id. Anything else names
// no resource: 404.
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errRouteNotFound
	}
	return id, nil
}

// decodeJSON reads the request body, at most MaxJSONBytes of it, into v.
// Unknown fields are refused, naming the field, so that a misspelt
// "list" for "lists" is an error and not a silent default. timeField names
// the field a bad time is reported under: encoding/json does not say which
// field a time.Time's own parse error came from. Empty means "body".
func (a *api) decodeJSON(w http.ResponseWriter, r *http.Request, v any, timeField string) error {
	body := &watchedReader{r: http.MaxBytesReader(w, r.Body, a.deps.MaxJSONBytes)}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = errTrailingData
		}
	}
	switch {
	case err == nil:
		return nil
	case body.err != nil && isMaxBytes(body.err):
		return errBodyTooLarge
	case body.err != nil:
		return errBodyUnreadable
	}
	return jsonError(err, cmp.Or(timeField, "body"))
}

// watchedReader remembers the error its reader returned, other than EOF,
// which tells a body that could not be read from one that is not JSON.
type watchedReader struct {
	r   io.Reader
	err error
}

func (w *watchedReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		w.err = err
	}
	return n, err
}

// Request body errors of decodeJSON.
var (
	// errEmptyBody is a request without a body; it is a 400 where a body
	// is required, and fine where the body is optional.
	errEmptyBody = fmt.Errorf("%w: empty", errInvalidJSON)
	// errTrailingData is a body with more after its JSON value.
	errTrailingData = fmt.Errorf("%w: data after the value", errInvalidJSON)
)

// jsonError turns a failure to decode a body that was read in full into an
// error the table knows, naming the field where encoding/json says which.
func jsonError(err error, timeField string) error {
	if err == io.EOF { //nolint:errorlint // Decode returns io.EOF itself, unwrapped, for an empty body
		return errEmptyBody
	}
	if errors.Is(err, errInvalidJSON) {
		return err
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return &ValidationError{Fields: map[string]string{cmp.Or(te.Field, "body"): "want a JSON " + jsonKind(te.Type.String())}}
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &ValidationError{Fields: map[string]string{strings.Trim(f, `"`): "unknown field"}}
	}
	if _, ok := errors.AsType[*time.ParseError](err); ok {
		return &ValidationError{Fields: map[string]string{timeField: "want an RFC 3339 time such as 2026-10-12T09:30:00Z: " + err.Error()}}
	}
	if _, ok := errors.AsType[*json.SyntaxError](err); ok || errors.Is(err, io.ErrUnexpectedEOF) {
		return errInvalidJSON
	}
	// A value some type's UnmarshalJSON refused; the message says which.
	return &ValidationError{Fields: map[string]string{"body": strings.TrimPrefix(err.Error(), "json: ")}}
}

// jsonKind names a Go type the way a JSON client thinks of it.
func jsonKind(goType string) string {
	switch {
	case goType == "time.Time":
		return "string holding an RFC 3339 time"
	case strings.HasPrefix(goType, "[]"):
		return "array"
	case strings.HasPrefix(goType, "map["), strings.Contains(goType, "."):
		return "object"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"):
		return "number"
	case goType == "bool":
		return "boolean"
	default:
		return goType
	}
}

// created answers 201 with v and the Location of the new resource.
func created(w http.ResponseWriter, location string, v any) error {
	w.Header().Set("Location", location)
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// respond answers 200 with v.
func respond(w http.ResponseWriter, v any) error {
	writeJSON(w, http.StatusOK, v)
	return nil
}
