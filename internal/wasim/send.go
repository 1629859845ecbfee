package wasim

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herald-sh/herald/internal/whatsapp"
)

// maxRequestBody bounds a send request; real ones are a few KB.
const maxRequestBody = 1 << 20

// sendRequest is the wire shape of POST /{phone_number_id}/messages.
type sendRequest struct {
	MessagingProduct string `json:"messaging_product"`
	RecipientType    string `json:"recipient_type"`
	To               string `json:"to"`
	Type             string `json:"type"`
	Template         *struct {
		Name     string `json:"name"`
		Language *struct {
			Code   string `json:"code"`
			Policy string `json:"policy"`
		} `json:"language"`
		Components []sendComponent `json:"components"`
	} `json:"template"`
	BizOpaqueCallbackData string `json:"biz_opaque_callback_data"`
}

type sendComponent struct {
	Type    string `json:"type"`
	SubType string `json:"sub_type"`
	// Index is a string in Meta's examples; clients also send a number.
	Index      json.RawMessage      `json:"index"`
	Parameters []whatsapp.Parameter `json:"parameters"`
}

// handleSend answers POST /{version}/{phone_number_id}/messages. Checks run
// in this order: token, request shape, template and parameters, the number's
// throughput (130429), the pair rate (131056), then the failure mix.
func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) {
	// The rate windows count a send when it arrives, as the Cloud API's edge
	// would, not after its body is decoded and checked: a pause of this
	// process in between (a collection) would otherwise bunch sends that
	// arrived apart.
	arrived := s.cfg.NowFunc()
	s.countRequest()
	if apiErr := s.authenticate(r); apiErr != nil {
		s.reject(w, r, apiErr)
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		s.reject(w, r, newError(100, "Could not read the request body"))
		return
	}
	var req sendRequest
	if err := json.Unmarshal(body, &req); err != nil {
		s.reject(w, r, newError(100, "Request body is not valid JSON: "+err.Error()))
		return
	}
	sv, apiErr := s.validate(&req)
	if apiErr != nil {
		s.reject(w, r, apiErr)
		return
	}
	sv.phoneNumberID = r.PathValue("phone")

	o := s.decide(sv, arrived)
	switch o.kind {
	case outcomeError:
		s.reject(w, r, o.err)
	case outcomeHTTP500:
		if s.wait(r) {
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		}
	case outcomeHold:
		s.hold(r)
	case outcomeAccepted:
		s.writeJSON(w, r, http.StatusOK, whatsapp.SendResponse{
			MessagingProduct: "whatsapp",
			Contacts:         []whatsapp.ResponseContact{{Input: req.To, WaID: sv.waID}},
			Messages:         []whatsapp.ResponseMessage{{ID: o.wamid, MessageStatus: whatsapp.MessageStatusAccepted}},
		})
	}
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxRequestBody))
	return buf.Bytes(), err
}

// reject counts and answers a synchronous error.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, apiErr *whatsapp.Error) {
	s.mu.Lock()
	s.stats.Rejected[apiErr.Code]++
	if apiErr.Code == 130429 {
		s.stats.Throttled++
	}
	s.mu.Unlock()
	s.writeError(w, r, apiErr)
}

// validSend is a send that passed validation.
type validSend struct {
	phoneNumberID string
	to            string
	waID          string
	tmpl          *template
	params        []string
	payloads      map[int]string // quick-reply payloads by button index
	biz           string
}

