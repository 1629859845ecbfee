package campaigns

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/herald-sh/herald/internal/store"
)

// jobInserter is the part of the River client the service needs: jobs are
// inserted in the same transaction as the sends they carry.
type jobInserter interface {
	InsertManyFastTx(ctx context.Context, tx pgx.Tx, params []river.InsertManyParams) (int, error)
}

// Config tunes expansion and dispatch.
type Config struct {
	// BatchSize is the number of sends one dispatch job covers (default
	// 1000: about a second of a number at 1,000/s; docs/BENCHMARKS.md,
	// "Campaign engine", has the figures it was chosen from).
	BatchSize int
	// PaceLead is how far ahead of its sender number's pace a dispatch job
	// becomes due (default 2s; see enqueueRanges). It covers River's fetch
	// interval and a job's start, so that a number never waits for work.
	PaceLead time.Duration
	// Now returns the current time (default time.Now).
	NowFunc func() time.Time
}

// Service creates campaigns and drives their lifecycle.
type Service struct {
	logger *slog.Logger
	pool   *pgxpool.Pool
	jobs   jobInserter
	cfg    Config
}

// NewService returns a Service. jobs is usually the *river.Client.
func NewService(logger *slog.Logger, pool *pgxpool.Pool, jobs jobInserter, cfg Config) *Service {
	cfg.BatchSize = cmp.Or(cfg.BatchSize, 1000)
	cfg.PaceLead = cmp.Or(cfg.PaceLead, 2*time.Second)
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	return &Service{logger: logger, pool: pool, jobs: jobs, cfg: cfg}
}

// Sender is a business phone number herald sends from.
type Sender struct {
	ID            int64
	PhoneNumberID string
	DisplayPhone  string
	WABAID        string
	RatePerSecond int
	// MessagingLimit is the portfolio's unique-recipient limit per moving
	// 24 hours (250, 2000, 10000, 100000); 0 means unlimited.
	MessagingLimit int
}

// SenderUpsert registers a sender number or updates its settings.
func SenderUpsert(ctx context.Context, db store.DBTX, s Sender) (int64, error) {
	if s.RatePerSecond == 0 {
		s.RatePerSecond = 80
	}
	var id int64
	if err := db.QueryRow(ctx, senderUpsertSQL, s.PhoneNumberID, s.DisplayPhone, s.WABAID, s.RatePerSecond, s.MessagingLimit).Scan(&id); err != nil {
		return 0, fmt.Errorf("upsert sender %s: %w", s.PhoneNumberID, store.InterpretError(err))
	}
	return id, nil
}

// NewCampaign is what it takes to create a campaign.
type NewCampaign struct {
	Name          string            `json:"name"`
	Template      string            `json:"template"`
	Language      string            `json:"language"`
	PhoneNumberID string            `json:"phone_number_id"`
	Lists         []string          `json:"lists"`
	Filters       map[string]string `json:"filters,omitempty"`
	Bindings      []Binding         `json:"bindings"`
	Priority      int               `json:"priority,omitempty"` // 1 (urgent) … 4 (bulk); default 2
	StartAt       *time.Time        `json:"start_at,omitempty"`
	// Window, if set, sends only between Start and End in each
	// recipient's time zone.
	Window *Window `json:"window,omitempty"`
}

// Campaign is a stored campaign.
type Campaign struct {
	ID            int64             `json:"id"`
	Name          string            `json:"name"`
	TemplateID    int64             `json:"template_id"`
	SenderID      int64             `json:"sender_id"`
	PhoneNumberID string            `json:"phone_number_id"`
	SenderRate    int               `json:"sender_rate"`
	ListIDs       []int64           `json:"list_ids"`
	Filters       map[string]string `json:"filters"`
	Bindings      []Binding         `json:"bindings"`
	Status        string            `json:"status"`
	StatusReason  string            `json:"status_reason,omitempty"`
	Priority      int               `json:"priority"`
	StartAt       *time.Time        `json:"start_at,omitempty"`
	Window        *Window           `json:"window,omitempty"`
	Audience      int64             `json:"audience"`
	CreatedAt     time.Time         `json:"created_at"`
	StartedAt     *time.Time        `json:"started_at,omitempty"`
	FinishedAt    *time.Time        `json:"finished_at,omitempty"`
}

