package campaigns

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herald-sh/herald/internal/whatsapp"
)

// Binding sets one template parameter from a contact: a field (name, email,
// phone, country) or an attribute imported with the contact, or a literal
// value. A recipient whose bound value is empty and who has no default is
// excluded with the reason missing_parameter, never sent "Hello ,".
type Binding struct {
	Component string `json:"component"`       // header | body | button
	Index     int    `json:"index,omitempty"` // buttons: zero-based position
	Param     string `json:"param"`           // "1", "2"… or the parameter name
	Field     string `json:"field,omitempty"` // name, email, phone, country, or an attribute key
	Value     string `json:"value,omitempty"` // a literal, used when Field is empty
	Default   string `json:"default,omitempty"`
	// Format is applied when the message is built: "" (as is), "upper",
	// "lower", "title", "date:LAYOUT" (Go layout; the value must be an ISO
	// date), "currency:CODE" (the value is a decimal amount).
	Format string `json:"format,omitempty"`
}

// contactFields are the columns a binding may name; anything else is an
// attribute key.
var contactFields = map[string]bool{"name": true, "email": true, "phone": true, "country": true}

// ParseBinding reads the CLI form "SLOT=SOURCE[,default=D][,format=F]" where
// SLOT is "1", "first_name", "header.1", "body.2" or "button.0" and SOURCE is a
// field, "attr:KEY" or "'literal'".
func ParseBinding(s string) (Binding, error) {
	slot, rest, ok := strings.Cut(s, "=")
	if !ok || slot == "" || rest == "" {
		return Binding{}, fmt.Errorf("binding %q: want SLOT=SOURCE, e.g. 1=name", s)
	}
	b := Binding{Component: "body", Param: slot}
	if comp, p, ok := strings.Cut(slot, "."); ok {
		b.Component, b.Param = comp, p
		if comp == "button" {
			idx, err := strconv.Atoi(p)
			if err != nil {
				return Binding{}, fmt.Errorf("binding %q: button index %q is not a number", s, p)
			}
			b.Index, b.Param = idx, "1"
		}
	}
	switch b.Component {
	case "header", "body", "button":
	default:
		return Binding{}, fmt.Errorf("binding %q: component %q: want header, body or button", s, b.Component)
	}
	parts := strings.Split(rest, ",")
	src := parts[0]
	switch {
	case strings.HasPrefix(src, "attr:"):
		b.Field = strings.TrimPrefix(src, "attr:")
	case len(src) >= 2 && src[0] == '\'' && src[len(src)-1] == '\'':
		b.Value = src[1 : len(src)-1]
	default:
		b.Field = src
	}
	for _, opt := range parts[1:] {
		k, v, _ := strings.Cut(opt, "=")
		switch k {
		case "default":
			b.Default = v
		case "format":
			b.Format = v
		default:
			return Binding{}, fmt.Errorf("binding %q: unknown option %q (want default= or format=)", s, k)
		}
	}
	if b.Field == "" && b.Value == "" {
		return Binding{}, fmt.Errorf("binding %q: empty source", s)
	}
	return b, nil
}

// key identifies the template slot a binding fills.
func (b Binding) key() string {
	if b.Component == "button" {
		return fmt.Sprintf("button.%d", b.Index)
	}
	return b.Component + "." + b.Param
}

func specKey(s whatsapp.ParamSpec) string {
	switch {
	case s.Component == "button":
		return fmt.Sprintf("button.%d", s.Index)
	case s.Name != "":
		return s.Component + "." + s.Name
	default:
		return s.Component + "." + strconv.Itoa(s.Position)
	}
}

// label describes a binding for people: "body {{1}} ← name".
func (b Binding) label() string {
	src := b.Field
	if src == "" {
		src = strconv.Quote(b.Value)
	}
	if b.Component == "button" {
		return fmt.Sprintf("button %d ← %s", b.Index, src)
	}
	return fmt.Sprintf("%s {{%s}} ← %s", b.Component, b.Param, src)
}

// ValidateBindings checks bindings against what the template needs: every
// required parameter bound exactly once, nothing bound that the template
// lacks, formats known. It returns every problem at once.
func ValidateBindings(t Template, bindings []Binding) error {
	ve := &ValidationError{Fields: map[string]string{}}
	specs := map[string]whatsapp.ParamSpec{}
	for _, s := range t.Params {
		specs[specKey(s)] = s
	}
	seen := map[string]bool{}
	for _, b := range bindings {
		k := b.key()
		if seen[k] {
			ve.Fields[k] = "bound twice"
			continue
		}
		seen[k] = true
		if _, ok := specs[k]; !ok {
			ve.Fields[k] = fmt.Sprintf("template %s has no such parameter (it has %s)", t.Name, strings.Join(t.slots(), ", "))
			continue
		}
		if err := checkFormat(b.Format); err != nil {
			ve.Fields[k] = err.Error()
		}
	}
	for k, s := range specs {
		if !seen[k] && !s.Optional {
			ve.Fields[k] = "not bound"
		}
	}
	if len(ve.Fields) > 0 {
		return ve
	}
	return nil
}

