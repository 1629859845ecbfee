package importer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Encodings the CSV reader recognises, as reported in the summary.
const (
	EncodingUTF8        = "utf-8"
	EncodingUTF8BOM     = "utf-8 with bom"
	EncodingUTF16LE     = "utf-16le"
	EncodingUTF16BE     = "utf-16be"
	EncodingWindows1252 = "windows-1252"
)

// delimiters the CSV reader tries, in order of preference on a tie.
var delimiters = []rune{',', ';', '\t', '|'}

// csvSource reads delimited text.
type csvSource struct {
	r          *csv.Reader
	encoding   string
	delimiter  rune
	lineOffset int // lines consumed before r started (a "sep=" line)
	// fixLatin1 decodes fields that are not valid UTF-8 as Windows-1252:
	// a file sniffed as UTF-8 may still hold a stray Latin-1 line further
	// down, and Postgres refuses invalid UTF-8.
	fixLatin1 bool
	err       error // a sticky error ending the file
	// pending is a record read ahead while checking for a quote that
	// never closes.
	pending    []string
	pendingErr error
	hasPending bool
}

// newCSVSource sniffs encoding and delimiter from the start of r.
func newCSVSource(r io.Reader) (*csvSource, error) {
	br := bufio.NewReaderSize(r, sniffSize)
	head, err := peek(br)
	if err != nil {
		return nil, err
	}
	src := &csvSource{}
	var text io.Reader = br
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		src.encoding, src.fixLatin1 = EncodingUTF8BOM, true
		_, _ = br.Discard(3)
	case hasBOM16(head) || looksLikeUTF16(head) != "":
		endian := unicode.LittleEndian
		src.encoding = EncodingUTF16LE
		if bytes.HasPrefix(head, []byte{0xFE, 0xFF}) || (!hasBOM16(head) && looksLikeUTF16(head) == EncodingUTF16BE) {
			endian, src.encoding = unicode.BigEndian, EncodingUTF16BE
		}
		// ExpectBOM would refuse BOM-less UTF-16, IgnoreBOM keeps the BOM
		// as U+FEFF; UseBOM strips it when present.
		text = transform.NewReader(br, unicode.UTF16(endian, unicode.UseBOM).NewDecoder())
	case utf8.Valid(trimPartialRune(head)):
		src.encoding, src.fixLatin1 = EncodingUTF8, true
	default:
		src.encoding = EncodingWindows1252
		text = transform.NewReader(br, charmap.Windows1252.NewDecoder())
	}
	// Sniff the delimiter on decoded text.
	tb := bufio.NewReaderSize(text, sniffSize)
	sample, err := peek(tb)
	if err != nil {
		return nil, fmt.Errorf("decode %s text: %w", src.encoding, err)
	}
	// Excel honours a first line "sep=;" naming the delimiter.
	if d, n := sepLine(sample); d != 0 {
		_, _ = tb.Discard(n)
		src.delimiter, src.lineOffset = d, 1
		sample = sample[n:]
	} else {
		src.delimiter = sniffDelimiter(sample)
	}
	src.r = csv.NewReader(tb)
	src.r.Comma = src.delimiter
	src.r.FieldsPerRecord = -1
	return src, nil
}

func hasBOM16(head []byte) bool {
	return bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF})
}

// looksLikeUTF16 recognises UTF-16 without a BOM by its NUL bytes: text that
// is mostly ASCII has one in every other position.
func looksLikeUTF16(head []byte) string {
	n := min(len(head), 1024) &^ 1
	if n < 4 {
		return ""
	}
	var even, odd int
	for i := 0; i < n; i += 2 {
		if head[i] == 0 {
			even++
		}
		if head[i+1] == 0 {
			odd++
		}
	}
	pairs := n / 2
	switch {
	case odd*10 >= pairs*6 && even*20 <= pairs:
		return EncodingUTF16LE
	case even*10 >= pairs*6 && odd*20 <= pairs:
		return EncodingUTF16BE
	}
	return ""
}

