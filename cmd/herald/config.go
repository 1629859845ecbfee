package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/herald-sh/herald/internal/pricing"
	"github.com/herald-sh/herald/internal/whatsapp"
)

// config is herald's configuration: environment first, flags override.
type config struct {
	// DatabaseURL is a Postgres URL (DATABASE_URL). Empty: localhost:5432,
	// then a private cluster under DataDir.
	DatabaseURL string
	// DataDir holds herald's private Postgres cluster (HERALD_DATA_DIR,
	// default .herald/pg).
	DataDir string
	// Listen is the HTTP address of serve (HERALD_LISTEN, default :8080).
	Listen string
	// LogLevel is debug, info, warn or error (HERALD_LOG_LEVEL, default info).
	LogLevel string
	// LogFormat is text or json (HERALD_LOG_FORMAT, default text).
	LogFormat string

	// WhatsApp Cloud API.
	APIURL      string          // WHATSAPP_API_URL, default https://graph.facebook.com
	APIVersion  string          // WHATSAPP_API_VERSION, default v25.0
	Token       whatsapp.Secret // WHATSAPP_TOKEN (or WHATSAPP_TOKEN_FILE)
	AppSecret   whatsapp.Secret // WHATSAPP_APP_SECRET (or WHATSAPP_APP_SECRET_FILE)
	VerifyToken whatsapp.Secret // WHATSAPP_VERIFY_TOKEN
	WABAID      string          // WHATSAPP_WABA_ID

	// OptOutWords replace the built-in opt-out words of inbound messages
	// (HERALD_OPT_OUT_WORDS, comma-separated; case and accents ignored).
	OptOutWords []string

	// RateCard and RateCardMarkets are CSV files replacing herald's
	// embedded rate card (HERALD_RATE_CARD, HERALD_RATE_CARD_MARKETS; both
	// or neither).
	RateCard, RateCardMarkets string

	// APITokens are the bearer tokens /api/v1 accepts (HERALD_API_TOKENS,
	// comma-separated, or HERALD_API_TOKENS_FILE, one per line). None:
	// the API answers 503.
	APITokens []whatsapp.Secret

	fileErrs []error
}

func configFromEnv(getenv func(string) string) config {
	c := config{
		DatabaseURL: getenv("DATABASE_URL"),
		DataDir:     getenv("HERALD_DATA_DIR"),
		Listen:      cmp.Or(getenv("HERALD_LISTEN"), ":8080"),
		LogLevel:    cmp.Or(getenv("HERALD_LOG_LEVEL"), "info"),
		LogFormat:   cmp.Or(getenv("HERALD_LOG_FORMAT"), "text"),
		APIURL:      cmp.Or(getenv("WHATSAPP_API_URL"), "https://graph.facebook.com"),
		APIVersion:  cmp.Or(getenv("WHATSAPP_API_VERSION"), "v25.0"),
		WABAID:      getenv("WHATSAPP_WABA_ID"),
		RateCard:    getenv("HERALD_RATE_CARD"),

		RateCardMarkets: getenv("HERALD_RATE_CARD_MARKETS"),
	}
	c.Token = c.secret(getenv, "WHATSAPP_TOKEN")
	c.AppSecret = c.secret(getenv, "WHATSAPP_APP_SECRET")
	c.VerifyToken = c.secret(getenv, "WHATSAPP_VERIFY_TOKEN")
	for _, w := range strings.Split(getenv("HERALD_OPT_OUT_WORDS"), ",") {
		if w = strings.TrimSpace(w); w != "" {
			c.OptOutWords = append(c.OptOutWords, w)
		}
	}
	for _, tok := range strings.FieldsFunc(string(c.secret(getenv, "HERALD_API_TOKENS")), func(r rune) bool {
		return r == ',' || r == '\n' || r == ' '
	}) {
		c.APITokens = append(c.APITokens, whatsapp.Secret(tok))
	}
	return c
}

// secret reads NAME, or the file named by NAME_FILE (for mounted secrets).
func (c *config) secret(getenv func(string) string, name string) whatsapp.Secret {
	if v := getenv(name); v != "" {
		return whatsapp.Secret(v)
	}
	if path := getenv(name + "_FILE"); path != "" {
		b, err := readFile(path)
		if err != nil {
			c.fileErrs = append(c.fileErrs, fmt.Errorf("%s_FILE: %w", name, err))
			return ""
		}
		return whatsapp.Secret(strings.TrimSpace(string(b)))
	}
	return ""
}

func (c *config) bindGlobalFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "Postgres URL (env DATABASE_URL)")
	f.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of herald's private Postgres cluster (env HERALD_DATA_DIR)")
	f.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (env HERALD_LOG_LEVEL)")
	f.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json (env HERALD_LOG_FORMAT)")
	f.StringVar(&c.APIURL, "api-url", c.APIURL, "Cloud API base URL (env WHATSAPP_API_URL)")
	f.StringVar(&c.APIVersion, "api-version", c.APIVersion, "Cloud API version (env WHATSAPP_API_VERSION)")
}

// Validate lists every bad field at once.
func (c *config) Validate() error {
	errs := append([]error(nil), c.fileErrs...)
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log format %q: want text or json", c.LogFormat))
	}
	if (c.RateCard == "") != (c.RateCardMarkets == "") {
		errs = append(errs, fmt.Errorf("rate card: set both HERALD_RATE_CARD and HERALD_RATE_CARD_MARKETS, or neither"))
	}
	if !strings.HasPrefix(c.APIVersion, "v") {
		errs = append(errs, fmt.Errorf("api version %q: want a version like v25.0", c.APIVersion))
	}
	if !strings.HasPrefix(c.APIURL, "http://") && !strings.HasPrefix(c.APIURL, "https://") {
		errs = append(errs, fmt.Errorf("api url %q: want an http(s) URL", c.APIURL))
	}
	return errors.Join(errs...)
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// card is the rate card herald prices with: the configured files, or the
// embedded default.
func (c *config) card() (*pricing.Card, error) {
	if c.RateCard == "" {
		return pricing.Default(), nil
	}
	rates, err := os.Open(c.RateCard)
	if err != nil {
		return nil, fmt.Errorf("rate card: %w", err)
	}
	defer rates.Close()
	markets, err := os.Open(c.RateCardMarkets)
	if err != nil {
		return nil, fmt.Errorf("rate card markets: %w", err)
	}
	defer markets.Close()
	return pricing.Load(rates, markets)
}
