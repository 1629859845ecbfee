package wasim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/herald-sh/herald/internal/whatsapp"
)

// template is a registered template with what sends of it must carry.
type template struct {
	def  TemplateDef
	info whatsapp.TemplateInfo
	// specs are info.Params(): the simulator validates sends against the
	// same derivation herald's binding code uses.
	specs []whatsapp.ParamSpec
	// bodyFixedLen is the body text length without its placeholders, for
	// the 1,024-character limit (132005).
	bodyFixedLen int
}

type templateKey struct{ name, language string }

// namedHeaderParam is the header variable's name in a named template.
const namedHeaderParam = "header"

func newTemplate(i int, def TemplateDef) *template {
	named := len(def.ParamNames) > 0
	info := whatsapp.TemplateInfo{
		ID:              strconv.Itoa(1_000_000_000_000_000 + i),
		Name:            def.Name,
		Language:        def.Language,
		Status:          def.Status,
		Category:        def.Category,
		ParameterFormat: whatsapp.ParameterFormatPositional,
	}
	if named {
		info.ParameterFormat = whatsapp.ParameterFormatNamed
	}
	if def.HeaderParams == 1 {
		v := "{{1}}"
		if named {
			v = "{{" + namedHeaderParam + "}}"
		}
		info.Components = append(info.Components, whatsapp.TemplateComponent{Type: "HEADER", Format: "TEXT", Text: "Update " + v})
	}

	var vars []string
	if named {
		for _, n := range def.ParamNames {
			vars = append(vars, "{{"+n+"}}")
		}
	} else {
		for n := 1; n <= def.BodyParams; n++ {
			vars = append(vars, "{{"+strconv.Itoa(n)+"}}")
		}
	}
	fixed := "Message " + def.Name + "."
	body := fixed
	if len(vars) > 0 {
		body = "Hello " + strings.Join(vars, ", ") + ". " + fixed
	}
	info.Components = append(info.Components, whatsapp.TemplateComponent{Type: "BODY", Text: body})

	if len(def.Buttons) > 0 {
		c := whatsapp.TemplateComponent{Type: "BUTTONS"}
		for _, b := range def.Buttons {
			c.Buttons = append(c.Buttons, whatsapp.TemplateButton{Type: strings.ToUpper(b.SubType), Text: b.Text, URL: b.URL})
		}
		info.Components = append(info.Components, c)
	}
	return &template{
		def:          def,
		info:         info,
		specs:        info.Params(),
		bodyFixedLen: len(body) - len(strings.Join(vars, "")),
	}
}

// firstQuickReply returns the index and text of the template's first
// quick-reply button, or -1.
func (t *template) firstQuickReply() (int, string) {
	for i, b := range t.def.Buttons {
		if b.SubType == ButtonQuickReply {
			return i, b.Text
		}
	}
	return -1, ""
}

// templatesPage is the GET message_templates answer.
type templatesPage struct {
	Data   []whatsapp.TemplateInfo `json:"data"`
	Paging struct {
		Cursors struct {
			Before string `json:"before,omitempty"`
			After  string `json:"after,omitempty"`
		} `json:"cursors"`
		Next string `json:"next,omitempty"`
	} `json:"paging"`
}

// handleTemplates answers GET /{version}/{waba_id}/message_templates with
// Graph cursor paging (limit, after) and the name, status and language
// filters.
func (s *Server) handleTemplates(w http.ResponseWriter, r *http.Request) {
	s.countRequest()
	if apiErr := s.authenticate(r); apiErr != nil {
		s.writeError(w, r, apiErr)
		return
	}
	if waba := r.PathValue("waba"); waba != s.cfg.WABAID {
		s.writeError(w, r, newError(100, "Unsupported get request. Object with ID '"+waba+"' does not exist"))
		return
	}
	q := r.URL.Query()
	limit := 25
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			s.writeError(w, r, newError(100, "(#100) Param limit must be a positive integer"))
			return
		}
		limit = min(n, 1000)
	}
	offset := 0
	if v := q.Get("after"); v != "" {
		n, ok := decodeCursor(v)
		if !ok {
			s.writeError(w, r, newError(100, "(#100) Invalid cursor"))
			return
		}
		offset = n
	}

	var matching []whatsapp.TemplateInfo
	for _, t := range s.templateList {
		if (q.Get("name") == "" || q.Get("name") == t.info.Name) &&
			(q.Get("status") == "" || strings.EqualFold(q.Get("status"), t.info.Status)) &&
			(q.Get("language") == "" || q.Get("language") == t.info.Language) {
			matching = append(matching, t.info)
		}
	}
	offset = min(offset, len(matching))
	end := min(offset+limit, len(matching))

	var page templatesPage
	page.Data = matching[offset:end]
	if page.Data == nil {
		page.Data = []whatsapp.TemplateInfo{}
	}
	if end > offset {
		page.Paging.Cursors.Before = encodeCursor(offset)
		page.Paging.Cursors.After = encodeCursor(end)
	}
	if end < len(matching) {
		next := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
		if r.TLS != nil {
			next.Scheme = "https"
		}
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("limit", strconv.Itoa(limit))
		nq.Set("after", page.Paging.Cursors.After)
		next.RawQuery = nq.Encode()
		page.Paging.Next = next.String()
	}
	s.writeJSON(w, r, http.StatusOK, page)
}

// Cursors are opaque to clients, as Graph's are.
func encodeCursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(offset)))
}

func decodeCursor(c string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	v, ok := strings.CutPrefix(string(b), "o:")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 0
}

func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	if !s.wait(r) {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
