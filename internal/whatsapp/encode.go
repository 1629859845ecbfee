package whatsapp

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// appendTemplateMessage appends the Cloud API request body of m to b. It
// writes what encoding/json writes for the same message, byte for byte
// (TestAppendTemplateMessageMatchesEncodingJSON), without reflection and in
// one pass: a send's body is encoded on every request, and nested
// MarshalJSON methods made encoding/json validate and copy it three times.
func appendTemplateMessage(b []byte, m TemplateMessage) ([]byte, error) {
	b = append(b, `{"messaging_product":"whatsapp","recipient_type":"individual","to":`...)
	b = appendString(b, m.To)
	b = append(b, `,"type":"template","template":`...)
	b, err := appendTemplate(b, m.Template)
	if err != nil {
		return nil, err
	}
	if m.BizOpaqueCallbackData != "" {
		b = append(b, `,"biz_opaque_callback_data":`...)
		b = appendString(b, m.BizOpaqueCallbackData)
	}
	return append(b, '}'), nil
}

func appendTemplate(b []byte, t Template) ([]byte, error) {
	b = append(b, `{"name":`...)
	b = appendString(b, t.Name)
	b = append(b, `,"language":{"code":`...)
	b = appendString(b, t.Language.Code)
	b = append(b, `,"policy":`...)
	b = appendString(b, cmpOr(t.Language.Policy, PolicyDeterministic))
	b = append(b, '}')
	if len(t.Components) > 0 {
		b = append(b, `,"components":[`...)
		for i, c := range t.Components {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendComponent(b, c); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

func appendComponent(b []byte, c Component) ([]byte, error) {
	b = append(b, `{"type":`...)
	b = appendString(b, c.Type)
	if c.SubType != "" {
		b = append(b, `,"sub_type":`...)
		b = appendString(b, c.SubType)
	}
	if c.Index != "" {
		b = append(b, `,"index":`...)
		b = appendString(b, c.Index)
	}
	b = append(b, `,"parameters":`...)
	if c.Parameters == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, p := range c.Parameters {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendParameter(b, p); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

func appendParameter(b []byte, p Parameter) ([]byte, error) {
	b = append(b, `{"type":`...)
	b = appendString(b, p.Type)
	b = appendOptString(b, `,"parameter_name":`, p.ParameterName)
	b = appendOptString(b, `,"text":`, p.Text)
	if c := p.Currency; c != nil {
		b = append(b, `,"currency":{"fallback_value":`...)
		b = appendString(b, c.FallbackValue)
		b = append(b, `,"code":`...)
		b = appendString(b, c.Code)
		b = append(b, `,"amount_1000":`...)
		b = strconv.AppendInt(b, c.Amount1000, 10)
		b = append(b, '}')
	}
	if d := p.DateTime; d != nil {
		b = append(b, `,"date_time":{"fallback_value":`...)
		b = appendString(b, d.FallbackValue)
		b = append(b, '}')
	}
	b = appendMedia(b, `,"image":`, p.Image)
	b = appendMedia(b, `,"video":`, p.Video)
	b = appendMedia(b, `,"document":`, p.Document)
	if l := p.Location; l != nil {
		b = append(b, `,"location":{"latitude":`...)
		var err error
		if b, err = appendFloat(b, l.Latitude); err != nil {
			return nil, err
		}
		b = append(b, `,"longitude":`...)
		if b, err = appendFloat(b, l.Longitude); err != nil {
			return nil, err
		}
		b = appendOptString(b, `,"name":`, l.Name)
		b = appendOptString(b, `,"address":`, l.Address)
		b = append(b, '}')
	}
	b = appendOptString(b, `,"payload":`, p.Payload)
	b = appendOptString(b, `,"coupon_code":`, p.CouponCode)
	return append(b, '}'), nil
}

func appendMedia(b []byte, key string, m *Media) []byte {
	if m == nil {
		return b
	}
	b = append(b, key...)
	b = append(b, '{')
	n := len(b)
	for _, f := range [...]struct{ key, v string }{{`"id":`, m.ID}, {`"link":`, m.Link}, {`"filename":`, m.Filename}} {
		if f.v == "" {
			continue
		}
		if len(b) > n {
			b = append(b, ',')
		}
		b = append(b, f.key...)
		b = appendString(b, f.v)
	}
	return append(b, '}')
}

func appendOptString(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return appendString(append(b, key...), v)
}

// appendFloat writes f as encoding/json does: %f-style between 1e-6 and
// 1e21, exponent form outside, and an error for NaN and infinities.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("json: unsupported value: %v", f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way encoding/json does: HTML
// characters and U+2028/U+2029 escaped, invalid UTF-8 replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
