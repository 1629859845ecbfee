package scheduler

import (
	"fmt"
	"sort"
	"strings"
)

// ValidationError lists every problem of a schedule, field by field: "cron",
// "zone", "catch_up", "filters.KEY", and the campaign fields ("template",
// "lists", "body.1", …).
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %s", k, e.Fields[k])
	}
	return "invalid schedule: " + strings.Join(parts, "; ")
}
