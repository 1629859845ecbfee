package importer

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// headerScanRows is how many non-blank rows at the top of a file are looked
// at for the header, so that title rows above it do not get in the way.
const headerScanRows = 30

// Fields a column can be mapped to (Options.Mappings values).
const (
	FieldPhone     = "phone"
	FieldName      = "name"
	FieldEmail     = "email"
	FieldConsent   = "consent"
	FieldFirstName = "first_name"
	FieldLastName  = "last_name"
	FieldAttribute = "attribute"
	FieldIgnore    = "ignore"
)

// Column is how one column of the file is read.
type Column struct {
	// Header is the column's header as written in the file.
	Header string `json:"header"`
	// Field is phone, name, email, consent, attribute or ignore. First and
	// last name columns are attributes that also make the name when there
	// is no name column.
	Field string `json:"field"`
	// Attribute is the attribute key, for attribute columns.
	Attribute string `json:"attribute,omitempty"`

	index int
}

// layout is the header row and what each column means.
type layout struct {
	line    int // line of the header row
	width   int // header cells, trailing empty ones left out
	columns []Column
	phone   int
	name    int // -1 when absent, here and below
	email   int
	consent int
	first   int
	last    int
}

// Synonyms, as normalised by headerKey. Phone columns are ranked: a
// WhatsApp column beats a mobile one, which beats a plain phone column, so
// that the usual "Telefone" and "Celular" pair is not ambiguous.
var (
	phoneTiers = []struct{ exact, tokens []string }{
		{
			exact: []string{"whatsapp", "whats_app", "whatsapp_number", "whatsapp_phone", "numero_whatsapp",
				"numero_de_whatsapp", "numero_do_whatsapp", "wa_number", "wa_id", "zap", "telefone_whatsapp",
				"celular_whatsapp", "telefono_whatsapp"},
			tokens: []string{"whatsapp"},
		},
		{
			exact: []string{"mobile", "mobile_phone", "mobile_number", "mobile_no", "cell", "cell_phone", "cellphone",
				"cell_number", "celular", "telefone_celular", "numero_celular", "numero_de_celular", "movil",
				"telefono_movil", "numero_movil", "numero_de_movil", "celular_movil", "telemovel", "msisdn"},
			tokens: []string{"mobile", "cell", "cellphone", "celular", "movil", "telemovel"},
		},
		{
			exact: []string{"phone", "phone_number", "phonenumber", "phone_no", "telephone", "tel", "telefone", "fone",
				"telefono", "numero_de_telefone", "numero_de_telefono", "numero_telefone", "numero_telefono",
				"contact_number", "numero", "number"},
			tokens: []string{"phone", "telephone", "telefone", "telefono", "fone", "tel"},
		},
	}
	nameHeaders = []string{"name", "full_name", "fullname", "nome", "nome_completo", "nombre", "nombre_completo",
		"contact_name", "contact", "contato", "contacto", "customer", "customer_name", "client", "client_name",
		"cliente", "nome_do_cliente", "nome_cliente", "nombre_del_cliente", "nombre_cliente"}
	firstNameHeaders = []string{"first_name", "firstname", "given_name", "primeiro_nome", "prenome", "nombre_de_pila"}
	lastNameHeaders  = []string{"last_name", "lastname", "surname", "family_name", "sobrenome", "ultimo_nome",
		"apellido", "apellidos"}
	emailHeaders = []string{"email", "e_mail", "mail", "email_address", "e_mail_address", "correo",
		"correo_electronico", "endereco_de_email", "endereco_email", "endereco_de_e_mail"}
	emailParts   = []string{"email", "e_mail"}
	consentExact = []string{"consent", "consents", "consented", "consentimento", "consentimiento", "opt_in", "optin",
		"opted_in", "opt_in_whatsapp", "whatsapp_opt_in", "whatsapp_optin", "marketing_opt_in",
		"accepts_marketing", "accepts_whatsapp", "aceita", "aceite", "aceito", "aceita_whatsapp", "aceita_receber",
		"aceita_contato", "acepta", "acepto", "acepta_whatsapp", "autoriza", "autorizacao", "autorizacion",
		"permission", "permissao", "permiso", "subscribed", "consent_date", "opt_in_date", "data_consentimento",
		"data_do_consentimento", "data_opt_in", "fecha_consentimiento", "fecha_opt_in"}
	consentParts = []string{"opt_in", "optin", "consent", "aceita", "acepta", "autoriza", "permiss"}
)

// headerKey normalises a header for matching and as an attribute key: no
// accents or compatibility forms, lower case, runs of anything but letters
// and digits as one "_". "Teléfono Móvil" and "TELEFONO-MOVIL" are both
// "telefono_movil".
func headerKey(h string) string {
	var b strings.Builder
	sep := false
	for _, r := range norm.NFKD.String(h) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if sep && b.Len() > 0 {
				b.WriteByte('_')
			}
			sep = false
			b.WriteRune(unicode.ToLower(r))
		default:
			sep = true
		}
	}
	return b.String()
}

