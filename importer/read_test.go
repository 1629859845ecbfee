package importer

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

func TestSniffFormat(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name, file string
		head       []byte
		want       string
		wantErr    string
	}{
		{"csv", "a.csv", []byte("phone\n1\n"), FormatCSV, ""},
		{"no name", "", []byte("phone\n1\n"), FormatCSV, ""},
		{"tsv as txt", "a.txt", []byte("phone\tname\n"), FormatCSV, ""},
		{"xlsx", "a.xlsx", []byte("PK\x03\x04rest"), FormatXLSX, ""},
		{"xlsx without a name", "", []byte("PK\x03\x04rest"), FormatXLSX, ""},
		{"utf-16", "a.csv", []byte("\xff\xfep\x00h\x00"), FormatCSV, ""},
		{"empty", "a.csv", nil, "", "the file is empty"},
		{"xls", "a.xls", []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1...."), "", "legacy Excel 97-2003 workbook"},
		{"zip named csv", "a.csv", []byte("PK\x03\x04rest"), "", "named .csv but holds a zip archive"},
		{"text named xlsx", "a.xlsx", []byte("phone\n"), "", "named .xlsx but is not a workbook"},
		{"pdf", "a.csv", []byte("%PDF-1.7"), "", "this is a PDF document"},
		{"png", "a.png", []byte("\x89PNG\r\n"), "", "this is a PNG image"},
		{"binary", "a.csv", []byte("\x01\x02\x03\x04\x05\x06\x07\x08\x00"), "", "holds binary data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := sniffFormat(tt.file, tt.head)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.Nil(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestCSVEncodings(t *testing.T) {
	t.Parallel()

	const text = "Nome;Telefone\nJoão Ação;(11) 98765-4321\n"
	utf16 := func(e unicode.Endianness, bom unicode.BOMPolicy) []byte {
		b, err := unicode.UTF16(e, bom).NewEncoder().Bytes([]byte(text))
		require.NoError(t, err)
		return b
	}
	latin1, err := charmap.Windows1252.NewEncoder().Bytes([]byte(text))
	require.NoError(t, err)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"utf-8", []byte(text), EncodingUTF8},
		{"utf-8 bom", append([]byte("\xef\xbb\xbf"), text...), EncodingUTF8BOM},
		{"utf-16le bom", utf16(unicode.LittleEndian, unicode.UseBOM), EncodingUTF16LE},
		{"utf-16be bom", utf16(unicode.BigEndian, unicode.UseBOM), EncodingUTF16BE},
		{"utf-16le no bom", utf16(unicode.LittleEndian, unicode.IgnoreBOM), EncodingUTF16LE},
		{"utf-16be no bom", utf16(unicode.BigEndian, unicode.IgnoreBOM), EncodingUTF16BE},
		{"windows-1252", latin1, EncodingWindows1252},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src, err := newCSVSource(bytes.NewReader(tt.data))
			require.NoError(t, err)
			require.Equal(t, tt.want, src.encoding)
			require.Equal(t, ';', src.delimiter)
			_, header, err := src.next()
			require.NoError(t, err)
			require.Equal(t, []string{"Nome", "Telefone"}, header)
			line, row, err := src.next()
			require.NoError(t, err)
			require.Equal(t, 2, line)
			require.Equal(t, []string{"João Ação", "(11) 98765-4321"}, row)
			_, _, err = src.next()
			require.Equal(t, io.EOF, err)
		})
	}
}

func TestCSVStrayLatin1Line(t *testing.T) {
	t.Parallel()

	// UTF-8 at the top, one Windows-1252 line further down: the line is
	// read as Windows-1252, not stored as invalid UTF-8.
	var data bytes.Buffer
	data.WriteString("phone,name\n")
	for range 5000 {
		data.WriteString("+5511987654321,João\n")
	}
	data.WriteString("+5511987654322,Jos\xe9\n")
	src, err := newCSVSource(&data)
	require.NoError(t, err)
	require.Equal(t, EncodingUTF8, src.encoding)
	var last []string
	for {
		_, row, err := src.next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		last = row
	}
	require.Equal(t, []string{"+5511987654322", "José"}, last)
}

func TestSniffDelimiter(t *testing.T) {
	t.Parallel()

	tests := map[string]rune{
		"a,b,c\n1,2,3\n":                       ',',
		"a;b;c\n1;2,5;3\n4;5,5;6\n":            ';', // decimal commas
		"a\tb\n1\t2\n":                         '\t',
		"a|b|c\n1|2|3\n":                       '|',
		"phone\n+5511987654321\n":              ',',
		"Title, with comma\na;b\n1;2\n3;4\n":   ';',
		"\"x;y\",b\n\"1;2\",3\n\"4;5\",6\n":    ',', // delimiters inside quotes do not count
		"name,note\nAna,\"a\nb;c;d\"\nBia,x\n": ',',
	}
	for sample, want := range tests {
		require.Equal(t, string(want), string(sniffDelimiter([]byte(sample))), "%q", sample)
	}
}

