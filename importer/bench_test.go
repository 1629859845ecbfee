package importer

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// benchRows is the size of the lists the parsing benchmarks read.
const benchRows = 20_000

// benchCSV is a list as the importer sees one: the number written in four
// ways, a name, a consent and three attributes.
func benchCSV(rows int) []byte {
	var b bytes.Buffer
	b.WriteString("phone,name,consent,city,plan,signup_date\n")
	formats := []string{"+55 11 9%04d-%04d", "(11) 9%04d-%04d", "55119%04d%04d", "+5511 9%04d %04d"}
	for i := range rows {
		fmt.Fprintf(&b, formats[i%4]+",Contact %d,%s,São Paulo,pro,2024-03-%02d\n",
			i/10000, i%10000, i, []string{"yes", "sim", "no", ""}[i%4], 1+i%28)
	}
	return b.Bytes()
}

// readAll reads src to the end the way an import does, without a database:
// header, then every row converted to COPY tuples.
func readAll(b *testing.B, src rowSource) (rows int) {
	l, err := findLayout(src, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	conv := &converter{layout: l, strictWidth: src.strictWidth(), region: "BR",
		consent: consentParser{now: time.Now()}}
	var (
		buf    []byte
		counts rowCounts
		errs   []RowError
	)
	for {
		line, cells, err := src.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		buf = conv.convert(buf[:0], rawRow{line: line, cells: cells}, &counts, &errs)
	}
	if counts.invalid > 0 {
		b.Fatalf("%d invalid rows: %v", counts.invalid, errs[0])
	}
	return counts.rows
}

// BenchmarkReadCSV is sniffing, parsing, phone normalisation, consent and
// encoding of a CSV list, on one goroutine (an import runs the conversion on
// every core).
func BenchmarkReadCSV(b *testing.B) {
	data := benchCSV(benchRows)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		src, err := newCSVSource(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if n := readAll(b, src); n != benchRows {
			b.Fatalf("read %d rows", n)
		}
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkReadXLSX is the same for a workbook, through excelize's
// streaming reader.
func BenchmarkReadXLSX(b *testing.B) {
	path := filepath.Join(b.TempDir(), "list.xlsx")
	f := excelize.NewFile()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		b.Fatal(err)
	}
	_ = sw.SetRow("A1", []any{"phone", "name", "consent", "city", "plan", "signup_date"})
	for i := range benchRows {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		_ = sw.SetRow(cell, []any{5511900000000 + i, fmt.Sprintf("Contact %d", i), "sim", "São Paulo", "pro", "2024-03-01"})
	}
	if err := sw.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.SaveAs(path); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for b.Loop() {
		src, err := openXLSX(path, "list.xlsx", "", b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		if n := readAll(b, src); n != benchRows {
			b.Fatalf("read %d rows", n)
		}
		_ = src.close()
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
