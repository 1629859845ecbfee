package phone

import (
	"regexp"
	"strconv"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// table is libphonenumber's metadata compiled for the fast path: every
// pattern Parse and IsValidNumber consult, as a digit DFA. It is built once,
// on first use, from phonenumbers' embedded metadata and never changes
// afterwards, like a compiled regexp; that is why it may live in a
// package-level sync.OnceValue.
type table struct {
	codes   [1000]*callingCode // by country calling code
	regions map[string]*region // geographic regions by ISO code
}

// callingCode is one country calling code and the regions sharing it, in
// libphonenumber's order (main region first).
type callingCode struct {
	code    int
	digits  string
	regions []*region
	// main is the metadata Parse switches to once it has read this calling
	// code: that of the main region, or of the non-geographic entity.
	main *region
	// fast is false when some region of this code could not be compiled;
	// numbers of this code then take the slow path.
	fast bool
}

// region is one PhoneMetadata: a geographic region or a non-geographic
// entity ("001").
type region struct {
	id         string
	code       int
	codeDigits string
	general    numberDesc
	// types are the descriptions getNumberTypeHelper tries after the general
	// one; a number is valid when it matches any of them.
	types []numberDesc
	// lengths and localLengths are the general description's possible
	// lengths, for testNumberLength.
	lengths, localLengths []int32
	leading               *dfa // leading digits, or nil
	natPrefix             *dfa // national prefix for parsing, or nil
	natPrefixRE           *regexp.Regexp
	natTransform          string
	idd                   *dfa // international prefix
	fast                  bool
}

// numberDesc is a PhoneNumberDesc: allowed lengths (none: any) and pattern.
type numberDesc struct {
	lengths []int32
	pattern *dfa
}

var tables = sync.OnceValue(buildTable)

func buildTable() *table {
	t := &table{regions: map[string]*region{}}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		// phonenumbers panics in its own init if its embedded metadata
		// is unreadable, so this cannot happen; an empty table would
		// only send everything down the slow path.
		return t
	}
	nonGeo := map[int]*region{}
	for _, m := range coll.GetMetadata() {
		r := newRegion(m)
		if m.GetId() == "001" {
			nonGeo[r.code] = r
		} else {
			t.regions[r.id] = r
		}
	}
	for code := range phonenumbers.GetSupportedCallingCodes() {
		if code <= 0 || code >= len(t.codes) {
			continue
		}
		ids := phonenumbers.GetRegionCodesForCountryCode(code)
		cc := &callingCode{code: code, digits: strconv.Itoa(code), fast: len(ids) > 0}
		for _, id := range ids {
			r := t.regions[id]
			if id == "001" {
				r = nonGeo[code]
			}
			if r == nil || !r.fast || r.code != code {
				cc.fast = false
				continue
			}
			cc.regions = append(cc.regions, r)
		}
		if cc.fast {
			cc.main = cc.regions[0]
		}
		t.codes[code] = cc
	}
	return t
}

func newRegion(m *phonenumbers.PhoneMetadata) *region {
	r := &region{
		id:           m.GetId(),
		code:         int(m.GetCountryCode()),
		natTransform: m.GetNationalPrefixTransformRule(),
		fast:         true,
	}
	r.codeDigits = strconv.Itoa(r.code)
	compile := func(pattern string) *dfa {
		d, err := compileDFA(pattern)
		if err != nil {
			r.fast = false
		}
		return d
	}
	desc := func(d *phonenumbers.PhoneNumberDesc) numberDesc {
		return numberDesc{lengths: d.GetPossibleLength(), pattern: compile(d.GetNationalNumberPattern())}
	}
	g := m.GetGeneralDesc()
	r.general = desc(g)
	r.lengths, r.localLengths = g.GetPossibleLength(), g.GetPossibleLengthLocalOnly()
	if len(r.lengths) == 0 {
		r.fast = false // testNumberLength would index an empty slice
	}
	// The order of getNumberTypeHelper. Mobile is tried only when its
	// pattern differs from the fixed-line one.
	for _, d := range []*phonenumbers.PhoneNumberDesc{
		m.GetPremiumRate(), m.GetTollFree(), m.GetSharedCost(), m.GetVoip(),
		m.GetPersonalNumber(), m.GetPager(), m.GetUan(), m.GetVoicemail(), m.GetFixedLine(),
	} {
		r.types = append(r.types, desc(d))
	}
	if !m.GetSameMobileAndFixedLinePattern() {
		r.types = append(r.types, desc(m.GetMobile()))
	}
	if ld := m.GetLeadingDigits(); ld != "" {
		r.leading = compile(ld)
	}
	if np := m.GetNationalPrefixForParsing(); np != "" {
		r.natPrefix = compile(np)
		re, err := regexp.Compile("^(?:" + np + ")")
		if err != nil {
			r.fast = false
		}
		r.natPrefixRE = re
	}
	r.idd = compile(m.GetInternationalPrefix())
	return r
}

// matches is isNumberMatchingDesc.
func (d numberDesc) matches(nsn string) bool {
	if len(d.lengths) > 0 && !containsLength(d.lengths, len(nsn)) {
		return false
	}
	return d.pattern.full(nsn)
}

// valid is getNumberTypeHelper(nsn) != UNKNOWN.
func (r *region) valid(nsn string) bool {
	if !r.general.matches(nsn) {
		return false
	}
	for _, d := range r.types {
		if d.matches(nsn) {
			return true
		}
	}
	return false
}

// natPrefixKeeps reports whether maybeStripNationalPrefixAndCarrierCode
// certainly leaves number as it is. When it might strip or transform
// something, the fast path gives way to phonenumbers.
func (r *region) natPrefixKeeps(number string) bool {
	if r.natPrefix == nil || len(number) == 0 {
		return true
	}
	empty, longer := r.natPrefix.prefix(number)
	switch {
	case longer:
		return false
	case !empty:
		return true
	case r.natTransform == "":
		return true // an empty prefix is stripped: nothing changes
	}
	// An empty match with a transform rule changes the number only if the
	// rule's last group took part (Argentina's "0?(?:(11|…)15)?").
	m := r.natPrefixRE.FindStringSubmatchIndex(number)
	return m == nil || (m[1] == 0 && m[len(m)-2] < 0)
}

// Results of testNumberLength.
const (
	lengthPossible = iota
	lengthPossibleLocalOnly
	lengthTooShort
	lengthTooLong
	lengthInvalid
)

// testLength is testNumberLength(number, metadata, UNKNOWN).
func (r *region) testLength(n int) int {
	if r.lengths[0] == -1 {
		return lengthInvalid
	}
	if containsLength(r.localLengths, n) {
		return lengthPossibleLocalOnly
	}
	switch {
	case int(r.lengths[0]) == n:
		return lengthPossible
	case int(r.lengths[0]) > n:
		return lengthTooShort
	case int(r.lengths[len(r.lengths)-1]) < n:
		return lengthTooLong
	case containsLength(r.lengths[1:], n):
		return lengthPossible
	}
	return lengthInvalid
}

func containsLength(lengths []int32, n int) bool {
	for _, l := range lengths {
		if int(l) == n {
			return true
		}
	}
	return false
}
