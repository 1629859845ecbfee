package httpapi

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/herald-sh/herald/importer"
	"github.com/herald-sh/herald/internal/report"
)

// Bounds of a page of list members.
const (
	defaultContactsLimit = 100
	maxContactsLimit     = 1000
)

// parseUpload reads a multipart/form-data request, at most MaxUploadBytes.
// Files past uploadMemory are spooled to temporary files, so the form
// fields may come before or after the file; the caller must call
// r.MultipartForm.RemoveAll when done.
//
// The trade-off: a large file is received in full before it is read, and is
// written once to disk. Streaming the parts instead would need the fields to
// come first, which browsers' FormData and curl -F keep only if the caller
// orders them so.
func (a *api) parseUpload(w http.ResponseWriter, r *http.Request) (multipart.File, *multipart.FileHeader, error) {
	r.Body = http.MaxBytesReader(w, r.Body, a.deps.MaxUploadBytes)
	if err := r.ParseMultipartForm(uploadMemory); err != nil {
		switch {
		case errors.Is(err, http.ErrNotMultipart), errors.Is(err, http.ErrMissingBoundary):
			return nil, nil, &ValidationError{Fields: map[string]string{"file": "send the file as multipart/form-data in a field named file"}}
		case isMaxBytes(err):
			return nil, nil, errBodyTooLarge
		default:
			return nil, nil, errBodyUnreadable
		}
	}
	files := r.MultipartForm.File["file"]
	switch len(files) {
	case 0:
		return nil, nil, &ValidationError{Fields: map[string]string{"file": "required: the file as a multipart field named file"}}
	case 1:
	default:
		return nil, nil, &ValidationError{Fields: map[string]string{"file": "one file per upload"}}
	}
	f, err := files[0].Open()
	if err != nil {
		return nil, nil, fmt.Errorf("open upload %s: %w", files[0].Filename, err)
	}
	return f, files[0], nil
}

func isMaxBytes(err error) bool {
	_, ok := errors.AsType[*http.MaxBytesError](err)
	return ok
}

// formValue returns the first value of a multipart form field, trimmed.
func formValue(r *http.Request, name string) string {
	if v := r.MultipartForm.Value[name]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

// importOptions reads the upload's form fields as importer.Options. Every
// bad field is reported at once.
func importOptions(r *http.Request, fh *multipart.FileHeader) (importer.Options, error) {
	opts := importer.Options{
		List:           formValue(r, "list"),
		FileName:       fh.Filename,
		DefaultCountry: formValue(r, "default_country"),
		Sheet:          formValue(r, "sheet"),
	}
	bad := map[string]string{}
	if v := formValue(r, "header_row"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			bad["header_row"] = fmt.Sprintf("%q: want a row number from 1", v)
		}
		opts.HeaderRow = n
	}
	if v := formValue(r, "skip_not_opted_in"); v != "" {
		b, err := parseFormBool(v)
		if err != nil {
			bad["skip_not_opted_in"] = fmt.Sprintf("%q: want true or false", v)
		}
		opts.SkipNotOptedIn = b
	}
	if maps := r.MultipartForm.Value["map"]; len(maps) > 0 {
		opts.Mappings = map[string]string{}
		for _, m := range maps {
			// The last "=" splits: a header may hold one, a field may not.
			i := strings.LastIndexByte(m, '=')
			if i < 0 {
				bad["map"] = fmt.Sprintf("%q: want HEADER=FIELD", m)
				continue
			}
			h := m[:i]
			if _, dup := opts.Mappings[h]; dup {
				bad["map"] = fmt.Sprintf("column %q is mapped twice", h)
				continue
			}
			opts.Mappings[h] = m[i+1:]
		}
	}
	if len(bad) > 0 {
		return opts, &ValidationError{Fields: bad}
	}
	return opts, nil
}

// parseFormBool reads a form boolean; "on" is what an HTML checkbox sends.
func parseFormBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "on", "yes":
		return true, nil
	case "off", "no":
		return false, nil
	}
	return strconv.ParseBool(v)
}

// handleImportCreate imports an uploaded CSV or XLSX file into a list.
func (a *api) handleImportCreate(w http.ResponseWriter, r *http.Request) error {
	f, fh, err := a.parseUpload(w, r)
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll() //nolint:errcheck // temporary files; nothing to do on failure
	}
	if err != nil {
		return err
	}
	defer f.Close()
	opts, err := importOptions(r, fh)
	if err != nil {
		return err
	}
	sum, err := a.deps.Importer.Import(r.Context(), f, opts)
	if err != nil {
		return err
	}
	return created(w, fmt.Sprintf("/api/v1/imports/%d", sum.ImportID), sum)
}

// handleImportGet answers the summary of an import.
func (a *api) handleImportGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	sum, err := a.deps.Importer.Get(r.Context(), id)
	if err != nil {
		return err
	}
	return respond(w, sum)
}

