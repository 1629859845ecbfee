package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/scheduler"
)

// openAPIOps returns the served document and its operations as
// "METHOD /path" keys.
func openAPIOps(t *testing.T, b *apiBundle) (map[string]any, []string) {
	t.Helper()
	rec := b.do(httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil))
	doc := decode[map[string]any](t, rec, http.StatusOK)
	var ops []string
	for path, item := range doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			if isHTTPMethod(method) {
				ops = append(ops, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(ops)
	return doc, ops
}

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	doc, ops := openAPIOps(t, b)

	require.True(t, strings.HasPrefix(doc["openapi"].(string), "3.1."), doc["openapi"])
	require.NotEmpty(t, doc["info"].(map[string]any)["title"])

	t.Run("DocumentsEveryRoute", func(t *testing.T) {
		var mounted []string
		for _, rt := range (&api{deps: APIDeps{Scheduler: &scheduler.Scheduler{}}}).routes() {
			mounted = append(mounted, rt.method+" "+rt.path)
		}
		slices.Sort(mounted)
		require.Equal(t, mounted, ops, "routes() and openapi.json list the same operations")
	})

	t.Run("MuxServesEveryOperation", func(t *testing.T) {
		// Each documented operation, with its wildcards filled in, must
		// reach the pattern of the same name, not the /api/v1/ catch-all.
		for _, op := range ops {
			method, path, _ := strings.Cut(op, " ")
			concrete := strings.NewReplacer("{id}", "7", "{name}", "vip").Replace(path)
			_, pattern := b.server.mux.Handler(httptest.NewRequest(method, concrete, nil))
			require.Equal(t, op, pattern, "%s %s", method, concrete)
		}
	})

	t.Run("Operations", func(t *testing.T) {
		ids := map[string]bool{}
		paths := doc["paths"].(map[string]any)
		for _, op := range ops {
			method, path, _ := strings.Cut(op, " ")
			o := paths[path].(map[string]any)[strings.ToLower(method)].(map[string]any)
			id, _ := o["operationId"].(string)
			require.NotEmpty(t, id, op)
			require.False(t, ids[id], "operationId %s twice", id)
			ids[id] = true
			responses := o["responses"].(map[string]any)
			if path == "/api/v1/openapi.json" {
				require.Equal(t, []any{}, o["security"], "the document is public")
			} else {
				require.Contains(t, responses, "401", op)
			}
			for _, wildcard := range []string{"{id}", "{name}"} {
				if strings.Contains(path, wildcard) {
					require.True(t, hasParam(o, strings.Trim(wildcard, "{}")), "%s documents its %s", op, wildcard)
				}
			}
		}
	})

	t.Run("RefsResolve", func(t *testing.T) {
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				if ref, ok := v["$ref"].(string); ok {
					require.NotNil(t, resolve(doc, ref), "$ref %s", ref)
				}
				for _, x := range v {
					walk(x)
				}
			case []any:
				for _, x := range v {
					walk(x)
				}
			}
		}
		walk(doc)
	})
}

func TestOpenAPIWithoutScheduler(t *testing.T) {
	t.Parallel()
	b := setupAPI(t, func(d *APIDeps) { d.Scheduler = nil })
	_, ops := openAPIOps(t, b)
	var mounted []string
	for _, rt := range (&api{}).routes() {
		mounted = append(mounted, rt.method+" "+rt.path)
	}
	slices.Sort(mounted)
	require.Equal(t, mounted, ops, "the document lists only what is mounted")
	for _, op := range ops {
		require.NotContains(t, op, "/schedules")
	}
	_, pattern := b.server.mux.Handler(httptest.NewRequest(http.MethodGet, "/api/v1/schedules", nil))
	require.Equal(t, "/api/v1/", pattern)
}

func TestOpenAPIEmbeddedIsValidJSON(t *testing.T) {
	t.Parallel()
	raw, err := openAPIFS.ReadFile("openapi.json")
	require.NoError(t, err)
	require.True(t, json.Valid(raw))
}

func hasParam(op map[string]any, name string) bool {
	params, _ := op["parameters"].([]any)
	for _, p := range params {
		if p.(map[string]any)["name"] == name && p.(map[string]any)["in"] == "path" {
			return true
		}
	}
	return false
}

// resolve follows a local JSON pointer ("#/components/schemas/Campaign").
func resolve(doc map[string]any, ref string) any {
	var cur any = doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}
