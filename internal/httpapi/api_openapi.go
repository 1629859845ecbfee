package httpapi

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// openAPIFS holds openapi.json, the hand-written OpenAPI 3.1 description of
// every route routes can mount.
//
//go:embed openapi.json
var openAPIFS embed.FS

// openAPIDocument returns openapi.json reduced to the routes mounted: the
// schedule routes are in it only when a Scheduler is. It panics if the file
// is not valid JSON, which the tests catch long before a deployment does.
func openAPIDocument(routes []apiRoute) []byte {
	raw, err := openAPIFS.ReadFile("openapi.json")
	if err != nil {
		panic(fmt.Sprintf("httpapi: read embedded openapi.json: %v", err))
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		panic(fmt.Sprintf("httpapi: embedded openapi.json: %v", err))
	}
	mounted := map[string]bool{}
	for _, rt := range routes {
		mounted[strings.ToLower(rt.method)+" "+rt.path] = true
	}
	paths, _ := doc["paths"].(map[string]any)
	for path, item := range paths {
		ops, _ := item.(map[string]any)
		for method := range ops {
			if isHTTPMethod(method) && !mounted[method+" "+path] {
				delete(ops, method)
			}
		}
		if len(ops) == 0 {
			delete(paths, path)
		}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("httpapi: encode openapi.json: %v", err))
	}
	return append(b, '\n')
}

// isHTTPMethod reports whether a key of an OpenAPI path item is an
// operation (and not parameters, summary …).
func isHTTPMethod(k string) bool {
	switch k {
	case "get", "put", "post", "delete", "options", "head", "patch", "trace":
		return true
	}
	return false
}

// handleOpenAPI serves the OpenAPI document, without a token: it says what
// the API is, not what is in it.
func (a *api) handleOpenAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(a.openapi)
	return nil
}
