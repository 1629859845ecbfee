package httpapi

import (
	"errors"
	"net/http"

	"github.com/herald-sh/herald/campaigns"
	"github.com/herald-sh/herald/importer"
	"github.com/herald-sh/herald/scheduler"
)

// conflictError is a request the resource's state refuses, with the field
// whose value is in the way: a campaign's status for a lifecycle command
// that does not apply to it.
type conflictError struct {
	Field   string
	Problem string
}

func (e *conflictError) Error() string { return "conflict: " + e.Field + ": " + e.Problem }

// fail answers err. Domain errors the status table cannot know (the feature
// packages' own validation errors, campaigns.ErrInvalidTransition) are
// translated here first; everything else goes to writeError as it is, so
// that the table stays the one place that decides a status and an unknown
// error is still a logged 500.
//
// A conflict is answered here because the table's 409 row has a fixed
// message, and "campaign 7 is completed: cannot pause it" is what a client
// needs to know.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, campaigns.ErrInvalidTransition) {
		if _, ok := errors.AsType[*conflictError](err); !ok {
			err = &conflictError{Field: "status", Problem: err.Error()}
		}
	}
	if ce, ok := errors.AsType[*conflictError](err); ok {
		writeJSON(w, http.StatusConflict, errorBody{Error: "conflict", Fields: map[string]string{ce.Field: ce.Problem}})
		return
	}
	a.s.writeError(w, r, translate(err))
}

// translate turns the feature packages' validation errors into a
// *ValidationError, which writeError answers with 422 and the fields.
func translate(err error) error {
	if ve, ok := errors.AsType[*campaigns.ValidationError](err); ok {
		return &ValidationError{Fields: ve.Fields}
	}
	if ve, ok := errors.AsType[*scheduler.ValidationError](err); ok {
		return &ValidationError{Fields: ve.Fields}
	}
	// The importer joins one *importer.ValidationError per bad option.
	fields := map[string]string{}
	walkErrors(err, func(e error) {
		switch e := e.(type) {
		case *importer.ValidationError:
			fields[importField(e.Field)] = e.Problem
		case *importer.FileError:
			problem := e.Problem
			if e.Err != nil {
				problem += ": " + e.Err.Error()
			}
			fields["file"] = problem
		}
	})
	if len(fields) > 0 {
		return &ValidationError{Fields: fields}
	}
	return err
}

// importField names an importer option as the upload form does.
func importField(option string) string {
	if option == "mappings" {
		return "map"
	}
	return option
}

// walkErrors calls fn with err and every error it wraps, through joins.
func walkErrors(err error, fn func(error)) {
	if err == nil {
		return
	}
	fn(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walkErrors(u.Unwrap(), fn)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walkErrors(e, fn)
		}
	}
}
