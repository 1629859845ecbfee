package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/herald-sh/herald/campaigns"
	"github.com/herald-sh/herald/internal/whatsapp"
)

// templateJSON is a registered template as the API shows it.
type templateJSON struct {
	ID              int64                        `json:"id"`
	MetaID          string                       `json:"meta_id,omitempty"`
	Name            string                       `json:"name"`
	Language        string                       `json:"language"`
	Category        string                       `json:"category"`
	Status          string                       `json:"status"`
	ParameterFormat string                       `json:"parameter_format"`
	Components      []whatsapp.TemplateComponent `json:"components"`
	// Params are the values a send needs, which a campaign binds.
	Params []templateParam `json:"params"`
}

// templateParam is a whatsapp.ParamSpec in snake_case.
type templateParam struct {
	Component string `json:"component"`
	SubType   string `json:"sub_type,omitempty"`
	Index     int    `json:"index"`
	Name      string `json:"name,omitempty"`
	Position  int    `json:"position,omitempty"`
	Type      string `json:"type"`
	Optional  bool   `json:"optional,omitempty"`
}

func newTemplateJSON(t campaigns.Template) templateJSON {
	out := templateJSON{
		ID: t.ID, MetaID: t.Info.ID, Name: t.Name, Language: t.Language, Category: t.Category, Status: t.Status,
		ParameterFormat: t.Info.ParameterFormat, Components: t.Info.Components, Params: make([]templateParam, len(t.Params)),
	}
	if out.Components == nil {
		out.Components = []whatsapp.TemplateComponent{}
	}
	for i, p := range t.Params {
		out.Params[i] = templateParam{Component: p.Component, SubType: p.SubType, Index: p.Index, Name: p.Name,
			Position: p.Position, Type: p.Type, Optional: p.Optional}
	}
	return out
}

// handleTemplateList answers every registered template.
func (a *api) handleTemplateList(w http.ResponseWriter, r *http.Request) error {
	list, err := campaigns.TemplateList(r.Context(), a.deps.Pool)
	if err != nil {
		return err
	}
	out := make([]templateJSON, len(list))
	for i, t := range list {
		out[i] = newTemplateJSON(t)
	}
	return respond(w, map[string]any{"templates": out})
}

// handleCampaignCreate stores a draft campaign.
func (a *api) handleCampaignCreate(w http.ResponseWriter, r *http.Request) error {
	var nc campaigns.NewCampaign
	if err := a.decodeJSON(w, r, &nc, "start_at"); err != nil {
		return err
	}
	c, err := a.deps.Campaigns.Create(r.Context(), nc)
	if err != nil {
		return err
	}
	return created(w, fmt.Sprintf("/api/v1/campaigns/%d", c.ID), c)
}

// handleCampaignGet answers a campaign.
func (a *api) handleCampaignGet(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := a.deps.Campaigns.Get(r.Context(), id)
	if err != nil {
		return err
	}
	return respond(w, c)
}

// handleCampaignDryRun answers what starting the campaign would do, priced
// with the card, without sending or storing anything.
func (a *api) handleCampaignDryRun(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	dr, err := a.deps.Campaigns.DryRun(r.Context(), id, a.deps.Card)
	if err != nil {
		return err
	}
	return respond(w, dr)
}

// startResult is the answer to a start: the campaign as it now is and what
// the expansion made (all zero when the campaign was only scheduled).
type startResult struct {
	Campaign  *campaigns.Campaign  `json:"campaign"`
	Expansion *campaigns.Expansion `json:"expansion"`
}

// handleCampaignStart expands a draft campaign and sets it running, or
// schedules it when its start_at is in the future.
func (a *api) handleCampaignStart(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	exp, err := a.deps.Campaigns.Start(r.Context(), id)
	if err != nil {
		return err
	}
	if exp.Skipped == nil {
		exp.Skipped = map[string]int64{}
	}
	c, err := a.deps.Campaigns.Get(r.Context(), id)
	if err != nil {
		return err
	}
	return respond(w, startResult{Campaign: c, Expansion: exp})
}

// pauseRequest is the optional body of a pause.
type pauseRequest struct {
	// Reason is recorded as the campaign's status_reason.
	Reason string `json:"reason"`
}

// handleCampaignPause pauses a running or scheduled campaign. The body is
// optional.
func (a *api) handleCampaignPause(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req pauseRequest
	if err := a.decodeJSON(w, r, &req, ""); err != nil && !errors.Is(err, errEmptyBody) {
		return err
	}
	return a.transition(w, r, id, func() error { return a.deps.Campaigns.Pause(r.Context(), id, req.Reason) })
}

// handleCampaignResume sets a paused campaign running again.
func (a *api) handleCampaignResume(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	return a.transition(w, r, id, func() error { return a.deps.Campaigns.Resume(r.Context(), id) })
}

// handleCampaignCancel ends a campaign; its queued sends are cancelled.
func (a *api) handleCampaignCancel(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	return a.transition(w, r, id, func() error { return a.deps.Campaigns.Cancel(r.Context(), id) })
}

// transition runs a lifecycle command and answers the campaign as it is
// after it.
func (a *api) transition(w http.ResponseWriter, r *http.Request, id int64, do func() error) error {
	if err := do(); err != nil {
		return err
	}
	c, err := a.deps.Campaigns.Get(r.Context(), id)
	if err != nil {
		return err
	}
	return respond(w, c)
}