func TestHeaderKey(t *testing.T) {
	t.Parallel()

	for in, want := range map[string]string{
		"Teléfono Móvil":             "telefono_movil",
		"TELEFONE-CELULAR":           "telefone_celular",
		" E-mail ":                   "e_mail",
		"Nº Celular":                 "no_celular",
		"Opt-in?":                    "opt_in",
		"Data de Nascimento (dd/mm)": "data_de_nascimento_dd_mm",
		"ＷｈａｔｓＡｐｐ":                   "whatsapp",
		"---":                        "",
	} {
		require.Equal(t, want, headerKey(in), in)
	}
}

func TestLayout(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		headers  []string
		mappings map[string]string
		want     map[string]string // header → field or attribute key
		wantErr  string
	}{
		{
			name:    "english",
			headers: []string{"Phone", "Full Name", "E-mail", "Consent", "City"},
			want:    map[string]string{"Phone": FieldPhone, "Full Name": FieldName, "E-mail": FieldEmail, "Consent": FieldConsent, "City": "city"},
		},
		{
			name:    "portuguese, mobile beats phone",
			headers: []string{"Nome", "Telefone", "Celular", "Aceita receber WhatsApp?", "Cidade"},
			want:    map[string]string{"Nome": FieldName, "Celular": FieldPhone, "Telefone": "telefone", "Aceita receber WhatsApp?": FieldConsent, "Cidade": "cidade"},
		},
		{
			name:    "spanish",
			headers: []string{"Nombre", "Teléfono", "Correo electrónico", "Consentimiento"},
			want:    map[string]string{"Nombre": FieldName, "Teléfono": FieldPhone, "Correo electrónico": FieldEmail, "Consentimiento": FieldConsent},
		},
		{
			name:    "by token",
			headers: []string{"WhatsApp do cliente", "Data opt-in"},
			want:    map[string]string{"WhatsApp do cliente": FieldPhone, "Data opt-in": FieldConsent},
		},
		{
			name:    "first and last names stay attributes",
			headers: []string{"phone", "first_name", "Last Name"},
			want:    map[string]string{"phone": FieldPhone, "first_name": "first_name", "Last Name": "last_name"},
		},
		{
			name:    "repeated and empty headers",
			headers: []string{"phone", "Tag", "tag", "", "x"},
			want:    map[string]string{"phone": FieldPhone, "Tag": "tag", "tag": "tag_2", "": "column_4", "x": "x"},
		},
		{
			name:     "mappings",
			headers:  []string{"Cel", "Tel", "Obs", "Cidade"},
			mappings: map[string]string{"tel": FieldPhone, "Obs": FieldIgnore, "Cidade": "City Name"},
			want:     map[string]string{"Tel": FieldPhone, "Cel": "cel", "Obs": FieldIgnore, "Cidade": "city_name"},
		},
		{
			name:    "ambiguous",
			headers: []string{"Celular 1", "Celular 2"},
			wantErr: `several columns could be the phone number: "Celular 1", "Celular 2"`,
		},
		{
			name:    "no phone",
			headers: []string{"Nome", "Cidade"},
			want:    map[string]string{"Nome": FieldName, "Cidade": "cidade"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := parseMappings(tt.mappings)
			require.NoError(t, err)
			l, err := newLayout(1, tt.headers, m)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			got := map[string]string{}
			for _, c := range l.columns {
				if c.Field == FieldAttribute {
					got[c.Header] = c.Attribute
				} else {
					got[c.Header] = c.Field
				}
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestConsent(t *testing.T) {
	t.Parallel()

	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	br := consentParser{now: now}
	us := consentParser{now: now, monthFirst: true}
	day := func(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		in      string
		p       consentParser
		want    string
		at      time.Time
		wantErr string
	}{
		{in: "yes", p: br, want: ConsentOptedIn},
		{in: " SIM ", p: br, want: ConsentOptedIn},
		{in: "Sí", p: br, want: ConsentOptedIn},
		{in: "s", p: br, want: ConsentOptedIn},
		{in: "Y", p: br, want: ConsentOptedIn},
		{in: "true", p: br, want: ConsentOptedIn},
		{in: "1", p: br, want: ConsentOptedIn},
		{in: "X", p: br, want: ConsentOptedIn},
		{in: "✓", p: br, want: ConsentOptedIn},
		{in: "Opt-in", p: br, want: ConsentOptedIn},
		{in: "opted_in", p: br, want: ConsentOptedIn},
		{in: "-", p: br, want: ConsentNotOptedIn},
		{in: "opt in", p: br, want: ConsentOptedIn},
		{in: "não", p: br, want: ConsentNotOptedIn},
		{in: "NAO", p: br, want: ConsentNotOptedIn},
		{in: "no", p: br, want: ConsentNotOptedIn},
		{in: "n", p: br, want: ConsentNotOptedIn},
		{in: "false", p: br, want: ConsentNotOptedIn},
		{in: "0", p: br, want: ConsentNotOptedIn},
		{in: "", p: br, want: ConsentNotOptedIn},
		{in: "Sim.", p: br, want: ConsentOptedIn},
		{in: "opted out", p: br, want: ConsentOptedOut},
		{in: "Unsubscribed", p: br, want: ConsentOptedOut},
		{in: "2024-03-15", p: br, want: ConsentOptedIn, at: day(2024, 3, 15)},
		{in: "2024-03-15T10:30:00Z", p: br, want: ConsentOptedIn, at: time.Date(2024, 3, 15, 10, 30, 0, 0, time.UTC)},
		{in: "05/03/2024", p: br, want: ConsentOptedIn, at: day(2024, 3, 5)},
		{in: "05/03/2024", p: us, want: ConsentOptedIn, at: day(2024, 5, 3)},
		{in: "15/03/2024", p: us, want: ConsentOptedIn, at: day(2024, 3, 15)},
		{in: "03/15/2024", p: br, want: ConsentOptedIn, at: day(2024, 3, 15)},
		{in: "5-3-24", p: br, want: ConsentOptedIn, at: day(2024, 3, 5)},
		{in: "05.03.2024 14:30", p: br, want: ConsentOptedIn, at: time.Date(2024, 3, 5, 14, 30, 0, 0, time.UTC)},
		{in: "31/02/2024", p: br, wantErr: "unrecognised consent value"},
		{in: "2030-01-01", p: br, wantErr: "consent date is in the future"},
		{in: "talvez", p: br, wantErr: `unrecognised consent value "talvez"`},
		{in: "45366", p: br, wantErr: "unrecognised consent value"},
	}
	for _, tt := range tests {
		got, at, err := tt.p.parse(tt.in)
		if tt.wantErr != "" {
			require.ErrorContains(t, err, tt.wantErr, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, got, tt.in)
		require.True(t, tt.at.Equal(at), "%s: at %v, want %v", tt.in, at, tt.at)
	}
}

func TestWorkbookValues(t *testing.T) {
	t.Parallel()

	for in, want := range map[string]string{
		"5.511987654321E+12": "5511987654321",
		"1E5":                "100000",
		"1.5e-3":             "0.0015",
		"5511987654321":      "5511987654321",
		"E-mail":             "E-mail",
		"12 E 3":             "12 E 3",
	} {
		require.Equal(t, want, expandExponent(in), in)
	}
	for in, want := range map[string]string{
		"45366":       "2024-03-15",
		"45366.5":     "2024-03-15T12:00:00",
		"0.75":        "18:00:00",
		"1":           "", // TRUE, not 1900-01-01
		"0":           "",
		"not a date":  "",
		"99999999999": "",
	} {
		got, ok := serialToISO(in, false)
		require.Equal(t, want != "", ok, in)
		require.Equal(t, want, got, in)
	}
	date := time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	for shown, want := range map[string]bool{
		"03-05-24": true, "05/03/2024": true, "2024-03-05": true, "5-Mar-24": true, "March 2024": true,
		"2024": true, "45,356.00": false, "4.5E+04": false, "45356": false, "R$ 45.356,00": false, "TRUE": false,
	} {
		require.Equal(t, want, displaysDate(shown, date), shown)
	}
}

func TestAppendJSONString(t *testing.T) {
	t.Parallel()

	for in, want := range map[string]string{
		`plain`:          `"plain"`,
		`quote " back \`: `"quote \" back \\"`,
		"tab\tnl\ncr\r":  `"tab\tnl\ncr\r"`,
		"\x01\x1f":       `"\u0001\u001f"`,
		"São “x” €":      `"São “x” €"`,
	} {
		require.Equal(t, want, string(appendJSONString(nil, in)), in)
	}
	require.Equal(t, "ab", clean("a\x00b"))
	require.Equal(t, "a\uFFFDb", clean("a\xffb"))
}
