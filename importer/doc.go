// Package importer loads contact lists exported from Excel, Google Sheets,
// CRMs and older systems into herald: contacts, list membership and consent.
//
// # Reading
//
// A file is recognised by its content, not trusted for its name: an XLSX
// workbook is a zip, a legacy .xls is an OLE2 container (refused), anything
// else must be text. Text is read as UTF-8 (with or without a BOM), UTF-16
// with a BOM (Excel's "Unicode text"), or Windows-1252 when its bytes are not
// UTF-8; the delimiter (comma, semicolon, tab or pipe) is the one that splits
// the first lines into the most consistent number of fields. Workbooks are
// streamed row by row with excelize, reading raw cell values so that a phone
// number stored as a number is never seen through a format such as
// 5.5119E+12; columns formatted as dates become ISO dates.
//
// The header is the first row naming a phone column (title rows above it are
// skipped), or the row given in Options.HeaderRow. Columns are recognised by
// name in English, Portuguese and Spanish, ignoring case and accents;
// Options.Mappings overrides that. Every other column becomes an attribute
// of the contact, keyed by its header in lower snake case.
//
// # Rows
//
// Each row is checked on its own: the phone must be a valid number
// (internal/phone, read in Options.DefaultCountry when it has no country
// code), the consent value must be a recognised yes or no (or a date, meaning
// "consented then"). A row that fails is not imported and is reported with
// its line, column and reason; it never makes the whole import fail. The same
// number twice, however written, is imported once and counted as a
// duplicate (the first row wins).
//
// # Loading
//
// An import is one transaction: it lands whole or not at all, its row
// errors with it (import_errors). Rows stream through a pool of goroutines
// (normalising in parallel, handed on in file order) into a temporary table
// with binary COPY, and one statement merges them into contacts and the
// list: new contacts with plain inserts (sorted by number), existing ones
// updated only when the file changes them. A worksheet is merged in chunks
// while the next chunk is read. Memory stays bounded whatever the size of
// the file. Existing contacts keep what the file leaves blank and have
// their attributes merged; consent only goes from not opted in to opted in,
// and an opt-out is never overturned (the summary counts the rows it kept
// opted out). A file may record an opt-out. Consent changes of existing
// contacts are written to consent_events; a new contact carries the import
// ("import:<id>") as its consent source. Imports run one at a time.
package importer
