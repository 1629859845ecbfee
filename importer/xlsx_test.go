package importer

import (
	"archive/zip"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"
)

// writeWorkbook saves a workbook built by fill into dir.
func writeWorkbook(t *testing.T, fill func(f *excelize.File)) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	fill(f)
	path := filepath.Join(t.TempDir(), "contacts.xlsx")
	require.NoError(t, f.SaveAs(path))
	return path
}

func set(t *testing.T, f *excelize.File, sheet, cell string, v any) {
	t.Helper()
	require.NoError(t, f.SetCellValue(sheet, cell, v))
}

func style(t *testing.T, f *excelize.File, s *excelize.Style) int {
	t.Helper()
	id, err := f.NewStyle(s)
	require.NoError(t, err)
	return id
}

// cellsWorkbook has numbers stored every way Excel stores them, date cells
// in two formats, a boolean, blank rows and a title above the header.
func cellsWorkbook(t *testing.T) string {
	return writeWorkbook(t, func(f *excelize.File) {
		const s = "Sheet1"
		bold := style(t, f, &excelize.Style{Font: &excelize.Font{Bold: true}})
		isoDate := style(t, f, &excelize.Style{NumFmt: 14})
		ddmmyyyy := "dd/mm/yyyy"
		brDate := style(t, f, &excelize.Style{CustomNumFmt: &ddmmyyyy})
		money := style(t, f, &excelize.Style{NumFmt: 4}) // #,##0.00

		set(t, f, s, "A1", "Clientes — março 2024")
		require.NoError(t, f.MergeCell(s, "A1", "E1"))
		// Row 2 blank, header on row 3.
		require.NoError(t, f.SetSheetRow(s, "A3", &[]any{"Celular", "Nome", "Aceita", "Aniversário", "Saldo"}))

		// A plain numeric cell.
		set(t, f, s, "A4", 5511987654321)
		set(t, f, s, "B4", "Ana")
		set(t, f, s, "C4", time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC))
		require.NoError(t, f.SetCellStyle(s, "C4", "C4", isoDate))
		set(t, f, s, "D4", time.Date(1990, 12, 25, 0, 0, 0, 0, time.UTC))
		require.NoError(t, f.SetCellStyle(s, "D4", "D4", brDate))
		set(t, f, s, "E4", 1234.5)
		require.NoError(t, f.SetCellStyle(s, "E4", "E4", money))

		// A styled numeric cell: shown formatted it would read 5.5119E+12.
		set(t, f, s, "A5", 5521988887777)
		require.NoError(t, f.SetCellStyle(s, "A5", "A5", bold))
		set(t, f, s, "B5", "Bia")
		require.NoError(t, f.SetCellBool(s, "C5", false))
		set(t, f, s, "D5", time.Date(1985, 1, 2, 0, 0, 0, 0, time.UTC))
		require.NoError(t, f.SetCellStyle(s, "D5", "D5", brDate))

		// Row 6 blank. A number Excel wrote with an exponent.
		require.NoError(t, f.SetCellDefault(s, "A7", "5.531999990000E+12"))
		set(t, f, s, "B7", "Cid")
		require.NoError(t, f.SetCellBool(s, "C7", true))

		// A number typed as text, and a broken one.
		set(t, f, s, "A8", "(11) 98765-4322")
		set(t, f, s, "B8", "Dora")
		set(t, f, s, "C8", "sim")
		set(t, f, s, "A9", 123)
		set(t, f, s, "B9", "Eva")
	})
}

func TestImportXLSXCells(t *testing.T) {
	t.Parallel()
	b := setup(t)

	sum, err := b.svc.ImportFile(b.ctx, cellsWorkbook(t), Options{List: "xlsx", DefaultCountry: "BR"})
	require.NoError(t, err)
	requireBalanced(t, sum)
	require.Equal(t, FormatXLSX, sum.Format)
	require.Equal(t, "Sheet1", sum.Sheet)
	require.Equal(t, 3, sum.HeaderRow, "title and blank row above the header")
	require.Equal(t, 5, sum.Rows, "blank rows skipped")
	require.Equal(t, 4, sum.Imported)
	require.Equal(t, []RowError{{Line: 9, Column: "Celular", Reason: `"123" is not a valid phone number: too short`}}, sum.Errors)

	c := b.contacts(t, "xlsx")
	require.Len(t, c, 4)
	ana := c["+5511987654321"]
	require.Equal(t, "Ana", ana.Name)
	require.Equal(t, ConsentOptedIn, ana.Consent, "a date cell in the consent column")
	require.True(t, time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC).Equal(*ana.ConsentAt))
	require.Equal(t, map[string]string{"aniversario": "1990-12-25", "saldo": "1234.5"}, ana.Attributes,
		"dates as ISO dates, numbers as written")

	bia := c["+5521988887777"]
	require.Equal(t, "Bia", bia.Name, "a styled numeric phone read exactly")
	require.Equal(t, ConsentNotOptedIn, bia.Consent, "FALSE")
	require.Equal(t, "1985-01-02", bia.Attributes["aniversario"])

	require.Equal(t, "Cid", c["+5531999990000"].Name, "exponent expanded")
	require.Equal(t, ConsentOptedIn, c["+5531999990000"].Consent, "TRUE")
	require.Equal(t, "Dora", c["+5511987654322"].Name)
}

