package pricing

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// ParseError says where a rate card or market file is wrong.
type ParseError struct {
	File   string // "rates" or "markets"
	Line   int    // 1-based line of the file; 0 when the whole file is at fault
	Column string // column name, or "" when the line as a whole is at fault
	Reason string
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	if e.Column != "" {
		fmt.Fprintf(&b, " column %s", e.Column)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

var (
	metadataRe = regexp.MustCompile(`^#\s*([A-Za-z_]+)\s*:\s*(.*?)\s*$`)
	currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)
	regionRe   = regexp.MustCompile(`^[A-Z]{2}$`)
)

// Load reads a rate card and its region → market table (formats in the
// package documentation). Errors are *ParseError naming the file, line,
// column and reason.
func Load(rates io.Reader, markets io.Reader) (*Card, error) {
	c := &Card{}
	if err := c.readRates(rates); err != nil {
		return nil, err
	}
	if err := c.readMarkets(markets); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Card) readRates(r io.Reader) error {
	const file = "rates"
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read rates: %w", err)
	}
	meta, err := readMetadata(file, data)
	if err != nil {
		return err
	}
	for key, m := range meta {
		switch key {
		case "currency":
			if !currencyRe.MatchString(m.value) {
				return &ParseError{File: file, Line: m.line, Reason: fmt.Sprintf("currency %q is not an ISO 4217 code such as USD", m.value)}
			}
			c.Currency = m.value
		case "effective_date":
			if _, err := time.Parse(time.DateOnly, m.value); err != nil {
				return &ParseError{File: file, Line: m.line, Reason: fmt.Sprintf("effective_date %q is not a date YYYY-MM-DD", m.value)}
			}
			c.EffectiveDate = m.value
		}
	}
	if c.Currency == "" {
		return &ParseError{File: file, Line: 1, Reason: `no "# currency: XXX" line before the header`}
	}

	cr := newCSVReader(data)
	header, err := cr.Read()
	if err != nil {
		return csvError(file, cr, err, "no header row")
	}
	// colOf[i] is the category index of column i, or -1 for the market column.
	colOf := make([]int, len(header))
	seen := make(map[string]bool)
	marketCol := -1
	for i, h := range header {
		name, _ := NormalizeCategory(h)
		line, _ := cr.FieldPos(i)
		if seen[name] {
			return &ParseError{File: file, Line: line, Column: name, Reason: "column appears twice"}
		}
		seen[name] = true
		if name == "market" {
			marketCol, colOf[i] = i, -1
			continue
		}
		if colOf[i] = categoryIndex(name); colOf[i] < 0 {
			return &ParseError{File: file, Line: line, Column: strings.TrimSpace(h),
				Reason: "unknown column; want market, " + strings.Join(categories[:], ", ")}
		}
	}
	headerLine, _ := cr.FieldPos(0)
	if marketCol < 0 {
		return &ParseError{File: file, Line: headerLine, Reason: "no market column"}
	}
	for _, cat := range categories {
		if !seen[cat] && cat != AuthenticationInternational {
			return &ParseError{File: file, Line: headerLine, Column: cat, Reason: "missing column"}
		}
	}

	c.prices = make(map[string][len(categories)]int64)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return csvError(file, cr, err, "")
		}
		line, _ := cr.FieldPos(0)
		market := strings.TrimSpace(rec[marketCol])
		if market == "" {
			return &ParseError{File: file, Line: line, Column: "market", Reason: "empty market"}
		}
		if _, dup := c.prices[market]; dup {
			return &ParseError{File: file, Line: line, Column: "market", Reason: fmt.Sprintf("market %q appears twice", market)}
		}
		var prices [len(categories)]int64
		for i := range prices {
			prices[i] = notSet
		}
		for i, cell := range rec {
			cat := colOf[i]
			if cat < 0 {
				continue
			}
			cell = strings.TrimSpace(cell)
			if cell == "" && categories[cat] == AuthenticationInternational {
				continue
			}
			micros, err := ParseMicros(cell)
			if err != nil {
				return &ParseError{File: file, Line: line, Column: categories[cat], Reason: err.Error()}
			}
			if micros < 0 {
				return &ParseError{File: file, Line: line, Column: categories[cat], Reason: fmt.Sprintf("negative price %q", cell)}
			}
			prices[cat] = micros
		}
		c.prices[market] = prices
	}
	if len(c.prices) == 0 {
		return &ParseError{File: file, Reason: "no markets"}
	}
	if _, ok := c.prices[OtherMarket]; !ok {
		return &ParseError{File: file, Reason: fmt.Sprintf("no %q market, which prices every region the market table does not list", OtherMarket)}
	}
	return nil
}

func (c *Card) readMarkets(r io.Reader) error {
	const file = "markets"
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read markets: %w", err)
	}
	cr := newCSVReader(data)
	header, err := cr.Read()
	if err != nil {
		return csvError(file, cr, err, "no header row")
	}
	headerLine, _ := cr.FieldPos(0)
	regionCol, marketCol := -1, -1
	for i, h := range header {
		switch strings.ToLower(strings.TrimSpace(h)) {
		case "region":
			regionCol = i
		case "market":
			marketCol = i
		default:
			return &ParseError{File: file, Line: headerLine, Column: strings.TrimSpace(h), Reason: "unknown column; want region, market"}
		}
	}
	if regionCol < 0 || marketCol < 0 {
		return &ParseError{File: file, Line: headerLine, Reason: "header must be region,market"}
	}
	c.markets = make(map[string]string)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return csvError(file, cr, err, "")
		}
		line, _ := cr.FieldPos(0)
		region := strings.ToUpper(strings.TrimSpace(rec[regionCol]))
		market := strings.TrimSpace(rec[marketCol])
		if !regionRe.MatchString(region) {
			return &ParseError{File: file, Line: line, Column: "region", Reason: fmt.Sprintf("%q is not an ISO 3166-1 alpha-2 region such as BR", rec[regionCol])}
		}
		if _, dup := c.markets[region]; dup {
			return &ParseError{File: file, Line: line, Column: "region", Reason: fmt.Sprintf("region %s appears twice", region)}
		}
		if _, ok := c.prices[market]; !ok {
			return &ParseError{File: file, Line: line, Column: "market", Reason: fmt.Sprintf("market %q is not in the rate card", market)}
		}
		c.markets[region] = market
	}
	return nil
}

type metaValue struct {
	value string
	line  int
}

// readMetadata collects "# key: value" comment lines before the header.
func readMetadata(file string, data []byte) (map[string]metaValue, error) {
	meta := make(map[string]metaValue)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
		}
		if text == "" {
			continue
		}
		if !strings.HasPrefix(text, "#") {
			break
		}
		m := metadataRe.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		key := strings.ToLower(m[1])
		if prev, dup := meta[key]; dup {
			return nil, &ParseError{File: file, Line: line, Reason: fmt.Sprintf("%s given twice (also line %d)", key, prev.line)}
		}
		meta[key] = metaValue{value: m[2], line: line}
	}
	if err := sc.Err(); err != nil {
		return nil, &ParseError{File: file, Reason: err.Error()}
	}
	return meta, nil
}

func newCSVReader(data []byte) *csv.Reader {
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	cr.Comment = '#'
	cr.ReuseRecord = true
	return cr
}

func csvError(file string, cr *csv.Reader, err error, emptyReason string) error {
	if errors.Is(err, io.EOF) {
		return &ParseError{File: file, Reason: emptyReason}
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{File: file, Line: pe.Line, Reason: pe.Err.Error()}
	}
	line, _ := cr.FieldPos(0)
	return &ParseError{File: file, Line: line, Reason: err.Error()}
}
