package importer

import (
	"bufio"
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// Formats the importer reads.
const (
	FormatCSV  = "csv"
	FormatXLSX = "xlsx"
)

// sniffSize is how much of a file is looked at to recognise its format,
// encoding and delimiter.
const sniffSize = 64 << 10

// rowSource yields the rows of a file in order.
type rowSource interface {
	// next returns the next row with the line (CSV) or row (XLSX) it
	// starts on, io.EOF after the last, a *RowError for a row that could
	// not be read (reading goes on after it), or another error, which ends
	// the import. The caller owns cells.
	next() (line int, cells []string, err error)
	// strictWidth says whether a row with more or fewer cells than the
	// header is an error (CSV), or just ends early (XLSX omits trailing
	// empty cells).
	strictWidth() bool
	close() error
}

// magic numbers of files people upload by mistake.
var (
	magicZip    = []byte("PK\x03\x04")
	magicOLE2   = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
	magicOthers = []struct {
		prefix []byte
		what   string
	}{
		{[]byte("%PDF"), "a PDF document"},
		{[]byte("\x89PNG"), "a PNG image"},
		{[]byte("\xFF\xD8\xFF"), "a JPEG image"},
		{[]byte("GIF8"), "a GIF image"},
		{[]byte("\x1F\x8B"), "a gzip archive"},
		{[]byte("Rar!"), "a RAR archive"},
		{[]byte("7z\xBC\xAF"), "a 7-Zip archive"},
		{[]byte("{\\rtf"), "an RTF document"},
	}
)

// sniffFormat tells CSV from XLSX by content, and refuses what is neither or
// what contradicts its own name.
func sniffFormat(name string, head []byte) (string, *FileError) {
	ext := strings.ToLower(filepath.Ext(name))
	if len(head) == 0 {
		return "", &FileError{File: name, Problem: "the file is empty"}
	}
	switch {
	case bytes.HasPrefix(head, magicOLE2):
		return "", &FileError{File: name, Problem: "this is a legacy Excel 97-2003 workbook (.xls) or a password-protected one, " +
			"which herald cannot read: open it in Excel or Sheets and save it as .xlsx (Excel Workbook) or CSV"}
	case bytes.HasPrefix(head, magicZip):
		switch ext {
		case ".csv", ".txt", ".tsv":
			return "", &FileError{File: name, Problem: "the file is named " + ext + " but holds a zip archive " +
				"(probably an Excel workbook): rename it .xlsx, or save it as CSV"}
		}
		return FormatXLSX, nil
	}
	for _, m := range magicOthers {
		if bytes.HasPrefix(head, m.prefix) {
			return "", &FileError{File: name, Problem: "this is " + m.what + ", not a spreadsheet: upload a CSV or XLSX file"}
		}
	}
	if !looksLikeText(head) {
		return "", &FileError{File: name, Problem: "this is not a CSV or XLSX file: it holds binary data"}
	}
	switch ext {
	case ".xlsx", ".xlsm", ".xls", ".ods":
		return "", &FileError{File: name, Problem: "the file is named " + ext + " but is not a workbook: it is a text file " +
			"(perhaps CSV exported with the wrong name); rename it .csv, or save it from Excel as .xlsx"}
	}
	return FormatCSV, nil
}

// looksLikeText reports whether head is text in one of the encodings the
// importer reads: UTF-16 has NUL bytes in every other position, 8-bit text
// has (almost) no control characters.
func looksLikeText(head []byte) bool {
	if hasBOM16(head) || looksLikeUTF16(head) != "" {
		return true
	}
	control := 0
	for _, c := range head {
		switch {
		case c == 0:
			return false
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f':
			control++
		}
	}
	return control*100 <= len(head)
}

// countingReader counts the bytes read through it for progress reports.
type countingReader struct {
	r io.Reader
	n *int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	atomic.AddInt64(c.n, int64(n))
	return n, err
}

// peek reads up to sniffSize bytes ahead of br without consuming them.
func peek(br *bufio.Reader) ([]byte, error) {
	head, err := br.Peek(sniffSize)
	if err == io.EOF || err == bufio.ErrBufferFull {
		err = nil
	}
	return head, err
}
