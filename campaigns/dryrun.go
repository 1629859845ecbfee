package campaigns

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/herald-sh/herald/internal/pricing"
	"github.com/herald-sh/herald/internal/whatsapp"
)

// DryRun is what a campaign would do, computed without sending or storing
// anything.
type DryRun struct {
	CampaignID        int64            `json:"campaign_id"`
	Audience          int64            `json:"audience"`
	Sends             int64            `json:"sends"`
	Skipped           map[string]int64 `json:"skipped"`
	Previews          []Preview        `json:"previews"`
	EstimatedCost     int64            `json:"estimated_cost_micros"`
	Currency          string           `json:"currency"`
	EstimatedDuration time.Duration    `json:"estimated_duration_ns"`
	Duration          string           `json:"estimated_duration"`
	// MessagingLimit is the sender portfolio's limit of unique recipients
	// per 24 hours (0: unlimited); Used24h how many it reached in the last
	// 24 hours; WithinLimit whether this campaign fits in what is left.
	MessagingLimit int   `json:"messaging_limit"`
	Used24h        int64 `json:"used_24h"`
	WithinLimit    bool  `json:"within_messaging_limit"`
}

// Preview is the exact message one recipient would receive.
type Preview struct {
	Phone      string               `json:"phone"`
	Text       string               `json:"text"`
	Components []whatsapp.Component `json:"components"`
	Error      string               `json:"error,omitempty"`
}

// DryRun resolves the audience of a draft campaign and prices it with card.
func (s *Service) DryRun(ctx context.Context, id int64, card *pricing.Card) (*DryRun, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	t, err := TemplateGetByID(ctx, s.pool, c.TemplateID)
	if err != nil {
		return nil, err
	}
	audience, args := audienceQuery(c)
	rows, err := s.pool.Query(ctx, `SELECT id, phone, country, consent, params FROM (`+audience+`) a ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("dry run campaign %d: %w", id, err)
	}
	defer rows.Close()
	dr := &DryRun{CampaignID: id, Skipped: map[string]int64{}, Currency: card.Currency}
	for rows.Next() {
		var (
			cid                     int64
			phone, country, consent string
			params                  []*string
		)
		if err := rows.Scan(&cid, &phone, &country, &consent, &params); err != nil {
			return nil, err
		}
		dr.Audience++
		switch {
		case consent == "opted_out":
			dr.Skipped["opted_out"]++
			continue
		case consent != "opted_in":
			dr.Skipped["not_opted_in"]++
			continue
		}
		values := make([]string, len(params))
		missing := false
		for i, p := range params {
			if p == nil {
				missing = true
				break
			}
			values[i] = *p
		}
		if missing {
			dr.Skipped["missing_parameter"]++
			continue
		}
		dr.Sends++
		dr.EstimatedCost += card.Price(strings.ToLower(t.Category), country)
		if len(dr.Previews) < 5 {
			p := Preview{Phone: phone}
			comps, err := BuildComponents(t, c.Bindings, values, 0)
			if err != nil {
				p.Error = err.Error()
			} else {
				p.Components, p.Text = comps, RenderText(t, comps)
			}
			dr.Previews = append(dr.Previews, p)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if c.SenderRate > 0 {
		dr.EstimatedDuration = time.Duration(float64(dr.Sends) / float64(c.SenderRate) * float64(time.Second))
	}
	dr.Duration = dr.EstimatedDuration.Round(time.Second).String()
	if err := s.pool.QueryRow(ctx, messagingLimitSQL, c.SenderID).Scan(&dr.MessagingLimit, &dr.Used24h); err != nil {
		return nil, fmt.Errorf("read messaging limit: %w", err)
	}
	dr.WithinLimit = dr.MessagingLimit == 0 || dr.Used24h+dr.Sends <= int64(dr.MessagingLimit)
	return dr, nil
}

// componentText is one component's text (header, body or footer) with the
// send's values in place.
func componentText(t Template, comps []whatsapp.Component, typ string) string {
	values := componentValues(comps)
	for _, c := range t.Info.Components {
		if strings.ToLower(c.Type) != typ {
			continue
		}
		text := c.Text
		for k, v := range values[typ] {
			text = strings.ReplaceAll(text, "{{"+k+"}}", v)
		}
		return text
	}
	return ""
}

func componentValues(comps []whatsapp.Component) map[string]map[string]string {
	values := map[string]map[string]string{}
	for _, c := range comps {
		m := map[string]string{}
		for i, p := range c.Parameters {
			v := p.Text
			switch {
			case p.Currency != nil:
				v = p.Currency.FallbackValue
			case p.DateTime != nil:
				v = p.DateTime.FallbackValue
			}
			key := p.ParameterName
			if key == "" {
				key = strconv.Itoa(i + 1)
			}
			m[key] = v
		}
		values[c.Type] = m
	}
	return values
}

// RenderText is the text a recipient sees: the template's header, body and
// footer with the send's values in place, and its buttons.
func RenderText(t Template, comps []whatsapp.Component) string {
	var parts []string
	for _, c := range t.Info.Components {
		typ := strings.ToLower(c.Type)
		switch typ {
		case "header", "body", "footer":
			if text := componentText(t, comps, typ); text != "" {
				parts = append(parts, text)
			}
		case "buttons":
			var labels []string
			for _, b := range c.Buttons {
				labels = append(labels, "["+b.Text+"]")
			}
			parts = append(parts, strings.Join(labels, " "))
		}
	}
	return strings.Join(parts, "\n")
}
