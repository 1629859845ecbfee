package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres means no database could be found or started. Its message is
// the one line a user needs.
var ErrNoPostgres = errors.New("no PostgreSQL found: set DATABASE_URL, run a server on localhost:5432, " +
	"or install PostgreSQL's server binaries (initdb, pg_ctl; Debian: apt-get install postgresql) so herald can start its own")

// LocateConfig says where to look for Postgres.
type LocateConfig struct {
	// DatabaseURL, when set, is used as is (after creating its database if
	// missing). From DATABASE_URL.
	DatabaseURL string
	// Database is the database name used on a local or private server.
	// Default "herald".
	Database string
	// LocalAddr is the server tried second. Default "127.0.0.1:5432".
	LocalAddr string
	// DataDir holds the private cluster herald starts when nothing else
	// serves. Default ".herald/pg" in the working directory (a home
	// directory is often closed to the postgres user the cluster runs as).
	DataDir string
	// LookPathFunc finds initdb and pg_ctl; default exec.LookPath plus
	// /usr/lib/postgresql/*/bin.
	LookPathFunc func(name string) (string, error)
}

// Located is a usable database and, for a private cluster, how to stop it.
type Located struct {
	URL    string
	Source string // "DATABASE_URL", "local", "private"
	stop   func(context.Context) error
}

// Close stops a private cluster herald started; it is a no-op otherwise.
func (l *Located) Close(ctx context.Context) error {
	if l.stop == nil {
		return nil
	}
	return l.stop(ctx)
}

// Locate finds Postgres in herald's order: DATABASE_URL; a server on
// localhost:5432; a private cluster started under DataDir with the machine's
// initdb and pg_ctl. The database is created if it does not exist.
func Locate(ctx context.Context, cfg LocateConfig, logger *slog.Logger) (*Located, error) {
	cfg.Database = cmp.Or(cfg.Database, "herald")
	cfg.LocalAddr = cmp.Or(cfg.LocalAddr, "127.0.0.1:5432")
	if cfg.LookPathFunc == nil {
		cfg.LookPathFunc = lookPostgresBinary
	}
	if cfg.DatabaseURL != "" {
		if err := EnsureDatabase(ctx, cfg.DatabaseURL); err != nil {
			return nil, err
		}
		return &Located{URL: cfg.DatabaseURL, Source: "DATABASE_URL"}, nil
	}
	local := "postgres://" + cfg.LocalAddr + "/" + cfg.Database + "?sslmode=disable"
	if reachable(ctx, cfg.LocalAddr) {
		if err := EnsureDatabase(ctx, local); err == nil {
			return &Located{URL: local, Source: "local"}, nil
		} else {
			logger.Warn("local postgres refused herald", slog.String("addr", cfg.LocalAddr), slog.Any("error", err))
		}
	}
	cfg.DataDir = cmp.Or(cfg.DataDir, filepath.Join(".herald", "pg"))
	return startPrivate(ctx, cfg, logger)
}

// EnsureDatabase creates the database named in dsn if it does not exist,
// connecting to the server's "postgres" database to do it.
func EnsureDatabase(ctx context.Context, dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return fmt.Errorf("parse database url %s: %w", RedactURL(dsn), err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return nil
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err == nil {
		return conn.Close(ctx)
	}
	var pgErr interface{ SQLState() string }
	if !errors.As(err, &pgErr) || pgErr.SQLState() != "3D000" { // invalid_catalog_name
		return fmt.Errorf("connect %s: %w", RedactURL(dsn), err)
	}
	admin := *u
	admin.Path = "/postgres"
	conn, err = pgx.Connect(ctx, admin.String())
	if err != nil {
		return fmt.Errorf("connect %s: %w", RedactURL(admin.String()), err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgE interface{ SQLState() string }
	if err != nil && errors.As(err, &pgE) && pgE.SQLState() == "42P04" { // created meanwhile
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

func reachable(ctx context.Context, addr string) bool {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func lookPostgresBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs))) // newest major version first
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// startPrivate initialises (once) and starts a cluster in cfg.DataDir that
// listens only on a Unix socket inside it and a free loopback port.
func startPrivate(ctx context.Context, cfg LocateConfig, logger *slog.Logger) (*Located, error) {
	initdb, err1 := cfg.LookPathFunc("initdb")
	pgctl, err2 := cfg.LookPathFunc("pg_ctl")
	if err1 != nil || err2 != nil {
		return nil, ErrNoPostgres
	}
	// Postgres refuses to run as root; run it as the postgres system user.
	runAs, err := clusterUser()
	if err != nil {
		return nil, err
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", dataDir, err)
	}
	if err := chownTo(dataDir, runAs); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); err != nil {
		logger.Info("initialising private postgres cluster", slog.String("dir", dataDir))
		out, err := command(ctx, runAs, initdb, "-D", dataDir, "-U", "herald", "--auth=trust", "-E", "UTF8").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("initdb %s: %w: %s", dataDir, err, lastLine(out))
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", port, dataDir)
	logFile := filepath.Join(dataDir, "server.log")
	out, err := command(ctx, runAs, pgctl, "-D", dataDir, "-l", logFile, "-o", opts, "-w", "-t", "60", "start").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("pg_ctl start %s: %w: %s (see %s)", dataDir, err, lastLine(out), logFile)
	}
	dsn := fmt.Sprintf("postgres://herald@127.0.0.1:%d/%s?sslmode=disable", port, cfg.Database)
	stop := func(ctx context.Context) error {
		out, err := command(ctx, runAs, pgctl, "-D", dataDir, "-m", "fast", "-w", "stop").CombinedOutput()
		if err != nil {
			return fmt.Errorf("pg_ctl stop %s: %w: %s", dataDir, err, lastLine(out))
		}
		return nil
	}
	if err := EnsureDatabase(ctx, dsn); err != nil {
		_ = stop(context.WithoutCancel(ctx))
		return nil, err
	}
	logger.Info("started private postgres", slog.String("dir", dataDir), slog.Int("port", port))
	return &Located{URL: dsn, Source: "private", stop: stop}, nil
}

func clusterUser() (*user.User, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("%w (running as root and no 'postgres' user to run the cluster as)", ErrNoPostgres)
	}
	return u, nil
}

func chownTo(dir string, u *user.User) error {
	if u == nil {
		return nil
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// The parent must be traversable by the cluster's user.
	_ = os.Chmod(filepath.Dir(dir), 0o755)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("chown %s: %w", dir, err)
	}
	return nil
}

func command(ctx context.Context, u *user.User, bin string, args ...string) *exec.Cmd {
	if u == nil {
		return exec.CommandContext(ctx, bin, args...)
	}
	return exec.CommandContext(ctx, "runuser", append([]string{"-u", u.Username, "--", bin}, args...)...)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