func checkFormat(f string) error {
	switch {
	case f == "", f == "upper", f == "lower", f == "title":
		return nil
	case strings.HasPrefix(f, "date:") && len(f) > 5:
		return nil
	case strings.HasPrefix(f, "currency:") && len(f) == len("currency:")+3:
		return nil
	}
	return fmt.Errorf("format %q: want upper, lower, title, date:LAYOUT or currency:CODE", f)
}

// formatValue applies a binding's format to a resolved value.
func formatValue(format, v string) (whatsapp.Parameter, error) {
	switch {
	case format == "upper":
		return whatsapp.TextParam(strings.ToUpper(v)), nil
	case format == "lower":
		return whatsapp.TextParam(strings.ToLower(v)), nil
	case format == "title":
		words := strings.Fields(strings.ToLower(v))
		for i, w := range words {
			r := []rune(w)
			r[0] = []rune(strings.ToUpper(string(r[0])))[0]
			words[i] = string(r)
		}
		return whatsapp.TextParam(strings.Join(words, " ")), nil
	case strings.HasPrefix(format, "date:"):
		d, err := time.Parse(time.DateOnly, strings.TrimSpace(v))
		if err != nil {
			return whatsapp.Parameter{}, fmt.Errorf("value %q is not an ISO date", v)
		}
		return whatsapp.Parameter{Type: "date_time", DateTime: &whatsapp.DateTime{FallbackValue: d.Format(strings.TrimPrefix(format, "date:"))}}, nil
	case strings.HasPrefix(format, "currency:"):
		code := strings.TrimPrefix(format, "currency:")
		amount, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(v), ",", "."), 64)
		if err != nil {
			return whatsapp.Parameter{}, fmt.Errorf("value %q is not an amount", v)
		}
		return whatsapp.Parameter{Type: "currency", Currency: &whatsapp.Currency{
			FallbackValue: fmt.Sprintf("%s %.2f", code, amount),
			Code:          code,
			Amount1000:    int64(amount*1000 + 0.5),
		}}, nil
	}
	return whatsapp.TextParam(v), nil
}

// BuildComponents turns a send's frozen values (one per binding, in binding
// order) into the template components of the request. Quick-reply buttons
// nobody bound carry a payload naming the send, so a tap is traced back to it
// even without a context id.
func BuildComponents(t Template, bindings []Binding, values []string, sendID int64) ([]whatsapp.Component, error) {
	return newComponentPlan(t, bindings).build(values, sendID)
}

// componentPlan is what BuildComponents works out once per campaign: for
// each parameter of the template, its component and the binding that fills
// it. Dispatch builds one per job and uses it for every send.
type componentPlan struct {
	t        Template
	bindings []Binding
	params   []plannedParam
	textLen  map[string]int // characters of each limited component's text, placeholders included
	holes    map[string]int // placeholders in it
}

type plannedParam struct {
	spec    whatsapp.ParamSpec
	comp    whatsapp.Component // without parameters
	binding int                // index in bindings; -1 if unbound
}

func newComponentPlan(t Template, bindings []Binding) *componentPlan {
	byKey := map[string]int{}
	for i, b := range bindings {
		byKey[b.key()] = i
	}
	p := &componentPlan{t: t, bindings: bindings, textLen: map[string]int{}, holes: map[string]int{}}
	for _, c := range t.Info.Components {
		if typ := strings.ToLower(c.Type); textLimits[typ] > 0 {
			p.textLen[typ] = utf8.RuneCountInString(c.Text)
			p.holes[typ] = strings.Count(c.Text, "{{")
		}
	}
	for _, s := range t.Params {
		c := whatsapp.Component{Type: s.Component}
		if s.Component == "button" {
			c.SubType, c.Index = s.SubType, strconv.Itoa(s.Index)
		}
		i, bound := byKey[specKey(s)]
		if !bound {
			i = -1
		}
		p.params = append(p.params, plannedParam{spec: s, comp: c, binding: i})
	}
	return p
}