// handleImportErrors streams every row error of an import, as CSV when the
// client asks for it (Accept: text/csv or ?format=csv), else as JSON.
// Nothing is written until the import is known to exist, so a missing one
// is an ordinary 404; a failure after the first row aborts the connection,
// so that a client never takes a truncated download for a whole one.
func (a *api) handleImportErrors(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var asCSV bool
	switch format := r.URL.Query().Get("format"); format {
	case "csv":
		asCSV = true
	case "json":
	case "":
		asCSV = strings.Contains(r.Header.Get("Accept"), "text/csv")
	default:
		return &ValidationError{Fields: map[string]string{"format": fmt.Sprintf("%q: want csv or json", format)}}
	}
	var out errorsWriter
	if asCSV {
		out = &csvErrorsWriter{w: w, id: id}
	} else {
		out = &jsonErrorsWriter{w: w, id: id}
	}
	started := false
	err = a.deps.Importer.Errors(r.Context(), id, func(e importer.RowError) error {
		if !started {
			started = true
			if err := out.begin(); err != nil {
				return err
			}
		}
		return out.row(e)
	})
	if err != nil {
		if !started {
			return err
		}
		a.abort(r, "stream import errors", err)
	}
	if !started {
		if err := out.begin(); err != nil {
			a.abort(r, "stream import errors", err)
		}
	}
	if err := out.end(); err != nil {
		a.abort(r, "stream import errors", err)
	}
	return nil
}

// abort ends a response that has already started: the status is sent and
// cannot become an error any more. It logs err and panics with
// http.ErrAbortHandler, which makes net/http reset the stream instead of
// ending it cleanly.
func (a *api) abort(r *http.Request, what string, err error) {
	a.s.logger.ErrorContext(r.Context(), what,
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
	panic(http.ErrAbortHandler)
}

// errorsWriter writes the row errors of an import in one format.
type errorsWriter interface {
	begin() error
	row(importer.RowError) error
	end() error
}

type csvErrorsWriter struct {
	w  http.ResponseWriter
	id int64
	cw *csv.Writer
}

func (c *csvErrorsWriter) begin() error {
	c.w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	c.w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="import-%d-errors.csv"`, c.id))
	c.w.WriteHeader(http.StatusOK)
	c.cw = csv.NewWriter(c.w)
	return c.cw.Write([]string{"line", "column", "reason"})
}

// row neutralises the column and reason, which quote the uploaded file,
// against formula injection when the CSV is opened in a spreadsheet.
func (c *csvErrorsWriter) row(e importer.RowError) error {
	return c.cw.Write([]string{strconv.Itoa(e.Line), report.Neutralize(e.Column), report.Neutralize(e.Reason)})
}

func (c *csvErrorsWriter) end() error {
	c.cw.Flush()
	return c.cw.Error()
}

type jsonErrorsWriter struct {
	w     http.ResponseWriter
	id    int64
	enc   *json.Encoder
	first bool
}

func (j *jsonErrorsWriter) begin() error {
	j.w.Header().Set("Content-Type", "application/json")
	j.w.Header().Set("X-Content-Type-Options", "nosniff")
	j.w.WriteHeader(http.StatusOK)
	j.enc, j.first = json.NewEncoder(j.w), true
	_, err := fmt.Fprintf(j.w, `{"import_id":%d,"errors":[`, j.id)
	return err
}

func (j *jsonErrorsWriter) row(e importer.RowError) error {
	if !j.first {
		if _, err := j.w.Write([]byte{','}); err != nil {
			return err
		}
	}
	j.first = false
	return j.enc.Encode(e)
}

func (j *jsonErrorsWriter) end() error {
	_, err := j.w.Write([]byte("]}\n"))
	return err
}

// contactsPage is a page of list members.
type contactsPage struct {
	Contacts []importer.Contact `json:"contacts"`
	// NextAfter is the after= of the next page; null on the last one.
	NextAfter *int64 `json:"next_after"`
}

// handleListContacts answers a page of a list's members by id.
func (a *api) handleListContacts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	bad := map[string]string{}
	var after int64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			bad["after"] = fmt.Sprintf("%q: want a contact id (the next_after of the previous page)", v)
		}
		after = n
	}
	limit := defaultContactsLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxContactsLimit {
			bad["limit"] = fmt.Sprintf("%q: want 1 to %d", v, maxContactsLimit)
		}
		limit = n
	}
	if len(bad) > 0 {
		return &ValidationError{Fields: bad}
	}
	contacts, err := a.deps.Importer.ListContacts(r.Context(), r.PathValue("name"), after, limit)
	if err != nil {
		return err
	}
	if contacts == nil {
		contacts = []importer.Contact{}
	}
	page := contactsPage{Contacts: contacts}
	if len(contacts) == limit {
		page.NextAfter = &contacts[len(contacts)-1].ID
	}
	return respond(w, page)
}
