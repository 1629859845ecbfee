package importer

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nyaruka/phonenumbers"

	"github.com/herald-sh/herald/internal/store"
)

// maxSummaryErrors is how many row errors a Summary carries; all of them
// are stored and can be read with Service.Errors.
const maxSummaryErrors = 100

// DB is what the Service needs of the database: queries and transactions.
// *pgxpool.Pool and pgx.Tx (which nests as a savepoint) both satisfy it.
type DB interface {
	store.DBTX
	store.TxBeginner
}

// Config tunes a Service.
type Config struct {
	// Workers is the number of goroutines normalising rows. Default
	// runtime.GOMAXPROCS(0).
	Workers int
	// TempDir holds workbooks uploaded as a stream while they are read
	// (a zip needs random access) and excelize's own temporary files.
	// Default os.TempDir().
	TempDir string
}

// Service imports contact lists and answers questions about past imports.
// It is safe for concurrent use; imports run one at a time.
type Service struct {
	logger *slog.Logger
	cfg    Config
	db     DB
	// chunkBytes is the size of a worksheet's COPY chunks (chunkBytes by
	// default; tests make it small).
	chunkBytes int
}

// NewService returns a Service on db.
func NewService(logger *slog.Logger, cfg Config, db DB) *Service {
	cfg.Workers = cmp.Or(cfg.Workers, runtime.GOMAXPROCS(0))
	cfg.TempDir = cmp.Or(cfg.TempDir, os.TempDir())
	return &Service{logger: logger, cfg: cfg, db: db, chunkBytes: chunkBytes}
}

// Options say how to import one file.
type Options struct {
	// List is the name of the list the contacts join; created if new.
	// Required.
	List string
	// FileName is the file's name, recorded with the import and checked
	// against its content (a text file named .xlsx is refused).
	FileName string
	// DefaultCountry is the ISO 3166-1 alpha-2 region of numbers written
	// without a country code ("BR"). Empty: every number must have one.
	DefaultCountry string
	// Sheet is the worksheet to read, by name or number from 1. Default:
	// the first.
	Sheet string
	// HeaderRow is the line (CSV) or row (XLSX) holding the headers.
	// Default 0: the first row that names a phone column.
	HeaderRow int
	// Mappings maps headers to fields, overriding recognition: phone,
	// name, email, consent, first_name, last_name, ignore, attribute (keyed
	// by the header), or any other word, taken as the attribute key.
	Mappings map[string]string
	// SkipNotOptedIn leaves out rows that do not record consent, instead of
	// storing them as contacts who are not opted in.
	SkipNotOptedIn bool
	// ProgressFunc, if set, is called as rows are read and once more when
	// saving starts. It is called from one goroutine at a time.
	ProgressFunc func(Progress)
}

// Progress reports how far an import is.
type Progress struct {
	// Phase is "reading" while rows are read and staged, "saving" while
	// they are merged into contacts.
	Phase string
	// Rows read so far.
	Rows int
	// Bytes of the file read so far (CSV; workbooks are read at random).
	Bytes int64
}

// Summary is what an import did.
type Summary struct {
	ImportID  int64    `json:"import_id"`
	List      string   `json:"list"`
	File      string   `json:"file"`
	Format    string   `json:"format"`
	Encoding  string   `json:"encoding,omitempty"`
	Delimiter string   `json:"delimiter,omitempty"`
	Sheet     string   `json:"sheet,omitempty"`
	HeaderRow int      `json:"header_row"`
	Columns   []Column `json:"columns"`

	// Rows are the data rows after the header (blank rows are not counted).
	// Rows = Imported + Updated + Unchanged + Invalid + Duplicates + Skipped.
	Rows int `json:"rows"`
	// Imported are new contacts.
	Imported int `json:"imported"`
	// Updated are existing contacts the file changed.
	Updated int `json:"updated"`
	// Unchanged are existing contacts the file had nothing new for (they
	// join the list all the same).
	Unchanged int `json:"unchanged"`
	// Invalid rows were not imported; see Errors.
	Invalid int `json:"invalid"`
	// Duplicates repeat a number an earlier row had.
	Duplicates int `json:"duplicates"`
	// Skipped rows recorded no consent, with Options.SkipNotOptedIn.
	Skipped int `json:"skipped"`

	// The consent of the contacts imported, updated or unchanged, after the
	// import: OptedIn + NotOptedIn + OptedOut + KeptOptedOut =
	// Imported + Updated + Unchanged.
	OptedIn    int `json:"opted_in"`
	NotOptedIn int `json:"not_opted_in"`
	// OptedOut are contacts the file opted out.
	OptedOut int `json:"opted_out"`
	// KeptOptedOut are contacts who had opted out before and stay so,
	// whatever the file says.
	KeptOptedOut int `json:"kept_opted_out"`

	// Errors are the first 100 row errors, in file order.
	Errors []RowError `json:"errors"`

	CreatedAt  time.Time `json:"created_at"`
	FinishedAt time.Time `json:"finished_at"`
}

