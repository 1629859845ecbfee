package importer

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Consent states, as stored in contacts.consent.
const (
	ConsentOptedIn    = "opted_in"
	ConsentNotOptedIn = "not_opted_in"
	ConsentOptedOut   = "opted_out"
)

// Consent values a file may hold, in English, Portuguese and Spanish, after
// consentKey. An empty cell means no consent was given.
var (
	consentYes = []string{"yes", "y", "sim", "s", "si", "true", "verdadeiro", "verdadero", "1", "x", "ok",
		"opt in", "opted in", "optin", "subscribed", "aceito", "aceita", "aceite",
		"acepto", "acepta", "autorizo", "autoriza", "consent", "consented", "\u2713", "\u2714", "\u2611"}
	consentNo = []string{"no", "n", "nao", "false", "falso", "0", "not opted in",
		"nao aceito", "nao aceita", "no acepto", "no acepta"}
	consentOut = []string{"opt out", "opted out", "optout", "unsubscribed",
		"descadastrado", "descadastrada", "dado de baja", "baja"}
)

// monthFirstRegions write dates month first (03/05/2024 is March 5th).
var monthFirstRegions = map[string]bool{"US": true, "PH": true, "PR": true, "GU": true, "AS": true,
	"VI": true, "MP": true, "UM": true, "FM": true, "MH": true, "PW": true}

var errConsentFuture = errors.New("consent date is in the future")

// consentParser reads consent cells.
type consentParser struct {
	monthFirst bool      // for ambiguous numeric dates
	now        time.Time // dates after now are refused
}

// parse returns the consent a cell records and, for a date, when it was
// given. An unrecognised value is an error, never a guess.
func (p consentParser) parse(v string) (consent string, at time.Time, err error) {
	k := consentKey(v)
	switch {
	case k == "":
		return ConsentNotOptedIn, time.Time{}, nil
	case contains(consentYes, k):
		return ConsentOptedIn, time.Time{}, nil
	case contains(consentNo, k):
		return ConsentNotOptedIn, time.Time{}, nil
	case contains(consentOut, k):
		return ConsentOptedOut, time.Time{}, nil
	}
	if t, ok := p.date(strings.TrimSpace(v)); ok {
		if t.After(p.now) {
			return "", time.Time{}, errConsentFuture
		}
		return ConsentOptedIn, t, nil
	}
	return "", time.Time{}, fmt.Errorf("unrecognised consent value %q: use yes or no (sim/não, sí/no, "+
		"true/false, 1/0, x) or the date consent was given", truncate(v, 40))
}

// consentKey lower-cases v, removes accents, reads "-" and "_" as spaces
// and collapses them; a trailing full stop goes too ("Sim." is "sim",
// "Opt-in" is "opt in", a lone "-" is empty).
func consentKey(v string) string {
	v = strings.TrimSpace(v)
	if isASCII(v) {
		v = strings.ToLower(v)
	} else {
		var b strings.Builder
		for _, r := range norm.NFKD.String(v) {
			if !unicode.Is(unicode.Mn, r) {
				b.WriteRune(unicode.ToLower(r))
			}
		}
		v = b.String()
	}
	if strings.ContainsFunc(v, isConsentSeparator) { // most cells have none
		v = strings.Join(strings.FieldsFunc(v, isConsentSeparator), " ")
	}
	return strings.TrimSuffix(v, ".")
}

// isConsentSeparator tells the runes consentKey reads as one space.
func isConsentSeparator(r rune) bool {
	return r == '-' || r == '_' || unicode.IsSpace(r)
}

// dateLayouts are the unambiguous layouts tried first; numeric day/month
// dates are handled by date.
var dateLayouts = []string{
	time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04",
	time.DateOnly, "2006/01/02", "2006.01.02",
}

// date reads a date in ISO form or as day and month in either order
// (the region's order when both are 12 or less), with a four- or two-digit
// year and an optional time. Times without a zone are UTC.
func (p consentParser) date(s string) (time.Time, bool) {
	if len(s) < 6 || len(s) > 30 || s[0] < '0' || s[0] > '9' {
		return time.Time{}, false
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	datePart, timePart, _ := strings.Cut(s, " ")
	sep := strings.IndexAny(datePart, "/-.")
	if sep < 0 {
		return time.Time{}, false
	}
	parts := strings.Split(datePart, datePart[sep:sep+1])
	if len(parts) != 3 {
		return time.Time{}, false
	}
	a, okA := atoiDigits(parts[0], 2)
	b, okB := atoiDigits(parts[1], 2)
	y, okY := atoiDigits(parts[2], 4)
	if !okA || !okB || !okY || (len(parts[2]) != 2 && len(parts[2]) != 4) {
		return time.Time{}, false
	}
	if len(parts[2]) == 2 {
		y += 2000
	}
	day, month := a, b
	if (p.monthFirst && a <= 12) || (b > 12 && a <= 12) {
		day, month = b, a
	}
	t := time.Date(y, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if t.Day() != day || int(t.Month()) != month {
		return time.Time{}, false // 31/02 and the like
	}
	if timePart != "" {
		var hh, mm, ss int
		n, _ := fmt.Sscanf(timePart, "%d:%d:%d", &hh, &mm, &ss)
		if n < 2 || hh > 23 || mm > 59 || ss > 59 || hh < 0 || mm < 0 || ss < 0 {
			return time.Time{}, false
		}
		t = t.Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute + time.Duration(ss)*time.Second)
	}
	return t, true
}

// atoiDigits parses 1 to max ASCII digits.
func atoiDigits(s string, max int) (int, bool) {
	if len(s) == 0 || len(s) > max {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
