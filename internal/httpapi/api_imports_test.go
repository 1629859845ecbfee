package httpapi

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/importer"
)

func TestAPIImports(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)

	rec := b.upload(t, "/api/v1/imports", "contacts.csv", []byte(contactsCSV),
		[2]string{"list", "vip"}, [2]string{"default_country", "br"}, [2]string{"map", "city=town"})
	sum := decode[importer.Summary](t, rec, http.StatusCreated)
	require.Equal(t, fmt.Sprintf("/api/v1/imports/%d", sum.ImportID), rec.Header().Get("Location"))
	require.Equal(t, "vip", sum.List)
	require.Equal(t, "contacts.csv", sum.File)
	require.Equal(t, 4, sum.Rows)
	require.Equal(t, 3, sum.Imported)
	require.Equal(t, 1, sum.Invalid)
	require.Equal(t, 2, sum.OptedIn)
	require.Len(t, sum.Errors, 1)
	require.Equal(t, 5, sum.Errors[0].Line)
	require.Equal(t, "phone", sum.Errors[0].Column)

	t.Run("Summary", func(t *testing.T) {
		got := decode[importer.Summary](t, b.get(fmt.Sprintf("/api/v1/imports/%d", sum.ImportID)), http.StatusOK)
		require.Equal(t, sum.ImportID, got.ImportID)
		require.Equal(t, "vip", got.List)
		require.Equal(t, sum.Imported, got.Imported)
		require.Equal(t, sum.Errors, got.Errors)
	})

	t.Run("ErrorsJSON", func(t *testing.T) {
		got := decode[map[string]any](t, b.get(fmt.Sprintf("/api/v1/imports/%d/errors", sum.ImportID)), http.StatusOK)
		require.EqualValues(t, sum.ImportID, got["import_id"])
		errs := got["errors"].([]any)
		require.Len(t, errs, 1)
		require.Equal(t, map[string]any{"line": 5.0, "column": "phone", "reason": sum.Errors[0].Reason}, errs[0])
	})

	t.Run("ErrorsCSV", func(t *testing.T) {
		for name, req := range map[string]*http.Request{
			"Query":  authorised(http.MethodGet, fmt.Sprintf("/api/v1/imports/%d/errors?format=csv", sum.ImportID)),
			"Accept": withHeader(authorised(http.MethodGet, fmt.Sprintf("/api/v1/imports/%d/errors", sum.ImportID)), "Accept", "text/csv"),
		} {
			rec := b.do(req)
			require.Equal(t, http.StatusOK, rec.Code, name)
			require.Equal(t, "text/csv; charset=utf-8", rec.Header().Get("Content-Type"), name)
			require.Contains(t, rec.Header().Get("Content-Disposition"), "attachment", name)
			records, err := csv.NewReader(rec.Body).ReadAll()
			require.NoError(t, err)
			require.Equal(t, [][]string{{"line", "column", "reason"}, {"5", "phone", sum.Errors[0].Reason}}, records, name)
		}
	})

	t.Run("ErrorsFormat", func(t *testing.T) {
		path := fmt.Sprintf("/api/v1/imports/%d/errors", sum.ImportID)
		rec := b.do(withHeader(authorised(http.MethodGet, path+"?format=json"), "Accept", "text/csv"))
		require.Equal(t, "application/json", rec.Header().Get("Content-Type"), "format= wins over Accept")
		requireFields(t, b.get(path+"?format=xml"), http.StatusUnprocessableEntity, "format")
	})

	t.Run("NoErrors", func(t *testing.T) {
		clean := decode[importer.Summary](t, b.upload(t, "/api/v1/imports", "clean.csv",
			[]byte("phone\n+5511987654399\n"), [2]string{"list", "clean"}), http.StatusCreated)
		got := decode[map[string]any](t, b.get(fmt.Sprintf("/api/v1/imports/%d/errors", clean.ImportID)), http.StatusOK)
		require.Equal(t, []any{}, got["errors"])
	})

	t.Run("ManyErrors", func(t *testing.T) {
		// More errors than the importer reads in one page.
		var file strings.Builder
		file.WriteString("phone\n+5511987654398\n")
		for i := range 1205 {
			fmt.Fprintf(&file, "bad-%d\n", i)
		}
		many := decode[importer.Summary](t, b.upload(t, "/api/v1/imports", "many.csv", []byte(file.String()),
			[2]string{"list", "many"}), http.StatusCreated)
		require.Equal(t, 1205, many.Invalid)
		require.Len(t, many.Errors, 100, "the summary carries the first 100")

		got := decode[importErrorsJSON](t, b.get(fmt.Sprintf("/api/v1/imports/%d/errors", many.ImportID)), http.StatusOK)
		require.Len(t, got.Errors, 1205)
		require.Equal(t, 3, got.Errors[0].Line)
		require.Equal(t, 1207, got.Errors[1204].Line)

		rec := b.get(fmt.Sprintf("/api/v1/imports/%d/errors?format=csv", many.ImportID))
		records, err := csv.NewReader(rec.Body).ReadAll()
		require.NoError(t, err)
		require.Len(t, records, 1+1205)
	})

	t.Run("Missing", func(t *testing.T) {
		for _, path := range []string{"/api/v1/imports/99999", "/api/v1/imports/99999/errors", "/api/v1/imports/99999/errors?format=csv", "/api/v1/imports/x"} {
			rec := b.get(path)
			require.Equal(t, http.StatusNotFound, rec.Code, path)
			require.Equal(t, "not found", decodeError(t, rec.Body).Error)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		csvFile := []byte(contactsCSV)
		for name, tt := range map[string]struct {
			rec    func() *http.Response
			fields []string
		}{
			"NoList": {
				rec:    func() *http.Response { return b.upload(t, "/api/v1/imports", "c.csv", csvFile).Result() },
				fields: []string{"list"},
			},
			"NoFile": {
				rec: func() *http.Response {
					return b.upload(t, "/api/v1/imports", "", nil, [2]string{"list", "vip"}).Result()
				},
				fields: []string{"file"},
			},
			"NotMultipart": {
				rec:    func() *http.Response { return b.postJSON(t, "/api/v1/imports", `{"list":"vip"}`).Result() },
				fields: []string{"file"},
			},
			"BadOptions": {
				rec: func() *http.Response {
					return b.upload(t, "/api/v1/imports", "c.csv", csvFile, [2]string{"list", "vip"},
						[2]string{"header_row", "first"}, [2]string{"skip_not_opted_in", "maybe"}, [2]string{"map", "no equals sign"}).Result()
				},
				fields: []string{"header_row", "skip_not_opted_in", "map"},
			},
			"ImporterOptions": {
				rec: func() *http.Response {
					return b.upload(t, "/api/v1/imports", "c.csv", csvFile, [2]string{"list", "vip"},
						[2]string{"default_country", "XX"}, [2]string{"map", "city=phone"}, [2]string{"map", "phone=phone"}).Result()
				},
				fields: []string{"default_country", "map"},
			},
			"NotASpreadsheet": {
				rec: func() *http.Response {
					return b.upload(t, "/api/v1/imports", "c.xlsx", []byte("phone\n+5511987654301\n"), [2]string{"list", "vip"}).Result()
				},
				fields: []string{"file"},
			},
			"NoPhoneColumn": {
				rec: func() *http.Response {
					return b.upload(t, "/api/v1/imports", "c.csv", []byte("name,city\nAna,Recife\n"), [2]string{"list", "vip"}).Result()
				},
				fields: []string{"file"},
			},
		} {
			t.Run(name, func(t *testing.T) {
				res := tt.rec()
				require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
				e := decodeError(t, res.Body)
				require.Equal(t, "invalid input", e.Error)
				got := make([]string, 0, len(e.Fields))
				for f, problem := range e.Fields {
					got = append(got, f)
					require.NotEmpty(t, problem)
				}
				require.ElementsMatch(t, tt.fields, got, "%v", e.Fields)
			})
		}
	})

	t.Run("TooLarge", func(t *testing.T) {
		small := setupAPI(t, func(d *APIDeps) { d.MaxUploadBytes = 512 })
		rec := small.upload(t, "/api/v1/imports", "big.csv", []byte("phone\n"+strings.Repeat("+5511987654301\n", 100)), [2]string{"list", "vip"})
		require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, rec.Body.String())
	})
}