func (o *Options) validate() error {
	var errs []error
	if strings.TrimSpace(o.List) == "" {
		errs = append(errs, &ValidationError{Field: "list", Problem: "a list name is required"})
	}
	if o.DefaultCountry != "" {
		o.DefaultCountry = strings.ToUpper(strings.TrimSpace(o.DefaultCountry))
		if !phonenumbers.GetSupportedRegions()[o.DefaultCountry] {
			errs = append(errs, &ValidationError{Field: "default_country",
				Problem: fmt.Sprintf("%q is not an ISO 3166-1 alpha-2 country code herald knows (like BR, US, MX)", o.DefaultCountry)})
		}
	}
	if o.HeaderRow < 0 {
		errs = append(errs, &ValidationError{Field: "header_row", Problem: "must be 1 or more"})
	}
	m, err := parseMappings(o.Mappings)
	if err != nil {
		errs = append(errs, err)
	}
	o.Mappings = m
	return errors.Join(errs...)
}

// ImportFile imports the file at path. Options.FileName defaults to the
// file's base name.
func (s *Service) ImportFile(ctx context.Context, path string, opts Options) (*Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &FileError{File: path, Problem: "cannot open the file", Err: err}
	}
	defer f.Close()
	opts.FileName = cmp.Or(opts.FileName, filepath.Base(path))
	return s.importFrom(ctx, f, path, opts)
}

// Import imports the file read from r; Options.FileName names it (for an
// upload, the name the client gave). A workbook is first copied to a
// temporary file, since a zip cannot be read as a stream.
func (s *Service) Import(ctx context.Context, r io.Reader, opts Options) (*Summary, error) {
	return s.importFrom(ctx, r, "", opts)
}

// importFrom imports r; path, when set, is the file r reads.
func (s *Service) importFrom(ctx context.Context, r io.Reader, path string, opts Options) (*Summary, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	var read int64 // bytes, for progress; only the pipeline's reader writes it
	br := bufio.NewReaderSize(countingReader{r: r, n: &read}, sniffSize)
	head, err := peek(br)
	if err != nil {
		return nil, &FileError{File: opts.FileName, Problem: "cannot read the file", Err: err}
	}
	format, ferr := sniffFormat(opts.FileName, head)
	if ferr != nil {
		return nil, ferr
	}
	sum := &Summary{List: opts.List, File: opts.FileName, Format: format, HeaderRow: opts.HeaderRow}
	var src rowSource
	switch format {
	case FormatXLSX:
		if path == "" {
			tmp, err := s.spool(br)
			if err != nil {
				return nil, err
			}
			defer os.Remove(tmp)
			path = tmp
		}
		x, err := openXLSX(path, opts.FileName, opts.Sheet, s.cfg.TempDir)
		if err != nil {
			return nil, err
		}
		sum.Sheet = x.sheet
		src = x
	default:
		c, err := newCSVSource(br)
		if err != nil {
			return nil, &FileError{File: opts.FileName, Problem: "cannot read the file", Err: err}
		}
		sum.Encoding, sum.Delimiter = c.encoding, string(c.delimiter)
		src = c
	}
	defer src.close()
	if err := s.load(ctx, src, opts, sum, &read, format == FormatXLSX); err != nil {
		var fe *FileError
		if errors.As(err, &fe) && fe.File == "" {
			fe.File = opts.FileName
		}
		return nil, err
	}
	return sum, nil
}

// spool copies a workbook being uploaded to a temporary file.
func (s *Service) spool(r io.Reader) (string, error) {
	f, err := os.CreateTemp(s.cfg.TempDir, "herald-import-*.xlsx")
	if err != nil {
		return "", fmt.Errorf("create temporary file: %w", err)
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("copy workbook to %s: %w", f.Name(), err)
	}
	return f.Name(), nil
}

