// Package campaigns turns a template and a list into messages and keeps
// track of every one of them.
//
// A campaign binds a registered template's parameters to contact fields.
// Starting it expands the audience on the server into one sends row per
// recipient (unique per campaign and contact, parameter values frozen) and
// records every excluded recipient with its reason, in the same transaction
// that enqueues the River jobs that dispatch the sends.
//
// Dispatch follows one rule for exactly-once delivery: a send is marked
// in_flight (committed) before its HTTP request and committed with its wamid
// after. A send whose request may have reached the Cloud API without a
// definite answer is never sent again blindly: the status webhook, which
// echoes the send id in biz_opaque_callback_data, reconciles it, or it ends
// as unknown after a deadline.
//
// Status webhooks are applied in batches, set-based and monotonically (see
// herald_status_rank in the schema), with the campaign's rollup counters
// updated in the same transaction, so a report never scans the sends.
package campaigns
