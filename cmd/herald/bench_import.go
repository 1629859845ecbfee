package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"github.com/xuri/excelize/v2"

	"github.com/herald-sh/herald/importer"
	"github.com/herald-sh/herald/internal/store"
)

// benchImportCmd is `herald bench import [--rows N] [--format csv|xlsx]`.
func (a *app) benchImportCmd() *cobra.Command {
	var (
		rows     int
		format   string
		dir      string
		file     string
		keep     bool
		repeat   bool
		existing int
	)
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Measure the importer: rows per second from file to committed contacts, and peak memory",
		Long: `Writes a contact list (phone, name, consent and three attributes; numbers in
the ways people write them, half a percent invalid, half a percent repeated)
as CSV or XLSX, then imports it end to end into a scratch database next to
herald's (<database>_bench_import, dropped afterwards): sniffing, parsing,
phone normalisation, staging and the merge into contacts and the list, up
to the commit. Prints rows per second and the peak resident memory of the
import (VmHWM of a process that does nothing else). --file imports a file
of your own instead. --existing first fills the scratch database with
other contacts, numbers of the same area codes as the file's, so that the
import's numbers land between them, as they do in a database that has
taken many lists.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if file != "" {
				return a.benchImportFile(ctx, file, keep, repeat, existing)
			}
			if format != importer.FormatCSV && format != importer.FormatXLSX {
				return usageError{fmt.Errorf("--format %q: want csv or xlsx", format)}
			}
			if rows < 1 {
				return usageError{fmt.Errorf("--rows %d: want 1 or more", rows)}
			}
			if existing < 0 || rows+existing > 100_000_000 {
				return usageError{fmt.Errorf("--existing %d: want 0 to %d", existing, 100_000_000-rows)}
			}
			if dir == "" {
				d, err := os.MkdirTemp("", "herald-bench-import-")
				if err != nil {
					return err
				}
				dir = d
				if !keep {
					defer os.RemoveAll(d)
				}
			}
			path := filepath.Join(dir, fmt.Sprintf("contacts-%d.%s", rows, format))
			start := time.Now()
			if err := writeBenchList(path, format, rows); err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
			st, err := os.Stat(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "wrote %s: %d rows, %.1f MB in %s\n", path, rows, float64(st.Size())/1e6, time.Since(start).Round(time.Millisecond))

			// Import in a fresh process, so that its peak memory is the
			// import's and not the file writer's.
			self, err := os.Executable()
			if err != nil {
				return err
			}
			args := []string{"bench", "import", "--file", path, "--existing", strconv.Itoa(existing)}
			for name, set := range map[string]bool{"--keep": keep, "--repeat": repeat} {
				if set {
					args = append(args, name)
				}
			}
			child := exec.CommandContext(ctx, self, args...)
			child.Stdout, child.Stderr = a.stdout, a.stderr
			child.Env = append(os.Environ(), "DATABASE_URL="+a.cfg.DatabaseURL, "HERALD_DATA_DIR="+a.cfg.DataDir)
			if err := child.Run(); err != nil {
				return fmt.Errorf("import %s: %w", path, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&rows, "rows", 100_000, "rows in the generated list")
	f.StringVar(&format, "format", importer.FormatCSV, "csv or xlsx")
	f.StringVar(&dir, "dir", "", "directory for the generated file (default: a temporary one)")
	f.StringVar(&file, "file", "", "import this file instead of generating one")
	f.BoolVar(&keep, "keep", false, "keep the generated file and the scratch database")
	f.BoolVar(&repeat, "repeat", false, "import the same file a second time (every contact exists and is unchanged)")
	f.IntVar(&existing, "existing", 0, "contacts (in another list) the scratch database holds before the import, none of them in the file")
	return cmd
}

// benchImportFile imports path into a scratch database and reports.
func (a *app) benchImportFile(ctx context.Context, path string, keep, repeat bool, existing int) error {
	if _, err := a.openDB(ctx); err != nil {
		return err
	}
	defer a.closeDB(ctx)
	scratch, drop, err := a.benchDatabase(ctx, "_bench_import")
	if err != nil {
		return err
	}
	if !keep {
		defer drop()
	}
	if existing > 0 {
		start := time.Now()
		if err := seedExisting(ctx, scratch, existing); err != nil {
			return fmt.Errorf("seed %d existing contacts: %w", existing, err)
		}
		fmt.Fprintf(a.stdout, "scratch database holds %d other contacts (%s)\n", existing, time.Since(start).Round(time.Millisecond))
	}
	defer a.importGC()() // as herald import does
	svc := importer.NewService(a.logger, importer.Config{}, scratch)
	runs := 1
	if repeat {
		runs = 2
	}
	for run := 1; run <= runs; run++ {
		resetPeakRSS()
		var saving time.Time
		start := time.Now()
		sum, err := svc.ImportFile(ctx, path, importer.Options{
			List: "bench", DefaultCountry: "BR",
			ProgressFunc: func(p importer.Progress) {
				if p.Phase == "saving" && saving.IsZero() {
					saving = time.Now()
				}
			},
		})
		if err != nil {
			return err
		}
		took := time.Since(start)
		label := "import"
		if run == 2 {
			label = "re-import"
		}
		fmt.Fprintf(a.stdout, "%s %d rows (%s): %s, %.0f rows/s, peak RSS %.0f MB\n",
			label, sum.Rows, sum.Format, took.Round(time.Millisecond), float64(sum.Rows)/took.Seconds(), float64(peakRSS())/(1<<20))
		fmt.Fprintf(a.stdout, "  reading and staging %s, then merging and commit %s\n",
			saving.Sub(start).Round(time.Millisecond), time.Since(saving).Round(time.Millisecond))
		fmt.Fprintf(a.stdout, "  imported %d, updated %d, unchanged %d, invalid %d, duplicates %d; opted in %d, not opted in %d\n",
			sum.Imported, sum.Updated, sum.Unchanged, sum.Invalid, sum.Duplicates, sum.OptedIn, sum.NotOptedIn)
	}
	return nil
}

// benchDatabase creates a fresh, migrated database named after herald's
// plus suffix, and returns a pool on it and a function dropping it.
func (a *app) benchDatabase(ctx context.Context, suffix string) (*pgxpool.Pool, func(), error) {
	u, err := url.Parse(a.located.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("parse database url: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/") + suffix
	u.Path = "/" + name
	if err := dropDatabase(ctx, a.located.URL, name); err != nil {
		return nil, nil, err
	}
	if err := store.EnsureDatabase(ctx, u.String()); err != nil {
		return nil, nil, err
	}
	pool, err := store.Open(ctx, u.String())
	if err != nil {
		return nil, nil, err
	}
	if err := store.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		pool.Close()
		return nil, nil, err
	}
	drop := func() {
		pool.Close()
		if err := dropDatabase(context.WithoutCancel(ctx), a.located.URL, name); err != nil {
			a.logger.Warn("drop scratch database", slog.String("database", name), slog.Any("error", err))
		}
	}
	return pool, drop, nil
}

func dropDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect %s: %w", store.RedactURL(adminURL), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// resetPeakRSS returns freed memory to the system and resets VmHWM, so
// that the peak measured next is the import's, not the file generator's.
func resetPeakRSS() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS reads VmHWM (peak resident set size) from /proc/self/status.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(string(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// seedExisting stores n contacts in a list of their own: rows 10^8-n to
// 10^8-1 of benchRow's sequence (i times 7919 modulo 10^8 is a
// permutation), so no generated file holds their numbers, and they spread
// over the same area codes. Then it vacuums and analyzes, as autovacuum
// would have, and checkpoints, so that the import does not pay for the
// seeding's writes (CHECKPOINT needs a superuser or pg_checkpoint).
func seedExisting(ctx context.Context, db *pgxpool.Pool, n int) error {
	_, err := db.Exec(ctx, `
WITH l AS (INSERT INTO lists (name) VALUES ('existing') RETURNING id),
c AS (
    INSERT INTO contacts (phone, country, name, consent, consent_source, consent_at)
    SELECT '+55' || ($2::text[])[i % cardinality($2::text[]) + 1]
               || '9' || lpad(((i::bigint * 7919) % 100000000)::text, 8, '0'),
           'BR', 'Existing ' || i, 'opted_in', 'bench', now()
    FROM generate_series(100000000 - $1::int, 99999999) i
    RETURNING id
)
INSERT INTO list_members (list_id, contact_id) SELECT l.id, c.id FROM l, c`, n, benchDDDs)
	if err != nil {
		return err
	}
	if _, err := db.Exec(ctx, `VACUUM ANALYZE contacts, list_members`); err != nil {
		return err
	}
	_, err = db.Exec(ctx, `CHECKPOINT`)
	return err
}

// benchDDDs are the area codes of the generated numbers, row i's being
// benchDDDs[i % 10].
var benchDDDs = []string{"11", "21", "31", "41", "51", "61", "71", "81", "85", "91"}

// benchRow is row i of the generated list. Numbers are unique (i times a
// prime, modulo 10^8, is a permutation) and written in the ways lists hold
// them; one row in 200 has a broken number and one in 200 repeats an
// earlier number in another format.
func benchRow(i int) (phone string, numeric int64, name, consent, city, plan string, signup time.Time) {
	n := i
	if i%200 == 199 {
		n = i / 2 // a duplicate
	}
	ddd := benchDDDs[n%len(benchDDDs)]
	sub := fmt.Sprintf("%08d", int64(n)*7919%100_000_000)
	switch n % 4 {
	case 0:
		phone = "+55 " + ddd + " 9" + sub[:4] + "-" + sub[4:]
	case 1:
		phone = "(" + ddd + ") 9" + sub[:4] + "-" + sub[4:]
	case 2:
		phone = "55" + ddd + "9" + sub
		numeric, _ = strconv.ParseInt(phone, 10, 64)
	case 3:
		phone = "+55" + ddd + " 9" + sub[:4] + " " + sub[4:]
	}
	if i%200 == 100 {
		phone, numeric = "9"+sub[:3], 0 // too short
	}
	consents := [...]string{"yes", "sim", "no", "", "x", "2024-03-15", "não", "1"}
	cities := [...]string{"São Paulo", "Rio de Janeiro", "Belo Horizonte", "Curitiba", "Porto Alegre", "Brasília", "Salvador", "Recife"}
	plans := [...]string{"free", "basic", "pro", "enterprise"}
	return phone, numeric, "Contact " + strconv.Itoa(i), consents[i%len(consents)], cities[i%len(cities)],
		plans[i%len(plans)], time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%1500)
}

func writeBenchList(path, format string, rows int) error {
	if format == importer.FormatXLSX {
		return writeBenchXLSX(path, rows)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "phone,name,consent,city,plan,signup_date")
	for i := range rows {
		phone, _, name, consent, city, plan, signup := benchRow(i)
		fmt.Fprintf(w, "%s,%s,%s,%s,%s,%s\n", phone, name, consent, city, plan, signup.Format(time.DateOnly))
	}
	return errors.Join(w.Flush(), f.Close())
}

// writeBenchXLSX writes the list the way Excel users keep one: a numeric
// cell for numbers typed without punctuation, a date cell for the date.
func writeBenchXLSX(path string, rows int) error {
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		return err
	}
	dateStyle, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	if err != nil {
		return err
	}
	if err := sw.SetRow("A1", []any{"phone", "name", "consent", "city", "plan", "signup_date"}); err != nil {
		return err
	}
	for i := range rows {
		phone, numeric, name, consent, city, plan, signup := benchRow(i)
		var p any = phone
		if numeric != 0 {
			p = numeric
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, []any{p, name, consent, city, plan, excelize.Cell{StyleID: dateStyle, Value: signup}}); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return f.SaveAs(path)
}
