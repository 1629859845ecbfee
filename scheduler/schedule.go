package scheduler

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/herald-sh/herald/campaigns"
	"github.com/herald-sh/herald/internal/store"
)

// NewSchedule is what it takes to create a schedule: when it runs and the
// campaign each run creates.
type NewSchedule struct {
	Name string `json:"name"`
	// Cron is a standard five-field spec ("0 9 * * 1-5") or a descriptor
	// (@daily, @weekly, …), read in Zone. It must not start with TZ= or
	// CRON_TZ=; @every is refused.
	Cron string `json:"cron"`
	// Zone is an IANA time zone name (America/Sao_Paulo).
	Zone string `json:"zone"`

	Template      string   `json:"template"`
	Language      string   `json:"language"`
	PhoneNumberID string   `json:"phone_number_id"`
	Lists         []string `json:"lists"`
	// Filters match contact attributes exactly. A value may hold run-relative
	// date tokens, {{run_date}}, {{run_date+1d}}, {{run_date-2w}}, which each
	// run replaces by an ISO date in Zone.
	Filters  map[string]string   `json:"filters,omitempty"`
	Bindings []campaigns.Binding `json:"bindings"`
	Priority int                 `json:"priority,omitempty"` // 1 (urgent) … 4 (bulk); default 2
	// CatchUp is the policy for missed runs; default CatchUpSkip.
	CatchUp CatchUp `json:"catch_up,omitempty"`
}

// Schedule is a stored schedule.
type Schedule struct {
	ID            int64               `json:"id" db:"id"`
	Name          string              `json:"name" db:"name"`
	Cron          string              `json:"cron" db:"cron_spec"`
	Zone          string              `json:"zone" db:"time_zone"`
	Template      string              `json:"template" db:"template"`
	Language      string              `json:"language" db:"language"`
	PhoneNumberID string              `json:"phone_number_id" db:"phone_number_id"`
	Lists         []string            `json:"lists" db:"lists"`
	Filters       map[string]string   `json:"filters" db:"filters"`
	Bindings      []campaigns.Binding `json:"bindings" db:"bindings"`
	Priority      int                 `json:"priority" db:"priority"`
	Enabled       bool                `json:"enabled" db:"enabled"`
	CatchUp       CatchUp             `json:"catch_up" db:"catch_up"`
	CreatedAt     time.Time           `json:"created_at" db:"created_at"`
	UpdatedAt     time.Time           `json:"updated_at" db:"updated_at"`
	// LastRunAt is the time of the latest run a tick handled.
	LastRunAt *time.Time `json:"last_run_at,omitempty" db:"last_run_at"`
	// NextRunAt is the first run not yet handled; nil while disabled.
	NextRunAt *time.Time `json:"next_run_at,omitempty" db:"next_run_at"`
}

// Run is one run a schedule made: the campaign it created, or why it could
// not.
type Run struct {
	RunAt      time.Time `json:"run_at" db:"run_at"`
	CampaignID *int64    `json:"campaign_id,omitempty" db:"campaign_id"`
	Error      string    `json:"error,omitempty" db:"error"`
	CreatedAt  time.Time `json:"created_at" db:"created_at"`
}

// Create validates and stores an enabled schedule whose first run is the
// first time its spec fires after now. It checks everything a run needs —
// the spec and zone, the template and bindings, the sender, the lists, the
// filters' tokens — and reports every problem in one *ValidationError.
func (s *Scheduler) Create(ctx context.Context, ns NewSchedule) (*Schedule, error) {
	ns.Cron = strings.TrimSpace(ns.Cron)
	ns.CatchUp = cmp.Or(ns.CatchUp, CatchUpSkip)
	ns.Priority = cmp.Or(ns.Priority, 2)
	sp, problems := parseSpec(ns.Cron, ns.Zone)
	if problems == nil {
		problems = map[string]string{}
	}
	if ns.Name == "" {
		problems["name"] = "required"
	}
	if !ns.CatchUp.valid() {
		problems["catch_up"] = fmt.Sprintf("%q: want skip, none or all", ns.CatchUp)
	}
	if ns.Priority < 1 || ns.Priority > 4 {
		problems["priority"] = "want 1 (urgent) to 4 (bulk)"
	}
	_, fp := resolveFilters(ns.Filters, time.Now(), time.UTC)
	for k, v := range fp {
		problems[k] = v
	}
	if err := s.checkCampaign(ctx, ns, problems); err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, &ValidationError{Fields: problems}
	}

	if ns.Filters == nil {
		ns.Filters = map[string]string{}
	}
	if ns.Bindings == nil {
		ns.Bindings = []campaigns.Binding{}
	}
	filters, _ := json.Marshal(ns.Filters)
	bindings, _ := json.Marshal(ns.Bindings)
	next := sp.next(s.cfg.NowFunc())
	rows, err := s.pool.Query(ctx, scheduleInsertSQL, ns.Name, ns.Cron, ns.Zone, ns.Template, ns.Language,
		ns.PhoneNumberID, ns.Lists, filters, bindings, ns.Priority, ns.CatchUp, next)
	if err != nil {
		return nil, fmt.Errorf("create schedule %s: %w", ns.Name, err)
	}
	sch, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Schedule])
	if err != nil {
		if errors.Is(store.InterpretError(err), store.ErrConflict) {
			return nil, &ValidationError{Fields: map[string]string{"name": fmt.Sprintf("a schedule named %q exists", ns.Name)}}
		}
		return nil, fmt.Errorf("create schedule %s: %w", ns.Name, err)
	}
	return sch, nil
}