// Create validates and stores a draft campaign.
func (s *Service) Create(ctx context.Context, nc NewCampaign) (*Campaign, error) {
	ve := &ValidationError{Fields: map[string]string{}}
	if nc.Name == "" {
		ve.Fields["name"] = "required"
	}
	if nc.Template == "" {
		ve.Fields["template"] = "required"
	}
	if nc.Language == "" {
		ve.Fields["language"] = "required"
	}
	if nc.PhoneNumberID == "" {
		ve.Fields["phone_number_id"] = "required"
	}
	if len(nc.Lists) == 0 {
		ve.Fields["lists"] = "at least one list"
	}
	nc.Priority = cmp.Or(nc.Priority, 2)
	if nc.Priority < 1 || nc.Priority > 4 {
		ve.Fields["priority"] = "want 1 (urgent) to 4 (bulk)"
	}
	var windowStart, windowEnd *string
	if nc.Window != nil {
		if _, _, err := nc.Window.parse(); err != nil {
			ve.Fields["window"] = err.Error()
		}
		windowStart, windowEnd = &nc.Window.Start, &nc.Window.End
	}
	if len(ve.Fields) > 0 {
		return nil, ve
	}
	var id int64
	err := store.WithTx(ctx, s.pool, func(tx pgx.Tx) error {
		t, err := TemplateGet(ctx, tx, nc.Template, nc.Language)
		if errors.Is(err, store.ErrNotFound) {
			return &ValidationError{Fields: map[string]string{"template": fmt.Sprintf("no template %s in language %s (run herald templates sync)", nc.Template, nc.Language)}}
		}
		if err != nil {
			return err
		}
		if t.Status != "APPROVED" {
			return &ValidationError{Fields: map[string]string{"template": fmt.Sprintf("template %s/%s is %s, not APPROVED", t.Name, t.Language, t.Status)}}
		}
		if err := ValidateBindings(t, nc.Bindings); err != nil {
			return err
		}
		var senderID int64
		if err := tx.QueryRow(ctx, `SELECT id FROM sender_numbers WHERE phone_number_id = $1`, nc.PhoneNumberID).Scan(&senderID); err != nil {
			if errors.Is(store.InterpretError(err), store.ErrNotFound) {
				return &ValidationError{Fields: map[string]string{"phone_number_id": fmt.Sprintf("no sender number %s (add it with herald senders add)", nc.PhoneNumberID)}}
			}
			return fmt.Errorf("find sender %s: %w", nc.PhoneNumberID, err)
		}
		listIDs, err := listIDs(ctx, tx, nc.Lists)
		if err != nil {
			return err
		}
		filters, _ := json.Marshal(cmpMap(nc.Filters))
		bindings, _ := json.Marshal(nc.Bindings)
		return tx.QueryRow(ctx, campaignInsertSQL, nc.Name, t.ID, senderID, listIDs, filters, bindings, nc.Priority, nc.StartAt,
			windowStart, windowEnd).Scan(&id)
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

func cmpMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func listIDs(ctx context.Context, tx pgx.Tx, names []string) ([]int64, error) {
	rows, err := tx.Query(ctx, `SELECT name, id FROM lists WHERE name = ANY($1)`, names)
	if err != nil {
		return nil, fmt.Errorf("find lists: %w", err)
	}
	found := map[string]int64{}
	for rows.Next() {
		var n string
		var id int64
		if err := rows.Scan(&n, &id); err != nil {
			return nil, err
		}
		found[n] = id
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var ids []int64
	for _, n := range names {
		id, ok := found[n]
		if !ok {
			return nil, &ValidationError{Fields: map[string]string{"lists": fmt.Sprintf("no list %q", n)}}
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// Get returns a campaign.
func (s *Service) Get(ctx context.Context, id int64) (*Campaign, error) {
	return campaignGet(ctx, s.pool, id)
}

func campaignGet(ctx context.Context, db store.DBTX, id int64) (*Campaign, error) {
	var (
		c                 Campaign
		filters, bindings []byte
		prio              int16
		wStart, wEnd      *string
	)
	err := db.QueryRow(ctx, campaignSelectSQL+` WHERE c.id = $1`, id).Scan(&c.ID, &c.Name, &c.TemplateID, &c.SenderID,
		&c.PhoneNumberID, &c.SenderRate, &c.ListIDs, &filters, &bindings, &c.Status, &c.StatusReason, &prio, &c.StartAt,
		&c.Audience, &c.CreatedAt, &c.StartedAt, &c.FinishedAt, &wStart, &wEnd)
	if err != nil {
		return nil, fmt.Errorf("get campaign %d: %w", id, store.InterpretError(err))
	}
	c.Priority = int(prio)
	if wStart != nil && wEnd != nil {
		c.Window = &Window{Start: *wStart, End: *wEnd}
	}
	if err := json.Unmarshal(filters, &c.Filters); err != nil {
		return nil, fmt.Errorf("decode filters of campaign %d: %w", id, err)
	}
	if err := json.Unmarshal(bindings, &c.Bindings); err != nil {
		return nil, fmt.Errorf("decode bindings of campaign %d: %w", id, err)
	}
	return &c, nil
}

// setStatus moves a campaign between lifecycle states, refusing a move from a
// state not in from.
func setStatus(ctx context.Context, db store.DBTX, id int64, to, reason string, from ...string) error {
	var got int64
	err := db.QueryRow(ctx, campaignSetStatusSQL, id, to, reason, from).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		c, gerr := campaignGet(ctx, db, id)
		if gerr != nil {
			return gerr
		}
		return fmt.Errorf("%w: campaign %d is %s, cannot become %s", ErrInvalidTransition, id, c.Status, to)
	}
	if err != nil {
		return fmt.Errorf("set campaign %d %s: %w", id, to, err)
	}
	return nil
}
