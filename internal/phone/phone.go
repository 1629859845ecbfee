// Package phone turns phone numbers as people write them into E.164, and
// tells the region and time zones of a number.
//
// It is libphonenumber (github.com/nyaruka/phonenumbers) behind a tiny API,
// with one addition: a fast path that gives the same answers for the common
// shapes ("+55 11 98765-4321", "(11) 98765-4321", "5511987654321") about
// fifty times faster, because an import normalises millions of numbers. The
// fast path does not trust a number for looking like E.164: it runs the same
// steps as phonenumbers.Parse and IsValidNumber over the same metadata, with
// each pattern compiled once to a digit automaton instead of being looked up
// and run by the regexp engine on every call. Whatever it is not certain
// about (letters, extensions, international or national dialling prefixes,
// invalid numbers) goes to phonenumbers itself, which also words every
// refusal. Tests compare both paths on millions of numbers of every region.
package phone

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// maxE164Digits is the longest number E.164 allows (country code included).
// libphonenumber accepts national numbers up to 17 digits; herald does not
// store what the standard and the Cloud API cannot address.
const maxE164Digits = 15

// Number is a valid phone number.
type Number struct {
	// E164 is "+" followed by the country calling code and national number.
	E164 string
	// Region is the ISO 3166-1 alpha-2 code of the number's region ("BR"),
	// or "001" for non-geographic numbers such as +800.
	Region string
}

// Reason says why a value is not a valid phone number.
type Reason string

// Reasons for refusing a number.
const (
	ReasonEmpty              Reason = "empty"
	ReasonNotANumber         Reason = "not a number"
	ReasonTooShort           Reason = "too short"
	ReasonTooLong            Reason = "too long"
	ReasonInvalidCountryCode Reason = "invalid country code"
	ReasonInvalidForRegion   Reason = "invalid for region"
	ReasonExtension          Reason = "has an extension"
	ReasonUnknownRegion      Reason = "no country code and no valid default region"
)

// Error explains why Normalize refused a value.
type Error struct {
	Reason Reason
	// Region is set with ReasonInvalidForRegion.
	Region string
}

// Error returns the reason, with the region where there is one: "invalid
// for region BR".
func (e *Error) Error() string {
	if e.Region != "" {
		return string(e.Reason) + " " + e.Region
	}
	return string(e.Reason)
}

// Normalize parses raw as written by a person and returns it in E.164 when it
// is a valid number. A number without a country code ("(11) 98765-4321") is
// read as a number of defaultRegion (ISO 3166-1 alpha-2, "BR"). A refusal is
// an *Error.
func Normalize(raw, defaultRegion string) (Number, error) {
	t := tables()
	if n, ok := t.fast(raw, t.regions[defaultRegion]); ok {
		return n, nil
	}
	return slow(raw, defaultRegion)
}

// Region returns the region of a number in E.164 ("+5511987654321" → "BR"),
// or "" when e164 is not a valid number.
func Region(e164 string) string {
	n, err := Normalize(e164, "")
	if err != nil {
		return ""
	}
	return n.Region
}

// TimeZones returns the IANA time zones where a number in E.164 may be
// ("America/Sao_Paulo"), most specific first as libphonenumber knows them,
// or nil when e164 is not a valid number or its zone is unknown.
func TimeZones(e164 string) []string {
	if _, err := Normalize(e164, ""); err != nil {
		return nil
	}
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return nil
	}
	zones, err := phonenumbers.GetTimezonesForNumber(num)
	if err != nil || len(zones) == 0 || (len(zones) == 1 && zones[0] == phonenumbers.UNKNOWN_TIMEZONE) {
		return nil
	}
	return zones
}

// slow is the reference path: phonenumbers itself.
func slow(raw, defaultRegion string) (Number, error) {
	if strings.TrimSpace(raw) == "" {
		return Number{}, &Error{Reason: ReasonEmpty}
	}
	num, err := phonenumbers.Parse(raw, defaultRegion)
	if err != nil {
		return Number{}, &Error{Reason: parseReason(err, raw, defaultRegion)}
	}
	if num.GetExtension() != "" {
		return Number{}, &Error{Reason: ReasonExtension}
	}
	if !phonenumbers.IsValidNumber(num) {
		switch phonenumbers.IsPossibleNumberWithReason(num) {
		case phonenumbers.TOO_SHORT:
			return Number{}, &Error{Reason: ReasonTooShort}
		case phonenumbers.TOO_LONG:
			return Number{}, &Error{Reason: ReasonTooLong}
		case phonenumbers.INVALID_COUNTRY_CODE:
			return Number{}, &Error{Reason: ReasonInvalidCountryCode}
		}
		return Number{}, &Error{Reason: ReasonInvalidForRegion,
			Region: phonenumbers.GetRegionCodeForCountryCode(int(num.GetCountryCode()))}
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	if len(e164)-1 > maxE164Digits {
		return Number{}, &Error{Reason: ReasonTooLong}
	}
	return Number{E164: e164, Region: phonenumbers.GetRegionCodeForNumber(num)}, nil
}

func parseReason(err error, raw, defaultRegion string) Reason {
	switch err {
	case phonenumbers.ErrInvalidCountryCode:
		if !strings.ContainsAny(raw, "+＋") && !phonenumbers.GetSupportedRegions()[defaultRegion] {
			return ReasonUnknownRegion
		}
		return ReasonInvalidCountryCode
	case phonenumbers.ErrTooShortNSN, phonenumbers.ErrTooShortAfterIDD:
		return ReasonTooShort
	case phonenumbers.ErrNumTooLong:
		return ReasonTooLong
	}
	return ReasonNotANumber
}