// validate checks a send like the Cloud API does (reference §1.2-1.5).
func (s *Server) validate(req *sendRequest) (*validSend, *whatsapp.Error) {
	if req.MessagingProduct != "whatsapp" {
		return nil, newError(100, "The parameter messaging_product is required and must be \"whatsapp\"")
	}
	if req.RecipientType != "" && req.RecipientType != "individual" {
		return nil, newError(100, "recipient_type must be \"individual\": wasim does not simulate groups")
	}
	if req.Type != "template" {
		return nil, newError(131047, "wasim simulates template sends only; a free-form message needs an open customer service window")
	}
	if req.To == "" {
		return nil, newError(100, "The parameter to is required")
	}
	waID, ok := phoneDigits(req.To)
	if !ok {
		return nil, newError(131009, "Invalid recipient phone number: "+req.To)
	}
	if len(req.BizOpaqueCallbackData) > 512 {
		return nil, newError(100, "biz_opaque_callback_data is longer than 512 characters")
	}
	if req.Template == nil || req.Template.Name == "" {
		return nil, newError(131008, "The parameter template.name is required")
	}
	if req.Template.Language == nil || req.Template.Language.Code == "" {
		return nil, newError(131008, "The parameter template.language.code is required")
	}
	if p := req.Template.Language.Policy; p != "" && p != whatsapp.PolicyDeterministic {
		return nil, newError(100, "template.language.policy must be \"deterministic\"")
	}
	name, lang := req.Template.Name, req.Template.Language.Code
	tmpl, ok := s.templates[templateKey{name, lang}]
	if !ok {
		return nil, newError(132001, "template name ("+name+") does not exist in "+lang)
	}
	switch tmpl.def.Status {
	case whatsapp.TemplateStatusApproved:
	case "PAUSED":
		return nil, newError(132015, "template "+name+" is paused")
	case "DISABLED":
		return nil, newError(132016, "template "+name+" is disabled")
	default:
		return nil, newError(132001, "template name ("+name+") is "+tmpl.def.Status+" in "+lang+", not APPROVED")
	}
	sv := &validSend{to: req.To, waID: waID, tmpl: tmpl, biz: req.BizOpaqueCallbackData}
	if apiErr := sv.checkComponents(req.Template.Components); apiErr != nil {
		return nil, apiErr
	}
	return sv, nil
}

// phoneDigits strips what Meta tolerates in `to` ("+", spaces, hyphens,
// parentheses, dots) and wants 7 to 15 digits (E.164).
func phoneDigits(to string) (string, bool) {
	var b strings.Builder
	for _, r := range to {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' || r == ' ' || r == '-' || r == '(' || r == ')' || r == '.':
		default:
			return "", false
		}
	}
	d := b.String()
	return d, len(d) >= 7 && len(d) <= 15 && d[0] != '0'
}

// checkComponents matches the send's components against the template's
// parameter specs.
func (sv *validSend) checkComponents(comps []sendComponent) *whatsapp.Error {
	var header, body []whatsapp.ParamSpec
	buttons := map[int]whatsapp.ParamSpec{}
	for _, sp := range sv.tmpl.specs {
		switch sp.Component {
		case "header":
			header = append(header, sp)
		case "body":
			body = append(body, sp)
		case "button":
			buttons[sp.Index] = sp
		}
	}
	named := sv.tmpl.info.ParameterFormat == whatsapp.ParameterFormatNamed
	seen := map[string]bool{}
	sv.payloads = map[int]string{}
	for _, c := range comps {
		kind := strings.ToLower(c.Type)
		key := kind
		var index int
		if kind == "button" {
			i, ok := parseIndex(c.Index)
			if !ok {
				return newError(131009, "button index "+string(c.Index)+" is not valid")
			}
			index = i
			key = "button/" + strconv.Itoa(i)
		}
		if seen[key] {
			return newError(100, "component "+key+" appears twice")
		}
		seen[key] = true
		switch kind {
		case "header":
			vals, apiErr := checkTextParams("header", header, c.Parameters, named)
			if apiErr != nil {
				return apiErr
			}
			if total := len("Update ") + textLen(vals); total > 60 {
				return newError(132005, "header text is "+strconv.Itoa(total)+" characters, over 60")
			}
			sv.params = append(vals, sv.params...)
		case "body":
			vals, apiErr := checkTextParams("body", body, c.Parameters, named)
			if apiErr != nil {
				return apiErr
			}
			if total := sv.tmpl.bodyFixedLen + textLen(vals); total > 1024 {
				return newError(132005, "body text is "+strconv.Itoa(total)+" characters, over 1024")
			}
			sv.params = append(sv.params, vals...)
		case "button":
			if apiErr := sv.checkButton(index, c, buttons); apiErr != nil {
				return apiErr
			}
		default:
			return newError(100, "unknown component type "+strconv.Quote(c.Type))
		}
	}
	if len(header) > 0 && !seen["header"] {
		return newError(132000, "header: expected "+strconv.Itoa(len(header))+" parameters, got 0")
	}
	if len(body) > 0 && !seen["body"] {
		return newError(132000, "body: expected "+strconv.Itoa(len(body))+" parameters, got 0")
	}
	for _, i := range slices.Sorted(maps.Keys(buttons)) {
		if sp := buttons[i]; !sp.Optional && !seen["button/"+strconv.Itoa(i)] {
			return newError(131008, "button "+strconv.Itoa(i)+" ("+sp.SubType+") needs a parameter")
		}
	}
	return nil
}

