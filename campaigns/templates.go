package campaigns

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/herald-sh/herald/internal/store"
	"github.com/herald-sh/herald/internal/whatsapp"
)

// Template is a registered message template and the parameters a send of it
// needs.
type Template struct {
	ID       int64
	Name     string
	Language string
	Category string
	Status   string
	Info     whatsapp.TemplateInfo
	Params   []whatsapp.ParamSpec
}

func (t Template) slots() []string {
	out := make([]string, 0, len(t.Params))
	for _, s := range t.Params {
		out = append(out, specKey(s))
	}
	return out
}

// TemplateUpsert registers or refreshes a template (from the WABA's
// message_templates listing or a JSON file).
func TemplateUpsert(ctx context.Context, db store.DBTX, info whatsapp.TemplateInfo) (Template, error) {
	comps, err := json.Marshal(info.Components)
	if err != nil {
		return Template{}, fmt.Errorf("encode components of %s: %w", info.Name, err)
	}
	var id int64
	err = db.QueryRow(ctx, templateUpsertSQL, info.ID, info.Name, info.Language,
		strings.ToUpper(info.Category), strings.ToUpper(info.Status), strings.ToUpper(cmpOr(info.ParameterFormat, whatsapp.ParameterFormatPositional)), comps).Scan(&id)
	if err != nil {
		return Template{}, fmt.Errorf("upsert template %s/%s: %w", info.Name, info.Language, err)
	}
	return templateFromInfo(id, info), nil
}

func templateFromInfo(id int64, info whatsapp.TemplateInfo) Template {
	return Template{ID: id, Name: info.Name, Language: info.Language, Category: strings.ToUpper(info.Category),
		Status: strings.ToUpper(info.Status), Info: info, Params: info.Params()}
}

// TemplateGet finds a template by name and language.
func TemplateGet(ctx context.Context, db store.DBTX, name, language string) (Template, error) {
	return templateScan(db.QueryRow(ctx, templateSelectSQL+` WHERE name = $1 AND language = $2`, name, language))
}

// TemplateGetByID finds a template by id.
func TemplateGetByID(ctx context.Context, db store.DBTX, id int64) (Template, error) {
	return templateScan(db.QueryRow(ctx, templateSelectSQL+` WHERE id = $1`, id))
}

// TemplateList returns every registered template.
func TemplateList(ctx context.Context, db store.DBTX) ([]Template, error) {
	rows, err := db.Query(ctx, templateSelectSQL+` ORDER BY name, language`)
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	var out []Template
	for rows.Next() {
		t, err := templateScan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func templateScan(row pgx.Row) (Template, error) {
	var (
		id    int64
		info  whatsapp.TemplateInfo
		comps []byte
	)
	if err := row.Scan(&id, &info.ID, &info.Name, &info.Language, &info.Category, &info.Status, &info.ParameterFormat, &comps); err != nil {
		return Template{}, fmt.Errorf("get template: %w", store.InterpretError(err))
	}
	if err := json.Unmarshal(comps, &info.Components); err != nil {
		return Template{}, fmt.Errorf("decode template %s: %w", info.Name, err)
	}
	return templateFromInfo(id, info), nil
}

// TemplatesFromJSON reads templates in the shape of the Cloud API's
// message_templates listing: either {"data": [...]} or a bare array.
func TemplatesFromJSON(r io.Reader) ([]whatsapp.TemplateInfo, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read templates: %w", err)
	}
	var page struct {
		Data []whatsapp.TemplateInfo `json:"data"`
	}
	if err := json.Unmarshal(b, &page); err == nil && page.Data != nil {
		return page.Data, nil
	}
	var list []whatsapp.TemplateInfo
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("parse templates: want {\"data\": [...]} or an array of templates: %w", err)
	}
	return list, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
