package importer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzReadCSV feeds arbitrary bytes to format, encoding and delimiter
// sniffing and to the CSV reader: nothing may panic, every cell must be
// storable (valid UTF-8), lines must only go forward, and the header search
// must end with a layout or an error.
func FuzzReadCSV(f *testing.F) {
	entries, err := os.ReadDir(corpus(""))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(corpus(e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"phone\n+5511987654321\n", "a;b;c\n1;2;3\n", "a\tb\n\"x\ny\"\tz\n", "sep=|\nphone|name\n1|2\n",
		"\"unterminated\n", "a,\"b\"c\n", "\xff\xfep\x00h\x00o\x00n\x00e\x00\n\x00", "\xef\xbb\xbfphone\n1\n",
		"telefone;nome\n\xe9;\xe7\n", "phone\x00\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		head := data[:min(len(data), sniffSize)]
		if _, ferr := sniffFormat("list.csv", head); ferr != nil {
			return
		}
		src, err := newCSVSource(bytes.NewReader(data))
		if err != nil {
			return
		}
		last := 0
		for range 10_000 {
			line, cells, err := src.next()
			var rerr *RowError
			if errors.As(err, &rerr) {
				if rerr.Line < last || rerr.Line < 1 {
					t.Fatalf("row error at line %d after line %d", rerr.Line, last)
				}
				last = rerr.Line
				continue
			}
			if err != nil {
				return
			}
			if line < last || line < 1 {
				t.Fatalf("row at line %d after line %d", line, last)
			}
			last = line
			for _, c := range cells {
				if !utf8.ValidString(c) {
					t.Fatalf("line %d: cell %q is not UTF-8", line, c)
				}
			}
		}
		src2, err := newCSVSource(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("second read of the same bytes failed: %v", err)
		}
		l, err := findLayout(src2, 0, nil)
		if err == nil && (l.phone < 0 || l.phone >= l.width) {
			t.Fatalf("layout without a usable phone column: %+v", l)
		}
	})
}

// FuzzConvertRow converts an arbitrary row under an arbitrary header: the
// COPY tuples produced must be well formed, with storable text and valid
// JSON attributes, or the row must be reported.
func FuzzConvertRow(f *testing.F) {
	f.Add("phone,name,consent,city", "+55 11 98765-4321,Ana,sim,São Paulo", "BR")
	f.Add("Telefone;Nome;Aceita", "(11) 98765-4321;João \"Zé\";2024-03-15", "BR")
	f.Add("phone,consent", "123,talvez", "US")
	f.Add("whatsapp,notes", "+1 415 555 2671,\x01\x1f\\\"", "US")
	f.Add("phone,first_name,last_name,x,x", "+44 7400 123456,A,B,1,2", "GB")
	f.Add("phone,consent", "+5511987654321,31/02/2024", "BR")
	f.Fuzz(func(t *testing.T, header, row, region string) {
		sep := ","
		if strings.Count(header, ";") > strings.Count(header, ",") {
			sep = ";"
		}
		l, err := newLayout(1, strings.Split(header, sep), nil)
		if err != nil || l.phone < 0 {
			return
		}
		conv := &converter{layout: l, strictWidth: true, region: region,
			consent: consentParser{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}}
		var (
			counts rowCounts
			errs   []RowError
		)
		buf := conv.convert(nil, rawRow{line: 2, cells: strings.Split(row, sep)}, &counts, &errs)
		if counts.invalid > 0 && len(errs) == 0 {
			t.Fatal("an invalid row without an error")
		}
		for _, e := range errs {
			if e.Line != 2 || e.Reason == "" {
				t.Fatalf("bad row error %+v", e)
			}
		}
		checkTuples(t, buf)
	})
}

// checkTuples parses binary COPY tuples of the staging table.
func checkTuples(t *testing.T, buf []byte) {
	t.Helper()
	r := bytes.NewReader(buf)
	for r.Len() > 0 {
		var n int16
		if err := binary.Read(r, binary.BigEndian, &n); err != nil || n != stageColumns {
			t.Fatalf("tuple with %d fields: %v", n, err)
		}
		for col := range stageColumns {
			var size int32
			if err := binary.Read(r, binary.BigEndian, &size); err != nil {
				t.Fatal(err)
			}
			if size == -1 {
				continue
			}
			field := make([]byte, size)
			if _, err := io.ReadFull(r, field); err != nil {
				t.Fatal(err)
			}
			switch col {
			case 0, 7, 10: // line, consent_at, phone_key
				if size != 4 && size != 8 {
					t.Fatalf("field %d has %d bytes", col, size)
				}
			case 5: // attributes: jsonb version 1, then JSON
				if field[0] != 1 || !json.Valid(field[1:]) || bytes.Contains(field, []byte(`\u0000`)) {
					t.Fatalf("attributes %q are not storable JSON", field)
				}
			default:
				if !utf8.Valid(field) || bytes.IndexByte(field, 0) >= 0 {
					t.Fatalf("field %d %q is not storable text", col, field)
				}
			}
		}
	}
}