// findLayout reads src up to and including the header row: the row
// headerRow when it is set, otherwise the first row where a phone column
// can be told. Rows above it are skipped.
func findLayout(src rowSource, headerRow int, mappings map[string]string) (*layout, error) {
	var widest []string
	for scanned := 0; ; {
		line, cells, err := src.next()
		var rerr *RowError
		switch {
		case errors.As(err, &rerr):
			if headerRow > 0 && line >= headerRow {
				return nil, &FileError{Problem: fmt.Sprintf("the header row %d cannot be read: %s", headerRow, rerr.Reason)}
			}
			continue
		case err == io.EOF:
			return nil, noHeaderError(headerRow, widest, mappings)
		case err != nil:
			return nil, err
		}
		if headerRow > 0 {
			if line < headerRow {
				continue
			}
			if line > headerRow || blank(cells) {
				return nil, &FileError{Problem: fmt.Sprintf("row %d, given as the header row, is empty", headerRow)}
			}
			l, err := newLayout(line, cells, mappings)
			if err != nil {
				return nil, err
			}
			if l.phone < 0 {
				return nil, noHeaderError(0, cells, mappings)
			}
			return l, nil
		}
		if blank(cells) {
			continue
		}
		if nonEmpty(cells) > nonEmpty(widest) {
			widest = cells
		}
		l, err := newLayout(line, cells, mappings)
		if err != nil {
			return nil, err
		}
		if l.phone >= 0 {
			return l, nil
		}
		if scanned++; scanned >= headerScanRows {
			return nil, noHeaderError(0, widest, mappings)
		}
	}
}

func noHeaderError(headerRow int, widest []string, mappings map[string]string) error {
	if headerRow > 0 {
		return &FileError{Problem: fmt.Sprintf("the file has no row %d to use as the header", headerRow)}
	}
	if widest == nil {
		return &FileError{Problem: "the file has no rows"}
	}
	keys := make([]string, len(widest))
	for i, h := range widest {
		keys[i] = headerKey(h)
	}
	for h, field := range mappings {
		if i, err := findColumn(widest, keys, h); err == nil && i < 0 {
			return &FileError{Problem: fmt.Sprintf("there is no column %q to map to %s: the headers are %s",
				h, field, quoteList(trimmedHeaders(widest)))}
		}
	}
	return noPhoneError(widest)
}

func noPhoneError(headers []string) error {
	return &FileError{Problem: "no phone column found: the headers are " + quoteList(trimmedHeaders(headers)) +
		`; name the column "phone", "whatsapp", "telefone", "celular" or "teléfono", or map it to phone`}
}

// newLayout reads a candidate header row. Without a phone column the layout
// has phone -1; several equally good phone columns are an error.
func newLayout(line int, cells []string, mappings map[string]string) (*layout, error) {
	l := &layout{line: line, phone: -1, name: -1, email: -1, consent: -1, first: -1, last: -1}
	l.width = len(cells)
	for l.width > 0 && strings.TrimSpace(cells[l.width-1]) == "" {
		l.width--
	}
	keys := make([]string, l.width)
	mapped := make([]string, l.width)
	for i := range keys {
		keys[i] = headerKey(cells[i])
	}
	for h, field := range mappings {
		i, err := findColumn(cells[:l.width], keys, h)
		if err != nil {
			return nil, err
		}
		if i < 0 {
			// The mapping may name a column of the real header row
			// further down; a row without it is not the header.
			return l, nil
		}
		mapped[i] = field
	}
	explicit := func(field string) int {
		for i, f := range mapped {
			if f == field {
				return i
			}
		}
		return -1
	}
	var err error
	if l.phone = explicit(FieldPhone); l.phone < 0 {
		if l.phone, err = guessPhone(cells, keys, mapped); err != nil {
			return nil, err
		}
	}
	taken := map[int]bool{l.phone: true}
	l.name = pick(explicit(FieldName), keys, mapped, taken, nameHeaders, nil)
	l.email = pick(explicit(FieldEmail), keys, mapped, taken, emailHeaders, emailParts)
	l.consent = pick(explicit(FieldConsent), keys, mapped, taken, consentExact, consentParts)
	l.first = pick(explicit(FieldFirstName), keys, mapped, taken, firstNameHeaders, nil)
	l.last = pick(explicit(FieldLastName), keys, mapped, taken, lastNameHeaders, nil)

	seen := map[string]int{}
	for i := 0; i < l.width; i++ {
		c := Column{Header: strings.TrimSpace(cells[i]), index: i}
		switch {
		case i == l.phone:
			c.Field = FieldPhone
		case i == l.name:
			c.Field = FieldName
		case i == l.email:
			c.Field = FieldEmail
		case i == l.consent:
			c.Field = FieldConsent
		case mapped[i] == FieldIgnore:
			c.Field = FieldIgnore
		default:
			c.Field = FieldAttribute
			c.Attribute = keys[i]
			if m := mapped[i]; m != "" && m != FieldAttribute && m != FieldFirstName && m != FieldLastName {
				c.Attribute = headerKey(m)
			}
			if c.Attribute == "" {
				c.Attribute = "column_" + strconv.Itoa(i+1)
			}
			if n := seen[c.Attribute]; n > 0 {
				c.Attribute += "_" + strconv.Itoa(n+1)
			}
			seen[c.Attribute]++
		}
		l.columns = append(l.columns, c)
	}
	return l, nil
}

