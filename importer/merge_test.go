package importer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/store"
)

// seedContact stores a contact as another part of herald would.
func (b *testBundle) seedContact(t *testing.T, phone, name, email, consent, attrs string) int64 {
	t.Helper()
	var id int64
	err := b.db.QueryRow(b.ctx, `
		INSERT INTO contacts (phone, country, name, email, consent, attributes, consent_source, opted_out_at, updated_at)
		VALUES ($1, 'BR', $2, $3, $4, $5, 'seed', CASE WHEN $4 = 'opted_out' THEN '2024-01-01'::timestamptz END, '2024-01-01')
		RETURNING id`, phone, name, email, consent, attrs).Scan(&id)
	require.NoError(t, err)
	return id
}

type storedContact struct {
	Name, Email, Consent, Source string
	Attributes                   string
	OptedOutAt                   *time.Time
	UpdatedAt                    time.Time
}

func (b *testBundle) stored(t *testing.T, phone string) storedContact {
	t.Helper()
	var c storedContact
	err := b.db.QueryRow(b.ctx, `SELECT name, email, consent, consent_source, attributes::text, opted_out_at, updated_at
		FROM contacts WHERE phone = $1`, phone).
		Scan(&c.Name, &c.Email, &c.Consent, &c.Source, &c.Attributes, &c.OptedOutAt, &c.UpdatedAt)
	require.NoError(t, err)
	return c
}