// trimPartialRune drops an incomplete UTF-8 sequence cut by the sniff window.
func trimPartialRune(b []byte) []byte {
	for i := 1; i <= utf8.UTFMax && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			break
		}
	}
	return b
}

// sepLine recognises Excel's "sep=X" first line; n is its length with the
// line break.
func sepLine(sample []byte) (delim rune, n int) {
	line, _, found := bytes.Cut(sample, []byte("\n"))
	s := strings.TrimRight(string(line), "\r")
	if len(s) == 5 && strings.EqualFold(s[:4], "sep=") {
		if d := rune(s[4]); d > ' ' && d < 0x7F && d != '"' || d == '\t' {
			if found {
				return d, len(line) + 1
			}
			return d, len(line)
		}
	}
	return 0, 0
}

// sniffDelimiter picks the delimiter that splits the first lines of sample
// into the same number of fields most often (two or more); on a tie, the one
// giving more fields, then the first in delimiters. A file with a single
// column gives ",".
func sniffDelimiter(sample []byte) rune {
	if i := bytes.LastIndexByte(sample, '\n'); i > 0 && len(sample) == sniffSize {
		sample = sample[:i+1] // do not judge by a cut line
	}
	best, bestFreq, bestFields := ',', 0, 0
	for _, d := range delimiters {
		r := csv.NewReader(bytes.NewReader(sample))
		r.Comma, r.FieldsPerRecord, r.LazyQuotes = d, -1, true
		counts := map[int]int{}
		for range 50 {
			rec, err := r.Read()
			if err != nil {
				break
			}
			counts[len(rec)]++
		}
		freq, fields := 0, 0
		for n, c := range counts {
			if n >= 2 && (c > freq || (c == freq && n > fields)) {
				freq, fields = c, n
			}
		}
		if freq > bestFreq || (freq == bestFreq && fields > bestFields) {
			best, bestFreq, bestFields = d, freq, fields
		}
	}
	return best
}

func (s *csvSource) strictWidth() bool { return true }

func (s *csvSource) close() error { return nil }

func (s *csvSource) next() (int, []string, error) {
	if s.err != nil {
		return 0, nil, s.err
	}
	var (
		rec []string
		err error
	)
	if s.hasPending {
		rec, err, s.hasPending = s.pending, s.pendingErr, false
	} else {
		rec, err = s.r.Read()
	}
	var perr *csv.ParseError
	switch {
	case err == nil:
	case errors.As(err, &perr) && (perr.Err == csv.ErrBareQuote || perr.Err == csv.ErrQuote):
		line := perr.StartLine + s.lineOffset
		if perr.Err == csv.ErrQuote && perr.Line > perr.StartLine {
			// A quote opened and never closed swallows the rest of the
			// file; importing what comes before would silently lose it.
			s.pending, s.pendingErr = s.r.Read()
			s.hasPending = true
			if s.pendingErr == io.EOF {
				s.err = &FileError{Problem: fmt.Sprintf("line %d: a quoted field starts here and never ends "+
					"(a missing closing quote); nothing after it could be read", line)}
				return 0, nil, s.err
			}
		}
		reason := "a quote inside a field that is not quoted"
		if perr.Err == csv.ErrQuote {
			reason = "a quoted field with a stray quote after it"
		}
		return line, nil, &RowError{Line: line, Reason: reason}
	case err == io.EOF:
		return 0, nil, io.EOF
	default:
		return 0, nil, fmt.Errorf("read %s text: %w", s.encoding, err)
	}
	line, _ := s.r.FieldPos(0)
	if s.fixLatin1 {
		for i, f := range rec {
			if !utf8.ValidString(f) {
				rec[i], _ = charmap.Windows1252.NewDecoder().String(f)
			}
		}
	}
	return line + s.lineOffset, rec, nil
}