// Get returns the summary of an import, with its first 100 errors.
// store.ErrNotFound when there is no such import.
func (s *Service) Get(ctx context.Context, id int64) (*Summary, error) {
	row, err := importGetByIDQuery(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	sum := &Summary{
		ImportID: row.ID, File: row.FileName, Format: row.Format,
		Rows: row.Rows, Imported: row.Imported, Updated: row.Updated, Unchanged: row.Unchanged,
		Invalid: row.Invalid, Duplicates: row.Duplicates, Skipped: row.Skipped,
		OptedIn: row.OptedIn, NotOptedIn: row.NotOptedIn, OptedOut: row.OptedOut, KeptOptedOut: row.KeptOptedOut,
		CreatedAt: row.CreatedAt, Errors: []RowError{},
	}
	if row.List != nil {
		sum.List = *row.List
	}
	if row.FinishedAt != nil {
		sum.FinishedAt = *row.FinishedAt
	}
	var d importDetails
	if err := json.Unmarshal(row.Details, &d); err == nil {
		sum.Encoding, sum.Delimiter, sum.Sheet, sum.HeaderRow, sum.Columns = d.Encoding, d.Delimiter, d.Sheet, d.HeaderRow, d.Columns
	}
	err = s.Errors(ctx, id, func(e RowError) error {
		if len(sum.Errors) == maxSummaryErrors {
			return errStop
		}
		sum.Errors = append(sum.Errors, e)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	return sum, nil
}

var errStop = errors.New("stop")

// Errors calls fn with every row error of an import, in line order, until
// fn returns an error (which Errors returns). Errors are read in pages, so
// any number of them streams in bounded memory.
func (s *Service) Errors(ctx context.Context, id int64, fn func(RowError) error) error {
	if _, err := importGetByIDQuery(ctx, s.db, id); err != nil {
		return err
	}
	const page = 1000
	last := RowError{Line: -1}
	for {
		rows, err := s.db.Query(ctx, importErrorList, id, last.Line, last.Column, last.Reason, page)
		if err != nil {
			return fmt.Errorf("list errors of import %d: %w", id, err)
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RowError, error) {
			var e RowError
			err := r.Scan(&e.Line, &e.Column, &e.Reason)
			return e, err
		})
		if err != nil {
			return fmt.Errorf("list errors of import %d: %w", id, err)
		}
		for _, e := range list {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(list) < page {
			return nil
		}
		last = list[len(list)-1]
	}
}

// Contact is a stored contact.
type Contact struct {
	ID         int64             `json:"id"`
	Phone      string            `json:"phone"`
	Name       string            `json:"name"`
	Email      string            `json:"email,omitempty"`
	Country    string            `json:"country,omitempty"`
	Consent    string            `json:"consent"`
	ConsentAt  *time.Time        `json:"consent_at,omitempty"`
	Attributes map[string]string `json:"attributes"`
}

// ListContacts returns up to limit members of the named list whose id is
// above afterID, by id: pass the last ID of a page to get the next.
// store.ErrNotFound when there is no such list.
func (s *Service) ListContacts(ctx context.Context, list string, afterID int64, limit int) ([]Contact, error) {
	var listID int64
	if err := s.db.QueryRow(ctx, listGetID, list).Scan(&listID); err != nil {
		return nil, fmt.Errorf("find list %q: %w", list, store.InterpretError(err))
	}
	rows, err := s.db.Query(ctx, contactListByList, listID, afterID, cmp.Or(limit, 1000))
	if err != nil {
		return nil, fmt.Errorf("list contacts of %q: %w", list, err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowToStructByName[contactRow])
	if err != nil {
		return nil, fmt.Errorf("list contacts of %q: %w", list, err)
	}
	out := make([]Contact, len(found))
	for i, c := range found {
		out[i] = Contact{ID: c.ID, Phone: c.Phone, Name: c.Name, Email: c.Email, Country: c.Country,
			Consent: c.Consent, ConsentAt: c.ConsentAt, Attributes: map[string]string{}}
		var attrs map[string]any
		if err := json.Unmarshal(c.Attributes, &attrs); err != nil {
			return nil, fmt.Errorf("read attributes of contact %d: %w", c.ID, err)
		}
		for k, v := range attrs {
			if s, ok := v.(string); ok {
				out[i].Attributes[k] = s
			} else {
				b, _ := json.Marshal(v)
				out[i].Attributes[k] = string(b)
			}
		}
	}
	return out, nil
}

// progressCounter tells ProgressFunc about batches as they are staged.
type progressCounter struct {
	fn   func(Progress)
	rows int
	read *int64
}

func (p *progressCounter) batch(n int) {
	p.rows += n
	if p.fn != nil {
		p.fn(Progress{Phase: "reading", Rows: p.rows, Bytes: atomic.LoadInt64(p.read)})
	}
}
