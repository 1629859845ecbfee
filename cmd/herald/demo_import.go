package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nyaruka/phonenumbers"
)

type demoImportSummary struct {
	Rows, Imported, Invalid, OptedIn int
}

// importDemoList loads the bundled sample list.
func (a *app) importDemoList(ctx context.Context, pool *pgxpool.Pool) (demoImportSummary, error) {
	var sum demoImportSummary
	recs, err := csv.NewReader(bytes.NewReader(demoContacts)).ReadAll()
	if err != nil {
		return sum, err
	}
	var phones, names, consents, countries []string
	var attrs [][]byte
	for _, r := range recs[1:] {
		sum.Rows++
		n, err := phonenumbers.Parse(r[0], "BR")
		if err != nil || !phonenumbers.IsValidNumber(n) {
			sum.Invalid++
			continue
		}
		consent := "not_opted_in"
		switch strings.ToLower(r[2]) {
		case "yes", "sim", "sí", "y", "1", "x":
			consent = "opted_in"
			sum.OptedIn++
		}
		a, _ := json.Marshal(map[string]string{"city": r[3], "plan": r[4]})
		phones = append(phones, phonenumbers.Format(n, phonenumbers.E164))
		names, consents, attrs = append(names, r[1]), append(consents, consent), append(attrs, a)
		countries = append(countries, phonenumbers.GetRegionCodeForNumber(n))
	}
	_, err = pool.Exec(ctx, `
WITH l AS (INSERT INTO lists (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id),
c AS (
  INSERT INTO contacts (phone, name, consent, attributes, country)
  SELECT DISTINCT ON (u.phone) * FROM unnest($2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[]) AS u(phone, name, consent, attributes, country)
  ON CONFLICT (phone) DO UPDATE SET name = EXCLUDED.name,
    consent = CASE WHEN contacts.consent = 'opted_out' THEN contacts.consent ELSE EXCLUDED.consent END
  RETURNING id)
INSERT INTO list_members (list_id, contact_id) SELECT l.id, c.id FROM l, c ON CONFLICT DO NOTHING`,
		demoList, phones, names, consents, attrs, countries)
	if err != nil {
		return sum, fmt.Errorf("load sample list: %w", err)
	}
	sum.Imported = len(phones)
	return sum, nil
}