func TestImportXLSXFromReader(t *testing.T) {
	t.Parallel()
	b := setup(t)

	data, err := os.ReadFile(cellsWorkbook(t))
	require.NoError(t, err)
	sum, err := b.svc.Import(b.ctx, bytes.NewReader(data), Options{List: "upload", FileName: "upload.xlsx", DefaultCountry: "BR"})
	require.NoError(t, err)
	require.Equal(t, 4, sum.Imported)
	require.Equal(t, "upload.xlsx", sum.File)
	tmp, err := os.ReadDir(b.svc.cfg.TempDir)
	require.NoError(t, err)
	require.Empty(t, tmp, "the spooled copy is removed")
}

func sheetsWorkbook(t *testing.T) string {
	return writeWorkbook(t, func(f *excelize.File) {
		require.NoError(t, f.SetSheetName("Sheet1", "Resumo"))
		set(t, f, "Resumo", "A1", "Total")
		set(t, f, "Resumo", "B1", 2)
		_, err := f.NewSheet("Contatos")
		require.NoError(t, err)
		require.NoError(t, f.SetSheetRow("Contatos", "A1", &[]any{"Lista de março"}))
		require.NoError(t, f.SetSheetRow("Contatos", "A2", &[]any{"nome", "whatsapp"}))
		require.NoError(t, f.SetSheetRow("Contatos", "A3", &[]any{"Ana", "+55 11 98765-4321"}))
		require.NoError(t, f.SetSheetRow("Contatos", "A4", &[]any{"Bia", "+55 11 98765-4322"}))
		_, err = f.NewSheet("Vazia")
		require.NoError(t, err)
	})
}

func TestImportXLSXSheets(t *testing.T) {
	t.Parallel()
	path := sheetsWorkbook(t)

	tests := []struct {
		name      string
		opts      Options
		wantSheet string
		wantErr   string
	}{
		{name: "first sheet by default", wantErr: `contacts.xlsx: no phone column found: the headers are "Total", "2"; name the column "phone", "whatsapp", "telefone", "celular" or "teléfono", or map it to phone`},
		{name: "by name", opts: Options{Sheet: "Contatos"}, wantSheet: "Contatos"},
		{name: "by name, any case", opts: Options{Sheet: "contatos"}, wantSheet: "Contatos"},
		{name: "by number", opts: Options{Sheet: "2"}, wantSheet: "Contatos"},
		{name: "header row given", opts: Options{Sheet: "Contatos", HeaderRow: 2}, wantSheet: "Contatos"},
		{name: "wrong header row", opts: Options{Sheet: "Contatos", HeaderRow: 1}, wantErr: `contacts.xlsx: no phone column found: the headers are "Lista de março"; name the column "phone", "whatsapp", "telefone", "celular" or "teléfono", or map it to phone`},
		{name: "no such sheet", opts: Options{Sheet: "Clientes"}, wantErr: `contacts.xlsx: there is no sheet "Clientes"; the sheets are "Resumo", "Contatos", "Vazia"`},
		{name: "empty sheet", opts: Options{Sheet: "Vazia"}, wantErr: "contacts.xlsx: the file has no rows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			tt.opts.List, tt.opts.DefaultCountry = "sheets", "BR"
			sum, err := b.svc.ImportFile(b.ctx, path, tt.opts)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				require.Zero(t, b.count(t, `SELECT count(*) FROM imports`))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantSheet, sum.Sheet)
			require.Equal(t, 2, sum.HeaderRow)
			require.Equal(t, 2, sum.Imported)
		})
	}
}