func (b *testBundle) importCSV(t *testing.T, csv string, opts Options) *Summary {
	t.Helper()
	opts.List = cmpOr(opts.List, "customers")
	opts.FileName = cmpOr(opts.FileName, "list.csv")
	opts.DefaultCountry = cmpOr(opts.DefaultCountry, "BR")
	sum, err := b.svc.Import(b.ctx, strings.NewReader(csv), opts)
	require.NoError(t, err)
	requireBalanced(t, sum)
	return sum
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestImportMergesIntoExistingContacts(t *testing.T) {
	t.Parallel()
	b := setup(t)

	a := b.seedContact(t, "+5511900000001", "Old A", "", ConsentNotOptedIn, `{"city": "SP", "plan": "free"}`)
	b.seedContact(t, "+5511900000002", "B", "", ConsentOptedOut, `{}`)
	b.seedContact(t, "+5511900000003", "C", "c@example.com", ConsentOptedIn, `{}`)
	b.seedContact(t, "+5511900000004", "D", "", ConsentNotOptedIn, `{"city": "RJ"}`)

	sum := b.importCSV(t, "phone,name,email,consent,plan\n"+
		"11900000001,New A,,yes,gold\n"+ // consent rises, attributes merge
		"11900000002,B2,,yes,\n"+ // opted out stays opted out
		"11900000003,,,no,\n"+ // no downgrade, blank name kept: nothing new
		"11900000004,D,,,\n"+ // nothing new
		"11900000005,E,e@example.com,sim,\n", Options{})

	require.Equal(t, 5, sum.Rows)
	require.Equal(t, 1, sum.Imported)
	require.Equal(t, 2, sum.Updated)
	require.Equal(t, 2, sum.Unchanged)
	require.Equal(t, 3, sum.OptedIn)
	require.Equal(t, 1, sum.NotOptedIn)
	require.Equal(t, 1, sum.KeptOptedOut)
	require.Equal(t, 0, sum.OptedOut)

	source := fmt.Sprintf("import:%d", sum.ImportID)
	ca := b.stored(t, "+5511900000001")
	require.Equal(t, "New A", ca.Name)
	require.JSONEq(t, `{"city": "SP", "plan": "gold"}`, ca.Attributes)
	require.Equal(t, ConsentOptedIn, ca.Consent)
	require.Equal(t, source, ca.Source)

	cb := b.stored(t, "+5511900000002")
	require.Equal(t, "B2", cb.Name)
	require.Equal(t, ConsentOptedOut, cb.Consent, "an opt-out is never overturned")
	require.Equal(t, "seed", cb.Source)
	require.True(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Equal(*cb.OptedOutAt))

	cc := b.stored(t, "+5511900000003")
	require.Equal(t, storedContact{Name: "C", Email: "c@example.com", Consent: ConsentOptedIn, Source: "seed",
		Attributes: "{}", UpdatedAt: cc.UpdatedAt}, cc)
	require.True(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Equal(cc.UpdatedAt), "not written")
	require.True(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Equal(b.stored(t, "+5511900000004").UpdatedAt), "not written")

	require.Equal(t, "e@example.com", b.stored(t, "+5511900000005").Email)
	require.Len(t, b.contacts(t, "customers"), 5, "unchanged contacts join the list too")

	var events []string
	rows, err := b.db.Query(b.ctx, `SELECT contact_id || ' ' || consent || ' ' || source FROM consent_events ORDER BY id`)
	require.NoError(t, err)
	for rows.Next() {
		var e string
		require.NoError(t, rows.Scan(&e))
		events = append(events, e)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{fmt.Sprintf("%d opted_in %s", a, source)}, events)
}

func TestImportNeverOptsInAnOptedOutContact(t *testing.T) {
	t.Parallel()
	b := setup(t)

	b.seedContact(t, "+5511900000001", "A", "", ConsentOptedOut, `{}`)
	for i, consent := range []string{"yes", "sim", "2024-05-01", "x", "opted in"} {
		sum := b.importCSV(t, "phone,consent\n+55 11 90000-0001,"+consent+"\n", Options{List: fmt.Sprintf("list %d", i)})
		require.Equal(t, 1, sum.KeptOptedOut, consent)
		require.Equal(t, 0, sum.OptedIn, consent)
		require.Equal(t, ConsentOptedOut, b.stored(t, "+5511900000001").Consent, consent)
	}
	require.Zero(t, b.count(t, `SELECT count(*) FROM consent_events`))
}

func TestImportRecordsAnOptOut(t *testing.T) {
	t.Parallel()
	b := setup(t)

	id := b.seedContact(t, "+5511900000001", "A", "", ConsentOptedIn, `{}`)
	sum := b.importCSV(t, "phone,consent\n11900000001,opted out\n11900000002,unsubscribed\n", Options{})
	require.Equal(t, 2, sum.OptedOut)
	require.Equal(t, 1, sum.Updated)
	c := b.stored(t, "+5511900000001")
	require.Equal(t, ConsentOptedOut, c.Consent)
	require.NotNil(t, c.OptedOutAt)
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM consent_events WHERE contact_id = $1 AND consent = 'opted_out'`, id))
	require.Equal(t, ConsentOptedOut, b.stored(t, "+5511900000002").Consent)
}

func TestReimportWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)

	csv := "phone,name,consent,city\n11900000001,A,yes,SP\n11900000002,B,no,RJ\n11900000003,C,,\n"
	first := b.importCSV(t, csv, Options{})
	require.Equal(t, 3, first.Imported)
	var before []string
	require.NoError(t, pgxCollectStrings(b, `SELECT xmin::text FROM contacts ORDER BY id`, &before))

	again := b.importCSV(t, csv, Options{})
	require.Equal(t, 0, again.Imported)
	require.Equal(t, 0, again.Updated)
	require.Equal(t, 3, again.Unchanged)
	require.Equal(t, 1, again.OptedIn)
	require.Equal(t, 2, again.NotOptedIn)
	var after []string
	require.NoError(t, pgxCollectStrings(b, `SELECT xmin::text FROM contacts ORDER BY id`, &after))
	require.Equal(t, before, after, "no contact row was rewritten")

	other := b.importCSV(t, csv, Options{List: "another"})
	require.Equal(t, 3, other.Unchanged)
	require.Len(t, b.contacts(t, "another"), 3)
}

func pgxCollectStrings(b *testBundle, sql string, out *[]string) error {
	rows, err := b.db.Query(b.ctx, sql)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		*out = append(*out, s)
	}
	return rows.Err()
}

func TestImportSkipNotOptedIn(t *testing.T) {
	t.Parallel()
	b := setup(t)

	sum := b.importCSV(t, "phone,consent\n11900000001,yes\n11900000002,no\n11900000003,\n", Options{SkipNotOptedIn: true})
	require.Equal(t, 3, sum.Rows)
	require.Equal(t, 2, sum.Skipped)
	require.Equal(t, 1, sum.Imported)
	require.Zero(t, b.count(t, `SELECT count(*) FROM contacts WHERE phone <> '+5511900000001'`))

	sum = b.importCSV(t, "phone\n11900000009\n", Options{SkipNotOptedIn: true})
	require.Equal(t, 1, sum.Skipped, "no consent column: nobody has consented")
}

func TestImportGetAndErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)

	var csv strings.Builder
	csv.WriteString("phone,name,consent\n")
	for i := range 2500 {
		fmt.Fprintf(&csv, "%d,Bad %d,maybe\n", i, i) // two errors a row
	}
	csv.WriteString("11900000001,Good,yes\n")
	sum := b.importCSV(t, csv.String(), Options{})
	require.Equal(t, 2500, sum.Invalid)
	require.Len(t, sum.Errors, maxSummaryErrors)
	require.Equal(t, []RowError{
		{Line: 2, Column: "consent", Reason: `unrecognised consent value "maybe": use yes or no (sim/não, sí/no, true/false, 1/0, x) or the date consent was given`},
		{Line: 2, Column: "phone", Reason: `"0" is not a valid phone number: not a number`},
	}, sum.Errors[:2])

	errs := b.storedErrors(t, sum.ImportID)
	require.Len(t, errs, 5000)
	require.Equal(t, sum.Errors, errs[:maxSummaryErrors])
	for i := 1; i < len(errs); i++ {
		require.LessOrEqual(t, errs[i-1].Line, errs[i].Line, "in line order")
	}

	got, err := b.svc.Get(b.ctx, sum.ImportID)
	require.NoError(t, err)
	want := *sum
	want.CreatedAt, want.FinishedAt = got.CreatedAt, got.FinishedAt
	want.Columns = stripIndex(want.Columns)
	require.Equal(t, &want, got)

	_, err = b.svc.Get(b.ctx, sum.ImportID+1000)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.svc.ListContacts(b.ctx, "no such list", 0, 10)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestImportValidatesOptions(t *testing.T) {
	t.Parallel()
	b := setup(t)

	_, err := b.svc.Import(b.ctx, strings.NewReader("phone\n1\n"), Options{DefaultCountry: "XX", HeaderRow: -1,
		Mappings: map[string]string{"a": "phone", "b": "phone"}})
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	require.ErrorContains(t, err, "list: a list name is required")
	require.ErrorContains(t, err, `default_country: "XX" is not an ISO 3166-1 alpha-2 country code`)
	require.ErrorContains(t, err, "header_row: must be 1 or more")
	require.ErrorContains(t, err, "are both mapped to phone")
}

// failingReader yields data, then fails, as a dropped upload does.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestImportIsAtomic commits for real: a load that fails half way leaves
// nothing behind, and the contacts it would have changed are as they were.
func TestImportIsAtomic(t *testing.T) {
	t.Parallel()
	b := committing(t, nil, Config{Workers: 3})
	ctx, svc, pool := b.ctx, b.svc, b.db

	b.seedContact(t, "+5511900000001", "Kept", "", ConsentOptedOut, `{}`)
	b.seedContact(t, "+5511900000002", "Also kept", "", ConsentNotOptedIn, `{}`)
	var big strings.Builder
	big.WriteString("phone,name,consent\n11900000001,Changed,yes\n11900000002,Changed,yes\n")
	for i := range 20000 {
		fmt.Fprintf(&big, "+55 11 9%08d,N%d,yes\n", 10000000+i, i)
	}
	nothingChanged := func(t *testing.T) {
		t.Helper()
		require.Equal(t, 2, b.count(t, `SELECT count(*) FROM contacts`))
		for _, table := range []string{"lists", "list_members", "imports", "import_errors", "consent_events"} {
			require.Zero(t, b.count(t, `SELECT count(*) FROM `+table), table)
		}
		require.Equal(t, "Kept", b.stored(t, "+5511900000001").Name)
		require.Equal(t, ConsentOptedOut, b.stored(t, "+5511900000001").Consent)
		require.Equal(t, ConsentNotOptedIn, b.stored(t, "+5511900000002").Consent)
	}

	t.Run("the file breaks", func(t *testing.T) {
		broken := &failingReader{data: []byte(big.String()), err: errors.New("connection reset")}
		_, err := svc.Import(ctx, broken, Options{List: "l", FileName: "l.csv", DefaultCountry: "BR"})
		require.ErrorContains(t, err, "connection reset")
		nothingChanged(t)
	})

	t.Run("the database refuses", func(t *testing.T) {
		_, err := pool.Exec(ctx, `
			CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'list_members refused'; END $$;
			CREATE TRIGGER refuse AFTER INSERT ON list_members FOR EACH STATEMENT EXECUTE FUNCTION refuse();`)
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = pool.Exec(ctx, `DROP TRIGGER refuse ON list_members; DROP FUNCTION refuse()`) })
		_, err = svc.Import(ctx, strings.NewReader(big.String()), Options{List: "l", FileName: "l.csv", DefaultCountry: "BR"})
		require.ErrorContains(t, err, "list_members refused")
		nothingChanged(t)
	})

	t.Run("the import is cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		_, err := svc.Import(cctx, strings.NewReader(big.String()), Options{List: "l", FileName: "l.csv", DefaultCountry: "BR",
			ProgressFunc: func(p Progress) {
				if p.Rows > 2000 {
					cancel()
				}
			}})
		cancel()
		require.ErrorIs(t, err, context.Canceled)
		nothingChanged(t)
	})

	t.Run("then it succeeds", func(t *testing.T) {
		sum, err := svc.Import(ctx, strings.NewReader(big.String()), Options{List: "l", FileName: "l.csv", DefaultCountry: "BR"})
		require.NoError(t, err)
		require.Equal(t, 20000, sum.Imported)
		require.Equal(t, 2, sum.Updated)
		require.Equal(t, 1, sum.KeptOptedOut)
		require.Equal(t, 20002, b.count(t, `SELECT count(*) FROM list_members`))
		require.Equal(t, ConsentOptedOut, b.stored(t, "+5511900000001").Consent)
	})
}

// TestImportWhenAContactAppearsUnderIt has another transaction create one of
// the file's contacts while the import is merging: the merge waits for it,
// fails on the unique number, and runs again with the contact as existing.
func TestImportWhenAContactAppearsUnderIt(t *testing.T) {
	t.Parallel()
	b := committing(t, nil, Config{})
	ctx, svc, pool := b.ctx, b.svc, b.db

	other, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer other.Rollback(ctx) //nolint:errcheck // committed below
	_, err = other.Exec(ctx, `INSERT INTO contacts (phone, name, consent) VALUES ('+5511900000001', 'Other', 'opted_out')`)
	require.NoError(t, err)

	done := make(chan error, 1)
	var sum *Summary
	go func() {
		var err error
		sum, err = svc.Import(ctx, strings.NewReader("phone,name,consent\n11900000001,A,yes\n11900000002,B,yes\n"),
			Options{List: "l", FileName: "l.csv", DefaultCountry: "BR"})
		done <- err
	}()
	// Wait until the import's insert waits on the uncommitted number.
	for deadline := time.Now().Add(10 * time.Second); ; {
		require.True(t, time.Now().Before(deadline), "the import never waited for the other transaction")
		if b.count(t, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%import_stage%'`) > 0 {
			break
		}
	}
	require.NoError(t, other.Commit(ctx))
	require.NoError(t, <-done)

	require.Equal(t, 1, sum.Imported)
	require.Equal(t, 1, sum.Updated, "the contact that appeared, renamed")
	require.Equal(t, 1, sum.KeptOptedOut)
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM list_members`))
	require.Equal(t, ConsentOptedOut, b.stored(t, "+5511900000001").Consent)
}

func TestImportComposesNames(t *testing.T) {
	t.Parallel()
	b := setup(t)

	b.importCSV(t, "phone,Primeiro nome,Sobrenome,Nome\n11900000001,Ana,Lima,\n11900000002,Bia,,Beatriz Souza\n", Options{})
	c := b.contacts(t, "customers")
	require.Equal(t, "", c["+5511900000001"].Name, "a name column, even blank, is the name")

	b.importCSV(t, "phone,Primeiro nome,Sobrenome\n11900000003,Ana,Lima\n11900000004,Bia,\n", Options{List: "names"})
	c = b.contacts(t, "names")
	require.Equal(t, "Ana Lima", c["+5511900000003"].Name, "no name column: first and last names")
	require.Equal(t, "Bia", c["+5511900000004"].Name)
	require.Equal(t, map[string]string{"primeiro_nome": "Ana", "sobrenome": "Lima"}, c["+5511900000003"].Attributes,
		"and they stay attributes, for templates")
}

// TestImportDeduplicatesNumbersOfAnyLength: the merge sorts and deduplicates
// by phone_key, the digits as an integer; numbers of several lengths (and
// countries) in one file, each repeated in another format, are each
// imported once, from their first row.
func TestImportDeduplicatesNumbersOfAnyLength(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sum := b.importCSV(t, "phone,name\n"+
		"+55 11 91234-5678,BR first\n"+
		"+1 415 555 2671,US first\n"+
		"+44 20 7946 0958,GB first\n"+
		"(11) 91234-5678,BR again\n"+
		"+1 (415) 555-2671,US again\n"+
		"+442079460958,GB again\n", Options{})
	require.Equal(t, 3, sum.Imported)
	require.Equal(t, 3, sum.Duplicates)
	c := b.contacts(t, "customers")
	require.Len(t, c, 3)
	require.Equal(t, "BR first", c["+5511912345678"].Name)
	require.Equal(t, "US first", c["+14155552671"].Name)
	require.Equal(t, "GB first", c["+442079460958"].Name)
}