func parseIndex(raw json.RawMessage) (int, bool) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, false
	}
	switch x := v.(type) {
	case string:
		n, err := strconv.Atoi(x)
		return n, err == nil && n >= 0
	case float64:
		return int(x), x >= 0 && x == float64(int(x))
	}
	return 0, false
}

func textLen(vals []string) int {
	n := 0
	for _, v := range vals {
		n += len([]rune(v))
	}
	return n
}

// checkTextParams checks header or body parameters against specs: the count
// (132000), names in a named template (132000 when missing, unknown or
// repeated), types (132012) and empty values (100). It returns the values in
// the template's order for named templates, the request's otherwise.
func checkTextParams(component string, specs []whatsapp.ParamSpec, params []whatsapp.Parameter, named bool) ([]string, *whatsapp.Error) {
	if len(params) != len(specs) {
		return nil, newError(132000, component+": expected "+strconv.Itoa(len(specs))+" parameters, got "+strconv.Itoa(len(params)))
	}
	vals := make([]string, len(params))
	pos := map[string]int{}
	for i, sp := range specs {
		pos[sp.Name] = i
	}
	used := map[string]bool{}
	for i, p := range params {
		v, apiErr := paramValue(component, p)
		if apiErr != nil {
			return nil, apiErr
		}
		if !named {
			vals[i] = v
			continue
		}
		j, ok := pos[p.ParameterName]
		if p.ParameterName == "" || !ok || used[p.ParameterName] {
			return nil, newError(132000, component+": parameter_name "+strconv.Quote(p.ParameterName)+" does not match the template's named parameters")
		}
		used[p.ParameterName] = true
		vals[j] = v
	}
	return vals, nil
}

func paramValue(component string, p whatsapp.Parameter) (string, *whatsapp.Error) {
	var v string
	switch p.Type {
	case "text":
		v = p.Text
	case "currency":
		if component != "body" || p.Currency == nil {
			return "", newError(132012, component+": currency parameter is not valid here")
		}
		v = p.Currency.FallbackValue
	case "date_time":
		if component != "body" || p.DateTime == nil {
			return "", newError(132012, component+": date_time parameter is not valid here")
		}
		v = p.DateTime.FallbackValue
	default:
		return "", newError(132012, component+": parameter type "+strconv.Quote(p.Type)+" does not match the template")
	}
	if strings.TrimSpace(v) == "" {
		return "", newError(100, component+": parameter value is empty")
	}
	return v, nil
}

// checkButton checks one button component.
func (sv *validSend) checkButton(index int, c sendComponent, specs map[int]whatsapp.ParamSpec) *whatsapp.Error {
	at := "button " + strconv.Itoa(index)
	if index >= len(sv.tmpl.def.Buttons) {
		return newError(131009, at+" does not exist in the template")
	}
	def := sv.tmpl.def.Buttons[index]
	if !strings.EqualFold(c.SubType, def.SubType) {
		return newError(131009, at+" is "+def.SubType+", not "+strconv.Quote(c.SubType))
	}
	sp, dynamic := specs[index]
	if !dynamic {
		if len(c.Parameters) > 0 {
			return newError(132000, at+" takes no parameters")
		}
		return nil
	}
	want := 1
	if sp.Optional && len(c.Parameters) == 0 {
		want = 0
	}
	if len(c.Parameters) != want {
		return newError(132000, at+": expected 1 parameter, got "+strconv.Itoa(len(c.Parameters)))
	}
	if want == 0 {
		return nil
	}
	p := c.Parameters[0]
	var v string
	switch {
	case sp.Type == "payload" && p.Type == "payload":
		v = p.Payload
		sv.payloads[index] = v
	case sp.Type == "text" && p.Type == "text":
		v = p.Text
	case sp.Type == "coupon_code" && p.Type == "coupon_code":
		v = p.CouponCode
		if len(v) > 20 {
			return newError(131009, at+": coupon_code is longer than 20 characters")
		}
	default:
		return newError(132012, at+": parameter type "+strconv.Quote(p.Type)+", want "+sp.Type)
	}
	if strings.TrimSpace(v) == "" {
		return newError(100, at+": parameter value is empty")
	}
	return nil
}

