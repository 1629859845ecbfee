package importer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herald-sh/herald/internal/phone"
)

// rawRow is a row as read from the file, or the error reading it.
type rawRow struct {
	line  int
	cells []string
	err   *RowError
}

// rowCounts are the per-row outcomes decided before the database is asked.
type rowCounts struct {
	rows    int // non-blank rows after the header
	invalid int // rows with at least one error
	skipped int // not opted in, with Options.SkipNotOptedIn
	staged  int // rows sent to the database
}

func (c *rowCounts) add(o rowCounts) {
	c.rows += o.rows
	c.invalid += o.invalid
	c.skipped += o.skipped
	c.staged += o.staged
}

// converter turns rows into tuples of the staging table, in Postgres'
// binary COPY format. It is used by one goroutine at a time.
type converter struct {
	layout         *layout
	strictWidth    bool
	region         string
	skipNotOptedIn bool
	consent        consentParser
	attrs          []byte // scratch for the attributes object
}

// stageColumns are the staging table's columns in COPY order.
const stageColumns = 11

// minE164Length is "+" and the 7 digits contacts.phone requires at least.
const minE164Length = 8

// convert appends the tuples for r to buf: one contact, or one error per
// problem found. Blank rows leave nothing.
func (c *converter) convert(buf []byte, r rawRow, counts *rowCounts, errs *[]RowError) []byte {
	if r.err != nil {
		counts.rows++
		counts.invalid++
		*errs = append(*errs, *r.err)
		return appendError(buf, *r.err)
	}
	if blank(r.cells) {
		return buf
	}
	counts.rows++
	l := c.layout
	first := len(*errs)
	fail := func(column, reason string) {
		*errs = append(*errs, RowError{Line: r.line, Column: column, Reason: reason})
	}
	if n := len(r.cells); c.strictWidth && n != l.width && (n < l.width || !blank(r.cells[l.width:])) {
		fail("", fmt.Sprintf("the row has %d fields where the header has %d", n, l.width))
	} else {
		var (
			number phone.Number
			key    int64
		)
		raw := c.cell(r.cells, l.phone)
		if raw == "" {
			fail(l.columns[l.phone].Header, "no phone number")
		} else if n, err := phone.Normalize(raw, c.region); err != nil {
			fail(l.columns[l.phone].Header, phoneReason(raw, err))
		} else if len(n.E164) < minE164Length {
			// contacts.phone holds 7 to 15 digits: refuse the row here
			// rather than fail the whole import on the CHECK.
			fail(l.columns[l.phone].Header, fmt.Sprintf("%q is too short for a WhatsApp number", truncate(raw, 40)))
		} else if k, ok := phoneKey(n.E164); !ok {
			// Normalize returns E.164, so this is not expected.
			fail(l.columns[l.phone].Header, fmt.Sprintf("%q is not a valid phone number", truncate(raw, 40)))
		} else {
			number, key = n, k
		}
		consent, consentAt := ConsentNotOptedIn, time.Time{}
		if l.consent >= 0 {
			var err error
			if consent, consentAt, err = c.consent.parse(c.cell(r.cells, l.consent)); err != nil {
				fail(l.columns[l.consent].Header, err.Error())
			}
		}
		if len(*errs) == first {
			if c.skipNotOptedIn && consent == ConsentNotOptedIn {
				counts.skipped++
				return buf
			}
			counts.staged++
			return c.appendContact(buf, r, number, key, consent, consentAt)
		}
	}
	counts.invalid++
	for _, e := range (*errs)[first:] {
		buf = appendError(buf, e)
	}
	return buf
}

// phoneReason words a refused number for the person who wrote it.
func phoneReason(raw string, err error) string {
	var perr *phone.Error
	if !errors.As(err, &perr) {
		return err.Error()
	}
	if perr.Reason == phone.ReasonUnknownRegion {
		return fmt.Sprintf("%q has no country code and no default country was given", truncate(raw, 40))
	}
	return fmt.Sprintf("%q is not a valid phone number: %s", truncate(raw, 40), perr.Error())
}