func TestImportXLSXBroken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	// A zip archive that is not a workbook.
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	w, err := zw.Create("notes.txt")
	require.NoError(t, err)
	_, _ = w.Write([]byte("hello"))
	require.NoError(t, zw.Close())
	notWorkbook := filepath.Join(dir, "archive.xlsx")
	require.NoError(t, os.WriteFile(notWorkbook, zbuf.Bytes(), 0o600))

	// A workbook cut short, as by a failed upload.
	whole, err := os.ReadFile(sheetsWorkbook(t))
	require.NoError(t, err)
	truncated := filepath.Join(dir, "truncated.xlsx")
	require.NoError(t, os.WriteFile(truncated, whole[:len(whole)/2], 0o600))

	// A workbook named .csv.
	misnamed := filepath.Join(dir, "contacts.csv")
	require.NoError(t, os.WriteFile(misnamed, whole, 0o600))

	for path, want := range map[string]string{
		notWorkbook: "archive.xlsx: this zip archive is not a readable Excel workbook",
		truncated:   "truncated.xlsx: this is not a readable Excel workbook (the file is damaged or incomplete)",
		misnamed:    "contacts.csv: the file is named .csv but holds a zip archive (probably an Excel workbook): rename it .xlsx, or save it as CSV",
	} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			_, err := b.svc.ImportFile(b.ctx, path, Options{List: "broken", DefaultCountry: "BR"})
			require.ErrorContains(t, err, want)
			require.Zero(t, b.count(t, `SELECT count(*) FROM imports`))
		})
	}
}

// TestImportXLSXInChunksAgreesWithCSV imports the same rows as a workbook,
// merged in many small chunks, and as CSV, merged at once: duplicates
// across chunks, errors and counts must come out the same.
func TestImportXLSXInChunksAgreesWithCSV(t *testing.T) {
	t.Parallel()

	var rows [][]any
	var csv strings.Builder
	csv.WriteString("phone,name,consent,city\n")
	for i := range 3000 {
		n := i % 2500 // the last 500 rows repeat numbers, written another way
		phone := fmt.Sprintf("(11) 9%04d-%04d", n, n)
		if i >= 2500 {
			phone = fmt.Sprintf("+55 11 9%04d-%04d", n, n)
		}
		if i%97 == 0 {
			phone = "12" // too short
		}
		consent := []string{"sim", "não", "", "talvez"}[i%4]
		rows = append(rows, []any{phone, fmt.Sprintf("N%d", i), consent, "SP"})
		fmt.Fprintf(&csv, "%s,N%d,%s,SP\n", phone, i, consent)
	}
	path := writeWorkbook(t, func(f *excelize.File) {
		require.NoError(t, f.SetSheetRow("Sheet1", "A1", &[]any{"phone", "name", "consent", "city"}))
		for i, r := range rows {
			require.NoError(t, f.SetSheetRow("Sheet1", fmt.Sprintf("A%d", i+2), &r))
		}
	})

	type result struct {
		sum      *Summary
		errors   []RowError
		contacts map[string]Contact
	}
	run := func(t *testing.T, chunked bool) result {
		b := setup(t)
		var (
			sum *Summary
			err error
		)
		if chunked {
			b.svc.chunkBytes = 10_000 // about 100 rows a chunk
			sum, err = b.svc.ImportFile(b.ctx, path, Options{List: "l", DefaultCountry: "BR"})
		} else {
			sum, err = b.svc.Import(b.ctx, strings.NewReader(csv.String()), Options{List: "l", FileName: "l.csv", DefaultCountry: "BR"})
		}
		require.NoError(t, err)
		requireBalanced(t, sum)
		r := result{sum: sum, errors: b.storedErrors(t, sum.ImportID), contacts: b.contacts(t, "l")}
		for k, c := range r.contacts {
			c.ID, c.ConsentAt = 0, nil
			r.contacts[k] = c
		}
		sum.ImportID, sum.File, sum.Format, sum.Sheet, sum.Encoding, sum.Delimiter = 0, "", "", "", "", ""
		sum.CreatedAt, sum.FinishedAt, sum.Columns = time.Time{}, time.Time{}, nil
		return r
	}
	var fromXLSX, fromCSV result
	t.Run("xlsx in chunks", func(t *testing.T) { fromXLSX = run(t, true) })
	t.Run("csv at once", func(t *testing.T) { fromCSV = run(t, false) })

	require.Equal(t, 3000, fromXLSX.sum.Rows)
	valid := func(i int) bool { return i%97 != 0 && i%4 != 3 }
	duplicates := 0
	for i := 2500; i < 3000; i++ {
		if valid(i) && valid(i-2500) {
			duplicates++
		}
	}
	require.Equal(t, duplicates, fromXLSX.sum.Duplicates)
	require.Greater(t, fromXLSX.sum.Invalid, 700)
	require.Equal(t, fromCSV.sum, fromXLSX.sum)
	require.Equal(t, fromCSV.errors, fromXLSX.errors)
	require.Equal(t, fromCSV.contacts, fromXLSX.contacts)
	require.Equal(t, "N1", fromXLSX.contacts["+5511900010001"].Name, "row 2501 repeats it: the first row wins")
}
