// Package wasim simulates the WhatsApp Business Platform Cloud API closely
// enough for herald's demo, tests and benchmarks, and for users who want to
// rehearse a campaign before paying for it.
//
// A Server is an http.Handler answering the two endpoints herald calls:
//
//	POST /{version}/{phone_number_id}/messages          send a template
//	GET  /{version}/{waba_id}/message_templates         list templates (paged)
//
// Point whatsapp.Config.BaseURL at it (httptest.NewServer(sim).URL) and the
// real client talks to it unchanged.
//
// # What it checks
//
// Sends are validated as Meta does: a bearer token (any non-empty one, or
// exactly Config.Token), messaging_product, a parseable `to`, type template,
// a registered template in that language (132001 with HTTP 404 otherwise;
// 132015/132016 when paused/disabled), parameter counts per component
// (132000), parameter names of named templates (132000), parameter types
// (132012), empty values (100), missing dynamic button values (131008) and
// hydrated text length (132005). Errors use Meta's body shape, so the client
// parses them into *whatsapp.Error.
//
// Templates are described by TemplateDef; the simulator synthesises their
// component texts for the listing endpoint and validates sends against the
// parameters whatsapp.TemplateInfo.Params derives from those texts, so the
// listing and the validation cannot disagree.
//
// # Limits
//
// Each phone_number_id accepts at most Config.Rate sends in any 1-second
// window (default 80, Meta's default throughput); the next gets 130429 with
// HTTP 400. A sliding log makes the cap exact, and Config.NowFunc makes it
// deterministic in tests. A pair-rate bucket per sender and recipient
// (45 burst, one per 6 s) answers 131056.
//
// # Failures
//
// FailureMix injects non-JSON HTTP 500s, timeouts (the request is held until
// the client gives up), accepted timeouts (the message goes out and its
// webhooks arrive, but the client never learns its wamid: the case
// exactly-once delivery must reconcile through biz_opaque_callback_data),
// synchronous error codes, and asynchronous failures delivered as "failed"
// status webhooks. Draws come from a generator seeded by Config.Seed, so a
// given sequence of requests always meets the same fate.
//
// # Webhooks
//
// Each accepted send is followed by signed (X-Hub-Signature-256 with
// Config.AppSecret) status webhooks to Config.WebhookURL: sent and delivered
// with pricing (PMP, regular, the template's category) and
// biz_opaque_callback_data, then read for the Read share; or a single failed
// status with an errors[] entry. Read messages may then produce an inbound
// text reply, a quick-reply tap echoing the payload the send carried (or
// "CLICK"), or a "STOP" text, each with context.id set to the campaign
// message's wamid. recipient_id and from are `to` without the "+".
//
// Events are batched per phone number (Config.WebhookBatch statuses per POST,
// flushed at least every Config.WebhookFlushInterval) and posted by
// Config.WebhookConcurrency goroutines. A message's next event is queued
// only after the POST carrying the previous one was answered 2xx, so one
// message's webhooks always arrive in order sent, delivered, read, reply,
// while different messages interleave freely. Failed POSTs are retried with
// doubling backoff, Config.WebhookMaxAttempts times at most, then dropped
// (with the message's later events).
//
// Start starts the posting goroutines; Drain waits until every queued event
// is out; Close releases held requests, drains for at most
// Config.CloseTimeout and stops. Records, Stats and DuplicateRecipients let
// tests assert what was accepted, refused and posted.
//
// Not simulated: free-form messages (answered 131047), group sends, media
// uploads, template pacing, messaging-limit tiers and per-user marketing
// caps beyond the AsyncCodes share.
package wasim