// cell returns the trimmed cell i, "" past the end of a short row.
func (c *converter) cell(cells []string, i int) string {
	if i < 0 || i >= len(cells) {
		return ""
	}
	return clean(strings.TrimSpace(cells[i]))
}

// phoneKey is an E.164 number's digits as an integer, which the merge sorts
// and deduplicates by, a good deal faster than by text. Numbers have at most
// 15 digits and never a leading 0, so distinct numbers have distinct keys,
// and numbers of one length sort as their text does.
func phoneKey(e164 string) (int64, bool) {
	if len(e164) < 2 || len(e164) > 16 || e164[0] != '+' || e164[1] == '0' {
		return 0, false
	}
	var k int64
	for i := 1; i < len(e164); i++ {
		d := e164[i]
		if d < '0' || d > '9' {
			return 0, false
		}
		k = k*10 + int64(d-'0')
	}
	return k, true
}

func (c *converter) appendContact(buf []byte, r rawRow, n phone.Number, key int64, consent string, at time.Time) []byte {
	l := c.layout
	name := c.cell(r.cells, l.name)
	if l.name < 0 && l.first >= 0 {
		name = strings.TrimSpace(c.cell(r.cells, l.first) + " " + c.cell(r.cells, l.last))
	}
	country := n.Region
	if country == "001" {
		country = "" // non-geographic: no ISO region
	}
	c.attrs = append(c.attrs[:0], '{')
	for _, col := range l.columns {
		if col.Field != FieldAttribute {
			continue
		}
		v := c.cell(r.cells, col.index)
		if v == "" {
			continue // a blank cell does not erase what is stored
		}
		if len(c.attrs) > 1 {
			c.attrs = append(c.attrs, ',')
		}
		c.attrs = appendJSONString(c.attrs, col.Attribute)
		c.attrs = append(c.attrs, ':')
		c.attrs = appendJSONString(c.attrs, v)
	}
	c.attrs = append(c.attrs, '}')

	buf = binary.BigEndian.AppendUint16(buf, stageColumns)
	buf = appendInt4(buf, r.line)
	buf = appendText(buf, n.E164)
	buf = appendText(buf, country)
	buf = appendText(buf, name)
	buf = appendText(buf, c.cell(r.cells, l.email))
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(c.attrs)+1))
	buf = append(buf, 1) // jsonb binary format version
	buf = append(buf, c.attrs...)
	buf = appendText(buf, consent)
	if at.IsZero() {
		buf = appendNull(buf)
	} else {
		buf = binary.BigEndian.AppendUint32(buf, 8)
		buf = binary.BigEndian.AppendUint64(buf, uint64(at.Sub(pgEpoch).Microseconds()))
	}
	buf = appendNull(buf)
	buf = appendNull(buf)
	buf = binary.BigEndian.AppendUint32(buf, 8)
	return binary.BigEndian.AppendUint64(buf, uint64(key))
}

// pgEpoch is the zero of Postgres' binary timestamps.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func appendError(buf []byte, e RowError) []byte {
	buf = binary.BigEndian.AppendUint16(buf, stageColumns)
	buf = appendInt4(buf, e.Line)
	for range 7 {
		buf = appendNull(buf)
	}
	buf = appendText(buf, clean(e.Column))
	buf = appendText(buf, clean(e.Reason))
	return appendNull(buf)
}

func appendInt4(buf []byte, v int) []byte {
	buf = binary.BigEndian.AppendUint32(buf, 4)
	return binary.BigEndian.AppendUint32(buf, uint32(int32(v)))
}

func appendText(buf []byte, s string) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
	return append(buf, s...)
}

func appendNull(buf []byte) []byte { return binary.BigEndian.AppendUint32(buf, 0xFFFFFFFF) }

// clean makes s storable in a Postgres text column: valid UTF-8, no NUL.
func clean(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. s is valid UTF-8 without NUL
// (see clean), which jsonb would refuse as \u0000.
func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
