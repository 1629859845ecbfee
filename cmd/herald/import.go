package main

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/herald-sh/herald/importer"
)

// importCmd is `herald import FILE --list NAME …` and `herald import errors`.
func (a *app) importCmd() *cobra.Command {
	var (
		opts     importer.Options
		mappings []string
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import a CSV or Excel contact list",
		Long: `Imports contacts from a CSV file (comma, semicolon, tab or pipe; UTF-8,
UTF-16 or Windows-1252) or an Excel workbook (.xlsx) into a list.

The phone column is found by its header (phone, mobile, whatsapp, telefone,
celular, teléfono, móvil, …), as are name, email and consent (opt-in,
consent, consentimento, aceita, acepta, …); every other column becomes an
attribute usable as a template parameter. --map overrides what a header
means: --map "Cel. 1=phone" --map "Cidade=city" --map "Obs=ignore".

Numbers without a country code are read in --default-country. Rows with an
invalid number or an unrecognised consent value are reported, not imported.
Consent only goes up (not opted in → opted in); an opt-out is never undone.
The import is all or nothing; its row errors are kept:
herald import errors IMPORT_ID.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := parseMapFlags(mappings)
			if err != nil {
				return usageError{err}
			}
			opts.Mappings = m
			ctx := cmd.Context()
			pool, err := a.openDB(ctx)
			if err != nil {
				return err
			}
			defer a.closeDB(ctx)
			defer a.importGC()()
			svc := importer.NewService(a.logger, importer.Config{}, pool)
			bar := a.importProgress(args[0])
			if bar != nil {
				opts.ProgressFunc = bar.update
			}
			sum, err := svc.ImportFile(ctx, args[0], opts)
			bar.finish()
			var verr *importer.ValidationError
			if errors.As(err, &verr) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(sum)
			}
			return printImportSummary(a.stdout, sum)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.List, "list", "", "list the contacts join (created if new; required)")
	f.StringVar(&opts.DefaultCountry, "default-country", cmp.Or(a.getenv("HERALD_DEFAULT_COUNTRY"), "US"),
		"country of numbers written without a country code, ISO 3166-1 alpha-2 (env HERALD_DEFAULT_COUNTRY)")
	f.StringVar(&opts.Sheet, "sheet", "", "worksheet to read, by name or number (default: the first)")
	f.IntVar(&opts.HeaderRow, "header-row", 0, "row holding the headers (default: the first naming a phone column)")
	f.StringArrayVar(&mappings, "map", nil, "HEADER=FIELD: read a column as phone, name, email, consent, first_name, last_name, ignore, or an attribute name")
	f.BoolVar(&opts.SkipNotOptedIn, "skip-not-opted-in", false, "leave out rows without consent instead of storing them as not opted in")
	f.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	_ = cmd.MarkFlagRequired("list")
	cmd.AddCommand(a.importErrorsCmd())
	return cmd
}

// importGC makes the garbage collector run less often for the length of an
// import. Parsing a workbook with encoding/xml allocates about 8 KB a row,
// and at the default GOGC the collector took a good part of a core. The
// live heap of an import is about 30 MB whatever the size of the file, so
// collecting at five times that, but never letting the heap pass 160 MB,
// keeps the process under 200 MB. A GOGC or GOMEMLIMIT in the environment
// is left alone. It returns the function restoring the settings.
func (a *app) importGC() (restore func()) {
	if a.getenv("GOGC") != "" || a.getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	gc := debug.SetGCPercent(400)
	limit := debug.SetMemoryLimit(160 << 20)
	return func() {
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(limit)
	}
}

// parseMapFlags reads --map HEADER=FIELD flags; the last "=" splits, since
// a header may contain one and a field cannot.
func parseMapFlags(flags []string) (map[string]string, error) {
	m := map[string]string{}
	for _, f := range flags {
		i := strings.LastIndex(f, "=")
		if i <= 0 || i == len(f)-1 {
			return nil, fmt.Errorf("--map %q: want HEADER=FIELD", f)
		}
		if _, dup := m[f[:i]]; dup {
			return nil, fmt.Errorf("--map: column %q is mapped twice", f[:i])
		}
		m[f[:i]] = f[i+1:]
	}
	return m, nil
}

// importBar draws a progress bar on a terminal: bytes for a CSV file, rows
// for a workbook (read at random, its progress is not in bytes).
type importBar struct {
	bar    *progressbar.ProgressBar
	bytes  bool
	saving bool
}

// importProgress returns a bar when stderr is a terminal, nil otherwise.
func (a *app) importProgress(path string) *importBar {
	f, ok := a.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	size := int64(-1)
	if st, err := os.Stat(path); err == nil && !strings.EqualFold(fileExt(path), ".xlsx") {
		size = st.Size()
	}
	b := &importBar{bytes: size >= 0}
	options := []progressbar.Option{
		progressbar.OptionSetWriter(a.stderr),
		progressbar.OptionSetDescription("reading"),
		progressbar.OptionThrottle(100_000_000), // 100ms
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetElapsedTime(true),
	}
	if b.bytes {
		options = append(options, progressbar.OptionShowBytes(true))
	} else {
		options = append(options, progressbar.OptionShowCount(), progressbar.OptionSetItsString("rows"), progressbar.OptionShowIts())
	}
	b.bar = progressbar.NewOptions64(size, options...)
	return b
}

func (b *importBar) update(p importer.Progress) {
	if p.Phase == "saving" && !b.saving {
		b.saving = true
		b.bar.Describe("saving")
		return
	}
	if b.bytes {
		_ = b.bar.Set64(p.Bytes)
	} else {
		_ = b.bar.Set(p.Rows)
	}
}

func (b *importBar) finish() {
	if b != nil {
		_ = b.bar.Finish()
	}
}

func fileExt(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i:]
	}
	return ""
}

// printImportSummary writes the summary for a person.
func printImportSummary(w io.Writer, s *importer.Summary) error {
	fmt.Fprintf(w, "Imported %s into list %q (import %d)\n", s.File, s.List, s.ImportID)
	how := "read as " + strings.ToUpper(s.Format)
	switch s.Format {
	case importer.FormatCSV:
		how += fmt.Sprintf(", %s, delimiter %s", s.Encoding, delimiterName(s.Delimiter))
	case importer.FormatXLSX:
		how += fmt.Sprintf(", sheet %q", s.Sheet)
	}
	fmt.Fprintf(w, "  %s, headers on line %d\n", how, s.HeaderRow)
	var cols []string
	for _, c := range s.Columns {
		switch c.Field {
		case importer.FieldAttribute:
			cols = append(cols, fmt.Sprintf("%s → attribute %s", c.Header, c.Attribute))
		default:
			cols = append(cols, fmt.Sprintf("%s → %s", c.Header, c.Field))
		}
	}
	fmt.Fprintf(w, "  columns: %s\n\n", strings.Join(cols, ", "))
	line := func(label string, n int, note string) {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("  %-15s %9d  %s", label, n, note), " "))
	}
	line("rows", s.Rows, "")
	line("new contacts", s.Imported, "")
	line("updated", s.Updated, "")
	line("unchanged", s.Unchanged, "(already stored, nothing new; in the list)")
	line("invalid", s.Invalid, "(not imported; see below)")
	line("duplicates", s.Duplicates, "(the same number again; first row kept)")
	if s.Skipped > 0 {
		line("skipped", s.Skipped, "(no consent)")
	}
	fmt.Fprintln(w)
	line("opted in", s.OptedIn, "")
	line("not opted in", s.NotOptedIn, "")
	if s.OptedOut > 0 {
		line("opted out", s.OptedOut, "(by this file)")
	}
	line("kept opted out", s.KeptOptedOut, "(had opted out; not changed by the file)")
	if len(s.Errors) > 0 {
		fmt.Fprintln(w, "\nErrors:")
		for _, e := range s.Errors {
			fmt.Fprintf(w, "  %s\n", e.Error())
		}
		if s.Invalid > len(s.Errors) || len(s.Errors) == 100 {
			fmt.Fprintf(w, "  … all of them: herald import errors %d\n", s.ImportID)
		}
	}
	return nil
}

func delimiterName(d string) string {
	switch d {
	case "\t":
		return "tab"
	case "|":
		return "pipe (|)"
	case ";":
		return "semicolon (;)"
	case ",":
		return "comma (,)"
	}
	return strconv.Quote(d)
}

// importErrorsCmd is `herald import errors IMPORT_ID [--csv]`.
func (a *app) importErrorsCmd() *cobra.Command {
	var asCSV bool
	cmd := &cobra.Command{
		Use:   "errors IMPORT_ID",
		Short: "List every row error of an import",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usageError{fmt.Errorf("import id %q: want a positive number", args[0])}
			}
			ctx := cmd.Context()
			pool, err := a.openDB(ctx)
			if err != nil {
				return err
			}
			defer a.closeDB(ctx)
			svc := importer.NewService(a.logger, importer.Config{}, pool)
			if asCSV {
				w := csv.NewWriter(a.stdout)
				if err := w.Write([]string{"line", "column", "reason"}); err != nil {
					return err
				}
				err = svc.Errors(ctx, id, func(e importer.RowError) error {
					return w.Write([]string{strconv.Itoa(e.Line), e.Column, e.Reason})
				})
				w.Flush()
				return cmp.Or(err, w.Error())
			}
			return svc.Errors(ctx, id, func(e importer.RowError) error {
				_, err := fmt.Fprintln(a.stdout, e.Error())
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&asCSV, "csv", false, "print CSV (line, column, reason)")
	return cmd
}
