package phone

import "strings"

// maxInputLength is phonenumbers' MAX_INPUT_STRING_LENGTH.
const maxInputLength = 250

// fast answers for a number the way phonenumbers.Parse, IsValidNumber and
// Format(E164) would, when it can be sure of it; ok is false otherwise and
// the caller asks phonenumbers. It only ever says yes: an invalid number
// goes to the slow path, which words the refusal.
//
// It takes ASCII digits, a single leading "+" and the punctuation people
// put between digits ("-", " ", ".", "(", ")", "/"): for such input,
// phonenumbers finds no extension, no RFC 3966 syntax, no letters, and
// reduces the input to its digits. Each later step mirrors the one in
// parseHelper (the comments name them), and steps that would strip an
// international or national dialling prefix send the number to the slow
// path instead of being reimplemented.
func (t *table) fast(raw string, def *region) (Number, bool) {
	var buf [maxInputLength]byte
	digits, plus, ok := scanDigits(raw, buf[:0])
	if !ok {
		return Number{}, false
	}
	s := string(digits) // one allocation, reused for the result
	var (
		cc *callingCode
		nn string  // national number
		rm *region // regionMetadata in parseHelper
	)
	if plus {
		// maybeExtractCountryCode, FROM_NUMBER_WITH_PLUS_SIGN.
		if len(s) <= 2 || s[0] == '0' {
			return Number{}, false
		}
		for i := 1; i <= 3 && i < len(s); i++ {
			if c := t.codes[atoi(s[:i])]; c != nil {
				cc, nn = c, s[i:]
				break
			}
		}
		if cc == nil || !cc.fast {
			return Number{}, false
		}
		rm = cc.main
	} else {
		if def == nil || !def.fast {
			return Number{}, false
		}
		// maybeStripInternationalPrefixAndNormalize: an IDD ("00", "011")
		// in front is for phonenumbers to strip.
		if empty, longer := def.idd.prefix(s); empty || longer {
			return Number{}, false
		}
		rm = def
		// maybeExtractCountryCode: the default region's calling code
		// written without "+" ("5511987654321" in Brazil).
		if strings.HasPrefix(s, def.codeDigits) {
			potential := s[len(def.codeDigits):]
			if !def.natPrefixKeeps(potential) {
				return Number{}, false
			}
			fullValid := def.general.pattern.full(s)
			nationalValid := def.general.pattern.full(potential)
			if (!fullValid && nationalValid) || def.testLength(len(s)) == lengthTooLong {
				cc, nn = t.codes[def.code], potential
				if cc == nil || !cc.fast {
					return Number{}, false
				}
				rm = cc.main
			}
		}
		if cc == nil {
			cc, nn = t.codes[def.code], s
			if cc == nil || !cc.fast {
				return Number{}, false
			}
		}
	}
	// parseHelper: national prefix and length checks.
	if len(nn) < 2 || len(nn) > 17 || !rm.natPrefixKeeps(nn) {
		return Number{}, false
	}
	if len(cc.digits)+len(nn) > maxE164Digits {
		return Number{}, false
	}
	// GetRegionCodeForNumber, then IsValidNumberForRegion.
	var r *region
	if len(cc.regions) == 1 {
		r = cc.regions[0]
	} else {
		for _, candidate := range cc.regions {
			if candidate.leading != nil {
				if empty, longer := candidate.leading.prefix(nn); empty || longer {
					r = candidate
					break
				}
			} else if candidate.valid(nn) {
				r = candidate
				break
			}
		}
	}
	if r == nil || !r.valid(nn) {
		return Number{}, false
	}
	return Number{E164: "+" + cc.digits + nn, Region: r.id}, true
}

// scanDigits appends the digits of raw to dst, and says whether raw began
// with "+". ok is false when raw holds anything but ASCII digits, the
// punctuation listed on fast, and one "+" before the first digit, or fewer
// than three digits (phonenumbers' viability rules differ there).
func scanDigits(raw string, dst []byte) (digits []byte, plus, ok bool) {
	if len(raw) > maxInputLength {
		return nil, false, false
	}
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c >= '0' && c <= '9':
			dst = append(dst, c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/':
		case c == '+' && !plus && len(dst) == 0:
			plus = true
		default:
			return nil, false, false
		}
	}
	return dst, plus, len(dst) >= 3
}

// atoi converts at most three ASCII digits.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}
