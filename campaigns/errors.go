package campaigns

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrInvalidTransition is returned when a lifecycle command does not apply to
// the campaign's current status (resuming a completed campaign, say).
var ErrInvalidTransition = errors.New("invalid campaign transition")

// ValidationError lists every problem of an input, field by field.
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
	return "invalid: " + strings.Join(parts, "; ")
}