// checkCampaign adds to problems what campaigns.Service.Create would refuse
// at run time, so that a schedule that can never make a campaign is refused
// now.
func (s *Scheduler) checkCampaign(ctx context.Context, ns NewSchedule, problems map[string]string) error {
	for field, v := range map[string]string{"template": ns.Template, "language": ns.Language, "phone_number_id": ns.PhoneNumberID} {
		if v == "" {
			problems[field] = "required"
		}
	}
	if len(ns.Lists) == 0 {
		problems["lists"] = "at least one list"
	}
	if ns.Template != "" && ns.Language != "" {
		t, err := campaigns.TemplateGet(ctx, s.pool, ns.Template, ns.Language)
		switch {
		case errors.Is(err, store.ErrNotFound):
			problems["template"] = fmt.Sprintf("no template %s in language %s (run herald templates sync)", ns.Template, ns.Language)
		case err != nil:
			return err
		case t.Status != "APPROVED":
			problems["template"] = fmt.Sprintf("template %s/%s is %s, not APPROVED", t.Name, t.Language, t.Status)
		default:
			var ve *campaigns.ValidationError
			if err := campaigns.ValidateBindings(t, ns.Bindings); errors.As(err, &ve) {
				for k, v := range ve.Fields {
					problems[k] = v
				}
			} else if err != nil {
				return err
			}
		}
	}
	var missing []string
	var senderExists bool
	if err := s.pool.QueryRow(ctx, audienceCheckSQL, ns.Lists, ns.PhoneNumberID).Scan(&missing, &senderExists); err != nil {
		return fmt.Errorf("check lists and sender: %w", err)
	}
	if len(missing) > 0 && len(ns.Lists) > 0 {
		slices.Sort(missing)
		quoted := make([]string, len(missing))
		for i, m := range missing {
			quoted[i] = strconv.Quote(m)
		}
		problems["lists"] = "no list " + strings.Join(quoted, ", ")
	}
	if !senderExists && ns.PhoneNumberID != "" {
		problems["phone_number_id"] = fmt.Sprintf("no sender number %s (add it with herald senders add)", ns.PhoneNumberID)
	}
	return nil
}

// Get returns a schedule by id.
func (s *Scheduler) Get(ctx context.Context, id int64) (*Schedule, error) {
	return scheduleGet(ctx, s.pool, scheduleGetByIDSQL, id)
}

// GetByName returns a schedule by name.
func (s *Scheduler) GetByName(ctx context.Context, name string) (*Schedule, error) {
	return scheduleGet(ctx, s.pool, scheduleGetByNameSQL, name)
}

func scheduleGet(ctx context.Context, db store.DBTX, query string, key any) (*Schedule, error) {
	rows, err := db.Query(ctx, query, key)
	if err != nil {
		return nil, fmt.Errorf("get schedule %v: %w", key, err)
	}
	sch, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Schedule])
	if err != nil {
		return nil, fmt.Errorf("get schedule %v: %w", key, store.InterpretError(err))
	}
	return sch, nil
}

// List returns every schedule, by name.
func (s *Scheduler) List(ctx context.Context) ([]*Schedule, error) {
	rows, err := s.pool.Query(ctx, scheduleListSQL)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Schedule])
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	return list, nil
}

// Runs returns a schedule's latest runs, newest first, at most limit.
func (s *Scheduler) Runs(ctx context.Context, id int64, limit int) ([]Run, error) {
	rows, err := s.pool.Query(ctx, scheduleRunListSQL, id, limit)
	if err != nil {
		return nil, fmt.Errorf("list runs of schedule %d: %w", id, err)
	}
	runs, err := pgx.CollectRows(rows, pgx.RowToStructByName[Run])
	if err != nil {
		return nil, fmt.Errorf("list runs of schedule %d: %w", id, err)
	}
	return runs, nil
}

// SetEnabled switches a schedule on or off. A schedule switched back on runs
// next at the first time its spec fires after now: the runs it would have
// made while off are not caught up.
func (s *Scheduler) SetEnabled(ctx context.Context, id int64, enabled bool) (*Schedule, error) {
	cur, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	sp, err := mustParseSpec(cur.Cron, cur.Zone)
	if err != nil {
		return nil, fmt.Errorf("schedule %d: %w", id, err)
	}
	rows, err := s.pool.Query(ctx, scheduleSetEnabledSQL, id, enabled, sp.next(s.cfg.NowFunc()))
	if err != nil {
		return nil, fmt.Errorf("set schedule %d enabled=%t: %w", id, enabled, err)
	}
	sch, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Schedule])
	if err != nil {
		return nil, fmt.Errorf("set schedule %d enabled=%t: %w", id, enabled, store.InterpretError(err))
	}
	return sch, nil
}

// Delete removes a schedule and its run records. The campaigns it made stay.
func (s *Scheduler) Delete(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, scheduleDeleteSQL, id)
	if err != nil {
		return fmt.Errorf("delete schedule %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete schedule %d: %w", id, store.ErrNotFound)
	}
	return nil
}
