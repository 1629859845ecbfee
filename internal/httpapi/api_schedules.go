package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/herald-sh/herald/scheduler"
)

// Bounds of a schedule's run history page.
const (
	defaultRunsLimit = 50
	maxRunsLimit     = 1000
)

// scheduleRoutes are mounted only with a Scheduler.
func (a *api) scheduleRoutes() []apiRoute {
	return []apiRoute{
		{method: "GET", path: "/api/v1/schedules", handle: a.handleScheduleList},
		{method: "POST", path: "/api/v1/schedules", handle: a.handleScheduleCreate},
		{method: "GET", path: "/api/v1/schedules/{id}", handle: a.handleScheduleGet},
		{method: "DELETE", path: "/api/v1/schedules/{id}", handle: a.handleScheduleDelete},
		{method: "POST", path: "/api/v1/schedules/{id}/enable", handle: a.handleScheduleEnable},
		{method: "POST", path: "/api/v1/schedules/{id}/disable", handle: a.handleScheduleDisable},
		{method: "GET", path: "/api/v1/schedules/{id}/runs", handle: a.handleScheduleRuns},
	}
}

// handleScheduleList answers every schedule, by name.
func (a *api) handleScheduleList(w http.ResponseWriter, r *http.Request) error {
	list, err := a.deps.Scheduler.List(r.Context())
	if err != nil {
		return err
	}
	if list == nil {
		list = []*scheduler.Schedule{}
	}
	return respond(w, map[string]any{"schedules": list})
}

// handleScheduleCreate stores an enabled schedule.
func (a *api) handleScheduleCreate(w http.ResponseWriter, r *http.Request) error {
	var ns scheduler.NewSchedule
	if err := a.decodeJSON(w, r, &ns, ""); err != nil {
		return err
	}
	sch, err := a.deps.Scheduler.Create(r.Context(), ns)
	if err != nil {
		return err
	}
	return created(w, fmt.Sprintf("/api/v1/schedules/%d", sch.ID), sch)
}

// handleScheduleGet answers a schedule.
func (a *api) handleScheduleGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	sch, err := a.deps.Scheduler.Get(r.Context(), id)
	if err != nil {
		return err
	}
	return respond(w, sch)
}

// handleScheduleDelete removes a schedule; the campaigns it made stay.
func (a *api) handleScheduleDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := a.deps.Scheduler.Delete(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) handleScheduleEnable(w http.ResponseWriter, r *http.Request) error {
	return a.setScheduleEnabled(w, r, true)
}

func (a *api) handleScheduleDisable(w http.ResponseWriter, r *http.Request) error {
	return a.setScheduleEnabled(w, r, false)
}

// setScheduleEnabled switches a schedule on or off and answers it.
func (a *api) setScheduleEnabled(w http.ResponseWriter, r *http.Request, enabled bool) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	sch, err := a.deps.Scheduler.SetEnabled(r.Context(), id, enabled)
	if err != nil {
		return err
	}
	return respond(w, sch)
}

// handleScheduleRuns answers a schedule's latest runs, newest first.
func (a *api) handleScheduleRuns(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit := defaultRunsLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxRunsLimit {
			return &ValidationError{Fields: map[string]string{"limit": fmt.Sprintf("%q: want 1 to %d", v, maxRunsLimit)}}
		}
		limit = n
	}
	// Runs of a missing schedule are an empty list; say 404 instead.
	if _, err := a.deps.Scheduler.Get(r.Context(), id); err != nil {
		return err
	}
	runs, err := a.deps.Scheduler.Runs(r.Context(), id, limit)
	if err != nil {
		return err
	}
	if runs == nil {
		runs = []scheduler.Run{}
	}
	return respond(w, map[string]any{"runs": runs})
}
