package importer

import (
	"fmt"
	"strings"
)

// RowError is a row that was not imported and why. Line is the line of a
// CSV file where the row starts (the header is usually line 1) or the row
// number of a worksheet; Column is the header of the column at fault, empty
// when the row as a whole is.
type RowError struct {
	Line   int    `json:"line"`
	Column string `json:"column"`
	Reason string `json:"reason"`
}

// Error describes the row error as "line 12, column Telefone: too short".
func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d, column %s: %s", e.Line, e.Column, e.Reason)
}

// FileError is a file that cannot be imported at all: not a spreadsheet,
// unreadable, or without a phone column. Nothing is stored.
type FileError struct {
	// File is the file name as given in Options.FileName.
	File string
	// Problem says what is wrong and, where it can, what to do about it.
	Problem string
	// Err is the underlying error, if any.
	Err error
}

// Error returns "<file>: <problem>[: <cause>]".
func (e *FileError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *FileError) Unwrap() error { return e.Err }

// ValidationError is an Options field with a bad value.
type ValidationError struct {
	Field   string
	Problem string
}

// Error returns "<field>: <problem>".
func (e *ValidationError) Error() string { return e.Field + ": " + e.Problem }