func (pl *componentPlan) build(values []string, sendID int64) ([]whatsapp.Component, error) {
	bindings := pl.bindings
	if len(values) != len(bindings) {
		return nil, fmt.Errorf("send %d has %d values for %d bindings", sendID, len(values), len(bindings))
	}
	var comps []whatsapp.Component
	add := func(c whatsapp.Component, p whatsapp.Parameter) {
		for i := range comps {
			if comps[i].Type == c.Type && comps[i].Index == c.Index {
				comps[i].Parameters = append(comps[i].Parameters, p)
				return
			}
		}
		c.Parameters = []whatsapp.Parameter{p}
		comps = append(comps, c)
	}
	for _, pp := range pl.params {
		s, c, i := pp.spec, pp.comp, pp.binding
		if i < 0 {
			if s.SubType == "quick_reply" {
				add(c, whatsapp.Parameter{Type: "payload", Payload: ButtonPayload(sendID, s.Index)})
			}
			continue
		}
		var p whatsapp.Parameter
		switch s.Type {
		case "text":
			var err error
			if p, err = formatValue(bindings[i].Format, values[i]); err != nil {
				return nil, fmt.Errorf("%s: %w", bindings[i].label(), err)
			}
		case "image", "video", "document":
			m := &whatsapp.Media{Link: values[i]}
			if !strings.HasPrefix(values[i], "http") {
				m = &whatsapp.Media{ID: values[i]}
			}
			p = whatsapp.Parameter{Type: s.Type}
			switch s.Type {
			case "image":
				p.Image = m
			case "video":
				p.Video = m
			default:
				p.Document = m
			}
		case "coupon_code":
			p = whatsapp.Parameter{Type: "coupon_code", CouponCode: values[i]}
		case "payload":
			p = whatsapp.Parameter{Type: "payload", Payload: values[i]}
		default:
			p = whatsapp.TextParam(values[i])
		}
		p.ParameterName = s.Name
		add(c, p)
	}
	if err := pl.checkLengths(comps); err != nil {
		return nil, err
	}
	return comps, nil
}

// Meta's limits on a template's text once its variables are filled in
// (reference §2.4); beyond them the Cloud API answers 132005.
var textLimits = map[string]int{"header": 60, "body": 1024}

// checkLengths refuses a message whose header or body would be too long
// after substitution, before it costs a request.
func checkLengths(t Template, comps []whatsapp.Component) error {
	for typ, limit := range textLimits {
		text := componentText(t, comps, typ)
		if n := len([]rune(text)); n > limit {
			return &whatsapp.Error{Code: 132005, Title: "Text too long",
				Details: fmt.Sprintf("%s is %d characters after substitution; the limit is %d", typ, n, limit)}
		}
	}
	return nil
}

// checkLengths is checkLengths for one send, rendering the text only when
// it could be too long: the template's text with its placeholders, plus
// every value as many times as there are placeholders, is never shorter
// than the text they make.
func (pl *componentPlan) checkLengths(comps []whatsapp.Component) error {
	for typ, limit := range textLimits {
		values := 0
		for _, c := range comps {
			if c.Type != typ {
				continue
			}
			for _, p := range c.Parameters {
				values += utf8.RuneCountInString(p.Text)
				if p.Currency != nil {
					values += utf8.RuneCountInString(p.Currency.FallbackValue)
				}
				if p.DateTime != nil {
					values += utf8.RuneCountInString(p.DateTime.FallbackValue)
				}
			}
		}
		if pl.textLen[typ]+pl.holes[typ]*values > limit {
			return checkLengths(pl.t, comps)
		}
	}
	return nil
}

// ButtonPayload is the quick-reply payload herald puts on unbound buttons.
func ButtonPayload(sendID int64, index int) string {
	return "herald:" + strconv.FormatInt(sendID, 10) + ":" + strconv.Itoa(index)
}

// parseButtonPayload reads a payload made by ButtonPayload.
func parseButtonPayload(p string) (sendID int64, index int, ok bool) {
	rest, found := strings.CutPrefix(p, "herald:")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rest, ":")
	if !found {
		return 0, 0, false
	}
	id, err1 := strconv.ParseInt(a, 10, 64)
	idx, err2 := strconv.Atoi(b)
	return id, idx, err1 == nil && err2 == nil
}

// CallbackData is the biz_opaque_callback_data of a send; status webhooks
// echo it, which is how a send whose answer was lost is reconciled.
func CallbackData(sendID int64) string { return "send:" + strconv.FormatInt(sendID, 10) }

func parseCallbackData(s string) (int64, bool) {
	rest, ok := strings.CutPrefix(s, "send:")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0
}
