package importer

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// probeRows is how many rows at the top of a sheet are read a second time,
// formatted, to learn which columns hold dates.
const probeRows = 200

// maxExcelSerial is 9999-12-31, the last date Excel knows.
const maxExcelSerial = 2958465

var rawValues = excelize.Options{RawCellValue: true}

// xlsxSource streams the rows of one worksheet with excelize's row reader.
//
// Cells are read raw: a phone number stored as a number comes as the digits
// Excel wrote ("5511987654321", or "5.511987654321E+12", which is expanded
// without exponent), never through a display format like "5.51199E+12".
// Raw values lose the cell's date format, and the streaming reader does not
// expose cell styles, so date columns are recognised on a sample: the first
// rows are read again formatted, and a column whose numbers display as
// dates is a date column. Its numbers become ISO dates ("2024-03-05").
type xlsxSource struct {
	f        *excelize.File
	rows     *excelize.Rows
	sheet    string
	row      int
	dateCols map[int]bool
	date1904 bool
}

// openXLSX opens path and the sheet named (or numbered, from 1) by sheet,
// the first sheet when it is empty.
func openXLSX(path, name, sheet, tmpDir string) (*xlsxSource, error) {
	f, err := excelize.OpenFile(path, excelize.Options{RawCellValue: true, TmpDir: tmpDir})
	if err != nil {
		problem := "this zip archive is not a readable Excel workbook"
		if errors.Is(err, zip.ErrFormat) || errors.Is(err, io.ErrUnexpectedEOF) {
			problem = "this is not a readable Excel workbook (the file is damaged or incomplete)"
		}
		return nil, &FileError{File: name, Problem: problem, Err: err}
	}
	s := &xlsxSource{f: f}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
		}
	}()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, &FileError{File: name, Problem: "this zip archive is not an Excel workbook: it has no worksheets"}
	}
	if s.sheet, err = pickSheet(sheets, sheet); err != nil {
		return nil, &FileError{File: name, Problem: err.Error()}
	}
	if props, err := f.GetWorkbookProps(); err == nil && props.Date1904 != nil {
		s.date1904 = *props.Date1904
	}
	if s.dateCols, err = probeDateColumns(f, s.sheet, s.date1904); err != nil {
		return nil, &FileError{File: name, Problem: "read sheet " + s.sheet, Err: err}
	}
	if s.rows, err = f.Rows(s.sheet); err != nil {
		return nil, &FileError{File: name, Problem: "read sheet " + s.sheet, Err: err}
	}
	ok = true
	return s, nil
}

// pickSheet finds a sheet by name, ignoring case, or by number from 1.
func pickSheet(sheets []string, want string) (string, error) {
	if want == "" {
		return sheets[0], nil
	}
	for _, s := range sheets {
		if s == want {
			return s, nil
		}
	}
	for _, s := range sheets {
		if strings.EqualFold(s, want) {
			return s, nil
		}
	}
	if n, err := strconv.Atoi(want); err == nil && n >= 1 && n <= len(sheets) {
		return sheets[n-1], nil
	}
	return "", fmt.Errorf("there is no sheet %q; the sheets are %s", want, quoteList(sheets))
}

func (s *xlsxSource) strictWidth() bool { return false }

func (s *xlsxSource) close() error {
	var err error
	if s.rows != nil {
		err = s.rows.Close()
	}
	return errors.Join(err, s.f.Close())
}

func (s *xlsxSource) next() (int, []string, error) {
	if !s.rows.Next() {
		if err := s.rows.Error(); err != nil {
			return 0, nil, fmt.Errorf("read sheet %s: %w", s.sheet, err)
		}
		return 0, nil, io.EOF
	}
	s.row++
	cells, err := s.rows.Columns(rawValues)
	if err != nil {
		return 0, nil, fmt.Errorf("read sheet %s row %d: %w", s.sheet, s.row, err)
	}
	for i, c := range cells {
		if c == "" {
			continue
		}
		if s.dateCols[i] {
			if iso, ok := serialToISO(c, s.date1904); ok {
				cells[i] = iso
				continue
			}
		}
		cells[i] = expandExponent(c)
	}
	return s.row, cells, nil
}