func TestAPIListContacts(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.importContacts(t, "vip")

	first := decode[contactsPage](t, b.get("/api/v1/lists/vip/contacts?limit=2"), http.StatusOK)
	require.Len(t, first.Contacts, 2)
	require.NotNil(t, first.NextAfter)
	require.Equal(t, "+5511987654301", first.Contacts[0].Phone)
	require.Equal(t, "Recife", first.Contacts[0].Attributes["town"], "map=city=town names the attribute")
	require.Equal(t, "opted_in", first.Contacts[0].Consent)

	rest := decode[contactsPage](t, b.get(fmt.Sprintf("/api/v1/lists/vip/contacts?limit=2&after=%d", *first.NextAfter)), http.StatusOK)
	require.Len(t, rest.Contacts, 1)
	require.Nil(t, rest.NextAfter)
	require.Equal(t, "not_opted_in", rest.Contacts[0].Consent)

	all := decode[map[string]any](t, b.get("/api/v1/lists/vip/contacts"), http.StatusOK)
	require.Len(t, all["contacts"], 3)
	require.Nil(t, all["next_after"])

	require.Equal(t, http.StatusNotFound, b.get("/api/v1/lists/nobody/contacts").Code)
	requireFields(t, b.get("/api/v1/lists/vip/contacts?limit=0&after=x"), http.StatusUnprocessableEntity, "limit", "after")
	requireFields(t, b.get("/api/v1/lists/vip/contacts?limit=1001"), http.StatusUnprocessableEntity, "limit")
}

// authorised is a request with the test token.
func authorised(method, path string) *http.Request {
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Authorization", "Bearer "+testAPIToken.Reveal())
	return req
}

func withHeader(req *http.Request, key, value string) *http.Request {
	req.Header.Set(key, value)
	return req
}

// importErrorsJSON is the JSON answer of GET /api/v1/imports/{id}/errors.
type importErrorsJSON struct {
	ImportID int64               `json:"import_id"`
	Errors   []importer.RowError `json:"errors"`
}