// findColumn finds the column a mapping names, by its exact header or by
// its normalised key; -1 when there is none.
func findColumn(headers, keys []string, name string) (int, error) {
	found := -1
	for i, h := range headers {
		if strings.TrimSpace(h) == strings.TrimSpace(name) {
			if found >= 0 {
				return 0, &FileError{Problem: fmt.Sprintf("two columns are named %q; rename one of them", name)}
			}
			found = i
		}
	}
	if found >= 0 {
		return found, nil
	}
	want := headerKey(name)
	for i, k := range keys {
		if k == want && k != "" {
			if found >= 0 {
				return 0, &FileError{Problem: fmt.Sprintf("columns %q and %q both match the mapping for %q; rename one of them",
					headers[found], headers[i], name)}
			}
			found = i
		}
	}
	return found, nil
}

// guessPhone finds the phone column by its header; see phoneTiers.
func guessPhone(cells, keys, mapped []string) (int, error) {
	for _, tier := range phoneTiers {
		for _, byTokens := range []bool{false, true} {
			var found []int
			for i, k := range keys {
				if mapped[i] != "" || k == "" || looksLikeConsent(k) {
					continue // "Aceita WhatsApp" is consent, not a number
				}
				if (!byTokens && contains(tier.exact, k)) || (byTokens && sharesToken(k, tier.tokens)) {
					found = append(found, i)
				}
			}
			switch len(found) {
			case 0:
				continue
			case 1:
				return found[0], nil
			}
			names := make([]string, len(found))
			for j, i := range found {
				names[j] = strings.TrimSpace(cells[i])
			}
			return -1, &FileError{Problem: "several columns could be the phone number: " + quoteList(names) +
				"; map the right one to phone"}
		}
	}
	return -1, nil
}

// pick returns the explicit column, or the first free column whose key is
// one of exact, or else contains one of parts; -1 when none. The column
// found is marked taken.
func pick(explicit int, keys, mapped []string, taken map[int]bool, exact, parts []string) int {
	found := explicit
	for i, k := range keys {
		if found < 0 && mapped[i] == "" && !taken[i] && contains(exact, k) {
			found = i
		}
	}
	for i, k := range keys {
		if found >= 0 {
			break
		}
		if mapped[i] != "" || taken[i] || k == "" {
			continue
		}
		for _, p := range parts {
			if strings.Contains(k, p) {
				found = i
				break
			}
		}
	}
	if found >= 0 {
		taken[found] = true
	}
	return found
}

func looksLikeConsent(key string) bool {
	if contains(consentExact, key) {
		return true
	}
	for _, p := range consentParts {
		if strings.Contains(key, p) {
			return true
		}
	}
	return false
}

func sharesToken(key string, tokens []string) bool {
	for _, t := range strings.Split(key, "_") {
		if contains(tokens, t) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func blank(cells []string) bool { return nonEmpty(cells) == 0 }

func nonEmpty(cells []string) int {
	n := 0
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			n++
		}
	}
	return n
}

func trimmedHeaders(cells []string) []string {
	out := make([]string, 0, len(cells))
	for _, c := range cells {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// parseMappings checks Options.Mappings: header → field, where field is one
// of the Field constants or an attribute key.
func parseMappings(m map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(m))
	fields := map[string]string{}
	for h, f := range m {
		if strings.TrimSpace(h) == "" {
			return nil, &ValidationError{Field: "mappings", Problem: "a mapping names no column"}
		}
		f = strings.TrimSpace(f)
		switch strings.ToLower(f) {
		case "":
			return nil, &ValidationError{Field: "mappings", Problem: fmt.Sprintf("column %q is mapped to nothing", h)}
		case FieldPhone, FieldName, FieldEmail, FieldConsent, FieldFirstName, FieldLastName:
			f = strings.ToLower(f)
			if prev, dup := fields[f]; dup {
				return nil, &ValidationError{Field: "mappings",
					Problem: fmt.Sprintf("columns %q and %q are both mapped to %s", prev, h, f)}
			}
			fields[f] = h
		case FieldIgnore, "skip", "-", "none":
			f = FieldIgnore
		case FieldAttribute, "attr":
			f = FieldAttribute
		default:
			if headerKey(f) == "" {
				return nil, &ValidationError{Field: "mappings", Problem: fmt.Sprintf("column %q: %q is not a field or attribute name", h, f)}
			}
		}
		out[h] = f
	}
	return out, nil
}