// expandExponent writes a number Excel stored with an exponent
// ("5.511987654321E+12") in full ("5511987654321"). Anything else is
// returned as is.
func expandExponent(v string) string {
	if !strings.ContainsAny(v, "Ee") || strings.ContainsAny(v, " \t") {
		return v
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return v
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// minDateSerial is 1900-03-01. Smaller whole numbers in a date column are
// not dates: they are the 1 and 0 of TRUE and FALSE (which raw values do
// not tell from numbers) or counts.
const minDateSerial = 61

// serialToISO turns an Excel date serial into "2006-01-02", with the time
// ("2006-01-02T15:04:05") when it has one, or just the time below one day.
func serialToISO(v string, date1904 bool) (string, bool) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > maxExcelSerial+1 || (f >= 1 && f < minDateSerial) {
		return "", false
	}
	t, err := excelize.ExcelDateToTime(f, date1904)
	if err != nil {
		return "", false
	}
	switch {
	case f < 1:
		return t.Format("15:04:05"), true
	case t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0:
		return t.Format(time.DateOnly), true
	}
	return t.Format("2006-01-02T15:04:05"), true
}

// probeDateColumns reads the first rows twice, raw and formatted, and
// returns the columns where numbers are mostly displayed as dates.
func probeDateColumns(f *excelize.File, sheet string, date1904 bool) (map[int]bool, error) {
	raw, err := f.Rows(sheet)
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	shown, err := f.Rows(sheet)
	if err != nil {
		return nil, err
	}
	defer shown.Close()
	dates, others := map[int]int{}, map[int]int{}
	for i := 0; i < probeRows && raw.Next() && shown.Next(); i++ {
		rc, err := raw.Columns(rawValues)
		if err != nil {
			return nil, err
		}
		sc, err := shown.Columns(excelize.Options{})
		if err != nil {
			return nil, err
		}
		for j, v := range rc {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > maxExcelSerial+1 || j >= len(sc) || sc[j] == v {
				continue
			}
			if t, err := excelize.ExcelDateToTime(f, date1904); err == nil && displaysDate(sc[j], t) {
				dates[j]++
			} else if strings.ContainsAny(sc[j], "0123456789") {
				others[j]++ // a number format; TRUE and FALSE are neither
			}
		}
	}
	cols := map[int]bool{}
	for j, n := range dates {
		if n > others[j] {
			cols[j] = true
		}
	}
	return cols, nil
}

var monthNames = [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// displaysDate reports whether shown is how a date or time format displays
// t: every number in it is a part of t (day, month, year, hour, minute,
// second), and there is either more than one, a four-digit year, or the
// month's name. A number format ("45,356.00", "4.5E+04") shows numbers
// that are not parts of the date.
func displaysDate(shown string, t time.Time) bool {
	parts := map[string]bool{}
	for _, n := range []int{t.Day(), int(t.Month()), t.Year() % 100, t.Hour(), t.Hour() % 12, t.Minute(), t.Second()} {
		parts[strconv.Itoa(n)] = true
		parts[fmt.Sprintf("%02d", n)] = true
	}
	if t.Hour()%12 == 0 {
		parts["12"] = true
	}
	year := strconv.Itoa(t.Year())
	parts[year] = true
	lower := strings.ToLower(shown)
	named := strings.Contains(lower, monthNames[t.Month()-1])
	var runs []string
	for _, f := range strings.FieldsFunc(shown, func(r rune) bool { return r < '0' || r > '9' }) {
		if !parts[f] {
			return false
		}
		runs = append(runs, f)
	}
	return len(runs) > 1 || named || (len(runs) == 1 && runs[0] == year)
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