type outcomeKind int

const (
	outcomeAccepted outcomeKind = iota + 1
	outcomeError
	outcomeHTTP500
	outcomeHold
)

type outcome struct {
	kind  outcomeKind
	err   *whatsapp.Error
	wamid string
}

// decide applies the rate limits and the failure mix to a valid send and,
// if it is accepted, records it and queues its first webhook. One lock makes
// the rate windows exact and the random draws reproducible.
func (s *Server) decide(sv *validSend, arrived time.Time) outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Sends are decided in lock order; a send that arrived a little before
	// the last one decided counts at that one's time, so the windows' logs
	// stay in order.
	now := arrived
	if now.Before(s.lastDecided) {
		now = s.lastDecided
	}
	s.lastDecided = now

	rate := s.cfg.Rate
	if r, ok := s.cfg.RatePerNumber[sv.phoneNumberID]; ok {
		rate = r
	}
	if rate > 0 {
		w, ok := s.windows[sv.phoneNumberID]
		if !ok || cap(w.times) != rate {
			w = newWindow(rate)
			s.windows[sv.phoneNumberID] = w
		}
		if !w.allow(now) {
			return outcome{kind: outcomeError, err: newError(130429, "Cloud API message throughput has been reached.")}
		}
	}
	if s.cfg.PairBurst > 0 && !s.pairs.allow(pairKey{sv.phoneNumberID, sv.waID}, now) {
		return outcome{kind: outcomeError, err: newError(131056, "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.")}
	}

	f := s.cfg.Failures
	u := s.rng.Float64()
	hold := false
	switch {
	case u < f.HTTP500:
		s.stats.HTTP500++
		return outcome{kind: outcomeHTTP500}
	case u < f.HTTP500+f.Timeout:
		s.stats.TimedOut++
		return outcome{kind: outcomeHold}
	case u < f.HTTP500+f.Timeout+f.TimeoutAccepted:
		s.stats.TimedOut++
		hold = true
	default:
		if code, ok := pick(u-f.HTTP500-f.Timeout-f.TimeoutAccepted, f.SyncCodes); ok {
			return outcome{kind: outcomeError, err: newError(code, syncDetails(code))}
		}
	}

	s.msgSeq++
	wamid := newWAMID(sv.waID, s.msgSeq, s.rng.Uint64())
	s.stats.Accepted++
	s.records = append(s.records, Record{
		WAMID:                 wamid,
		PhoneNumberID:         sv.phoneNumberID,
		To:                    sv.to,
		WaID:                  sv.waID,
		Template:              sv.tmpl.def.Name,
		Language:              sv.tmpl.def.Language,
		Category:              sv.tmpl.def.Category,
		Params:                sv.params,
		BizOpaqueCallbackData: sv.biz,
		At:                    now,
	})
	if s.cfg.WebhookURL != "" {
		s.enqueueLocked(event{msg: s.planLocked(sv, wamid)})
	}
	if hold {
		return outcome{kind: outcomeHold}
	}
	return outcome{kind: outcomeAccepted, wamid: wamid}
}

// pick returns the code whose share of [0,1) holds u, walking codes in
// ascending order so that a seed always means the same thing.
func pick(u float64, shares map[int]float64) (int, bool) {
	for _, code := range slices.Sorted(maps.Keys(shares)) {
		if u < shares[code] {
			return code, true
		}
		u -= shares[code]
	}
	return 0, false
}

func syncDetails(code int) string {
	switch code {
	case 131026:
		return "Unable to deliver message. Reasons can include: the recipient phone number is not a WhatsApp phone number."
	case 131000, 131016:
		return "Something went wrong on our side; please retry."
	default:
		return "Simulated error " + strconv.Itoa(code) + "."
	}
}

// newWAMID returns a wamid in Meta's shape: "wamid." and base64 of an opaque
// id that embeds the recipient and a sequence number, so it is unique.
func newWAMID(waID string, seq, salt uint64) string {
	var b bytes.Buffer
	b.WriteString(waID)
	var n [16]byte
	binary.BigEndian.PutUint64(n[:8], seq)
	binary.BigEndian.PutUint64(n[8:], salt)
	b.Write(n[:])
	return "wamid." + base64.StdEncoding.EncodeToString(b.Bytes())
}
