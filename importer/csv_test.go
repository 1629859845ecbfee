package importer

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestImportCorpus imports every text file of testdata/import and checks
// what was stored and reported.
func TestImportCorpus(t *testing.T) {
	t.Parallel()

	tests := []struct {
		file    string
		opts    Options
		check   func(t *testing.T, b *testBundle, s *Summary)
		wantErr string
	}{
		{
			file: "utf8_comma.csv", opts: Options{DefaultCountry: "US"},
			check: func(t *testing.T, b *testBundle, s *Summary) {
				require.Equal(t, "utf-8", s.Encoding)
				require.Equal(t, ",", s.Delimiter)
				require.Equal(t, []Column{
					{Header: "Name", Field: FieldName}, {Header: "Phone", Field: FieldPhone},
					{Header: "Opt-in", Field: FieldConsent}, {Header: "City", Field: FieldAttribute, Attribute: "city"},
					{Header: "Notes", Field: FieldAttribute, Attribute: "notes"},
				}, stripIndex(s.Columns))
				require.Equal(t, 6, s.Rows, "the blank row is not a row")
				require.Equal(t, 4, s.Imported)
				require.Equal(t, 2, s.Invalid)
				require.Equal(t, []RowError{
					{Line: 6, Column: "Phone", Reason: `"555-0100" is not a valid phone number: invalid for region US`},
					{Line: 7, Column: "Opt-in", Reason: `unrecognised consent value "maybe": use yes or no (sim/não, sí/no, true/false, 1/0, x) or the date consent was given`},
				}, s.Errors)
				c := b.contacts(t, s.List)
				require.Len(t, c, 4)
				require.Equal(t, map[string]string{"city": "San Francisco", "notes": `likes "quotes", commas`}, c["+14155552671"].Attributes)
				require.Equal(t, "Bob, Jr.", c["+14155550199"].Name)
				require.Equal(t, "two\nlines", c["+14155550199"].Attributes["notes"], "a quoted newline is data")
				require.Equal(t, ConsentNotOptedIn, c["+14155550199"].Consent)
				require.Equal(t, "GB", c["+447400123456"].Country, "a +44 number in a US list")
				require.Equal(t, ConsentOptedIn, c["+12125550147"].Consent, "TRUE")
			},
		},
		{
			file: "utf8_bom_semicolon.csv", opts: Options{DefaultCountry: "BR"},
			check: func(t *testing.T, b *testBundle, s *Summary) {
				require.Equal(t, "utf-8 with bom", s.Encoding)
				require.Equal(t, ";", s.Delimiter)
				require.Equal(t, FieldPhone, s.Columns[2].Field, "Celular beats Telefone; Aceita WhatsApp is consent")
				require.Equal(t, FieldConsent, s.Columns[3].Field)
				require.Equal(t, FieldEmail, s.Columns[5].Field)
				c := b.contacts(t, s.List)
				require.Equal(t, Contact{ID: c["+5511987654321"].ID, Phone: "+5511987654321", Name: "João Silva",
					Email: "joao@example.com", Country: "BR", Consent: ConsentOptedIn, ConsentAt: c["+5511987654321"].ConsentAt,
					Attributes: map[string]string{"cidade": "São Paulo", "telefone": "(11) 3456-7890"}}, c["+5511987654321"])
				require.Equal(t, ConsentNotOptedIn, c["+5521988887777"].Consent, "não")
				require.Equal(t, ConsentOptedIn, c["+5531999990000"].Consent, "S")
			},
		},
		{
			file: "utf16le_tab.txt", opts: Options{DefaultCountry: "MX"},
			check: func(t *testing.T, b *testBundle, s *Summary) {
				require.Equal(t, "utf-16le", s.Encoding)
				require.Equal(t, "\t", s.Delimiter)
				c := b.contacts(t, s.List)
				require.Equal(t, "José Pérez", c["+525512345678"].Name)
				require.Equal(t, ConsentOptedIn, c["+525512345678"].Consent, "sí")
				require.Equal(t, map[string]string{"ciudad": "Ciudad de México"}, c["+525512345678"].Attributes)
				require.Equal(t, ConsentNotOptedIn, c["+523312345678"].Consent)
			},
		},
		{
			file: "utf16be_comma.csv", opts: Options{DefaultCountry: "BR"},
			check: func(t *testing.T, b *testBundle, s *Summary) {
				require.Equal(t, "utf-16be", s.Encoding)
				c := b.contacts(t, s.List)
				require.Equal(t, "Ümit", c["+5511987654321"].Name)
				require.Equal(t, "Çağla", c["+5521988887777"].Name)
			},
		},
		{
			file: "windows1252_semicolon.csv", opts: Options{DefaultCountry: "BR"},
			check: func(t *testing.T, b *testBundle, s *Summary) {
				require.Equal(t, "windows-1252", s.Encoding)
				require.Equal(t, "Observação", s.Columns[3].Header)
				c := b.contacts(t, s.List)
				require.Equal(t, "José Ação", c["+5511987654321"].Name)
				require.Equal(t, map[string]string{"observacao": "café “especial”"}, c["+5511987654321"].Attributes)
				require.Equal(t, "€ 10", c["+5521988887777"].Attributes["observacao"])
			},
		},
		{
			file: "pipe.csv", opts: Options{DefaultCountry: "BR"},
			check: func(t *testing.T, b *testBundle, s *Summary) {
				require.Equal(t, "|", s.Delimiter)
				require.Equal(t, 2, s.Imported)
				require.Equal(t, map[string]string{"plano": "ouro"}, b.contacts(t, s.List)["+5511987654321"].Attributes)
			},
		},
		{
			file: "ragged.csv", opts: Options{DefaultCountry: "BR"},
			check: func(t *testing.T, b *testBundle, s *Summary) {
				require.Equal(t, []RowError{
					{Line: 3, Reason: "the row has 4 fields where the header has 3"},
					{Line: 4, Reason: "the row has 2 fields where the header has 3"},
				}, s.Errors)
				require.Equal(t, 2, s.Imported, "trailing empty fields are not ragged")
			},
		},
		{
			file: "title_rows.csv", opts: Options{DefaultCountry: "BR"},
			check: func(t *testing.T, b *testBundle, s *Summary) {
				require.Equal(t, 3, s.HeaderRow)
				require.Equal(t, 2, s.Rows)
				require.Equal(t, 2, s.OptedIn)
			},
		},
		{
			file: "title_rows.csv", opts: Options{DefaultCountry: "BR", HeaderRow: 3},
			check: func(t *testing.T, b *testBundle, s *Summary) {
				require.Equal(t, 2, s.Imported)
			},
		},
		{
			file: "title_rows.csv", opts: Options{DefaultCountry: "BR", HeaderRow: 2},
			wantErr: "title_rows.csv: row 2, given as the header row, is empty",
		},
		{
			file: "consent.csv", opts: Options{DefaultCountry: "BR"},
			check: func(t *testing.T, b *testBundle, s *Summary) {
				require.Equal(t, []RowError{
					{Line: 6, Column: "consent", Reason: `unrecognised consent value "talvez": use yes or no (sim/não, sí/no, true/false, 1/0, x) or the date consent was given`},
					{Line: 7, Column: "consent", Reason: "consent date is in the future"},
				}, s.Errors)
				c := b.contacts(t, s.List)
				march15 := time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC)
				for _, p := range []string{"+5511900000001", "+5511900000002", "+5511900000003"} {
					require.Equal(t, ConsentOptedIn, c[p].Consent, p)
					require.True(t, march15.Equal(*c[p].ConsentAt), "%s consented on %v", p, c[p].ConsentAt)
				}
				require.True(t, time.Date(2024, 3, 5, 14, 30, 0, 0, time.UTC).Equal(*c["+5511900000004"].ConsentAt), "day first in Brazil")
				require.Equal(t, ConsentOptedIn, c["+5511900000007"].Consent, "Sí")
				require.Equal(t, ConsentNotOptedIn, c["+5511900000008"].Consent, "NÃO")
				require.Equal(t, ConsentOptedIn, c["+5511900000009"].Consent, "x")
				require.Equal(t, ConsentNotOptedIn, c["+5511900000010"].Consent, "empty")
				require.Equal(t, ConsentOptedOut, c["+5511900000011"].Consent, "opted out")
				require.Equal(t, 1, s.OptedOut)
			},
		},
		{
			file: "duplicates.csv", opts: Options{DefaultCountry: "BR"},
			check: func(t *testing.T, b *testBundle, s *Summary) {
				require.Equal(t, 5, s.Rows)
				require.Equal(t, 2, s.Imported)
				require.Equal(t, 3, s.Duplicates)
				c := b.contacts(t, s.List)
				require.Len(t, c, 2)
				require.Equal(t, "First", c["+5511987654321"].Name, "the first row wins")
			},
		},
		{
			file: "bad_quotes.csv", opts: Options{DefaultCountry: "BR"},
			check: func(t *testing.T, b *testBundle, s *Summary) {
				require.Equal(t, []RowError{
					{Line: 2, Reason: "a quote inside a field that is not quoted"},
					{Line: 3, Reason: "a quoted field with a stray quote after it"},
				}, s.Errors)
				require.Equal(t, 1, s.Imported)
			},
		},
		{
			file: "sep_line.csv", opts: Options{DefaultCountry: "BR"},
			check: func(t *testing.T, b *testBundle, s *Summary) {
				require.Equal(t, ";", s.Delimiter)
				require.Equal(t, 2, s.HeaderRow)
				require.Equal(t, map[string]string{"name_with_comma": "Ana, Lima"}, b.contacts(t, s.List)["+5511987654321"].Attributes)
			},
		},
		{
			file: "needs_mapping.csv", opts: Options{DefaultCountry: "BR", Mappings: map[string]string{
				"número wa": FieldPhone, "Sim ou não": FieldConsent, "Cliente": FieldName, "Cidade": "city"}},
			check: func(t *testing.T, b *testBundle, s *Summary) {
				c := b.contacts(t, s.List)["+5511987654321"]
				require.Equal(t, "Ana", c.Name)
				require.Equal(t, ConsentOptedIn, c.Consent)
				require.Equal(t, map[string]string{"city": "SP"}, c.Attributes)
			},
		},
		{
			file: "ambiguous_phone.csv", opts: Options{DefaultCountry: "BR", Mappings: map[string]string{"Celular 2": FieldPhone}},
			check: func(t *testing.T, b *testBundle, s *Summary) {
				c := b.contacts(t, s.List)
				require.Equal(t, map[string]string{"celular_1": "11987654321"}, c["+5511987654322"].Attributes)
			},
		},
		// Files that cannot be imported: one clear error, nothing stored.
		{file: "ambiguous_phone.csv", wantErr: `ambiguous_phone.csv: several columns could be the phone number: "Celular 1", "Celular 2"; map the right one to phone`},
		{file: "needs_mapping.csv", wantErr: `needs_mapping.csv: no phone column found: the headers are "Cliente", "Número WA", "Sim ou não", "Cidade"; name the column "phone", "whatsapp", "telefone", "celular" or "teléfono", or map it to phone`},
		{file: "needs_mapping.csv", opts: Options{Mappings: map[string]string{"Tel": FieldPhone}},
			wantErr: `needs_mapping.csv: there is no column "Tel" to map to phone: the headers are "Cliente", "Número WA", "Sim ou não", "Cidade"`},
		{file: "no_phone.csv", wantErr: `no_phone.csv: no phone column found: the headers are "Nome", "Cidade", "Plano"; name the column "phone", "whatsapp", "telefone", "celular" or "teléfono", or map it to phone`},
		{file: "empty.csv", wantErr: "empty.csv: the file is empty"},
		{file: "garbage.csv", wantErr: "garbage.csv: this is not a CSV or XLSX file: it holds binary data"},
		{file: "legacy.xls", wantErr: "legacy.xls: this is a legacy Excel 97-2003 workbook (.xls) or a password-protected one, which herald cannot read: open it in Excel or Sheets and save it as .xlsx (Excel Workbook) or CSV"},
		{file: "text_named.xlsx", wantErr: "text_named.xlsx: the file is named .xlsx but is not a workbook: it is a text file (perhaps CSV exported with the wrong name); rename it .csv, or save it from Excel as .xlsx"},
		{file: "unterminated_quote.csv", wantErr: "unterminated_quote.csv: line 3: a quoted field starts here and never ends (a missing closing quote); nothing after it could be read"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			tt.opts.List = "corpus"
			sum, err := b.svc.ImportFile(b.ctx, corpus(tt.file), tt.opts)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				var fe *FileError
				require.True(t, errors.As(err, &fe), "a file error")
				require.Zero(t, b.count(t, `SELECT count(*) FROM imports`), "nothing stored")
				require.Zero(t, b.count(t, `SELECT count(*) FROM lists`), "nothing stored")
				return
			}
			require.NoError(t, err)
			requireBalanced(t, sum)
			require.Equal(t, tt.file, sum.File)
			require.Equal(t, FormatCSV, sum.Format)
			require.Equal(t, sum.Invalid, countLines(b.storedErrors(t, sum.ImportID)), "every error is stored")
			tt.check(t, b, sum)
		})
	}
}

// countLines counts the distinct lines of errors (a row may have several).
func countLines(errs []RowError) int {
	lines := map[int]bool{}
	for _, e := range errs {
		lines[e.Line] = true
	}
	return len(lines)
}

func stripIndex(cols []Column) []Column {
	out := make([]Column, len(cols))
	for i, c := range cols {
		c.index = 0
		out[i] = c
	}
	return out
}
