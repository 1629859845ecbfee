// Package httpapi is herald's HTTP surface: the WhatsApp webhook receiver,
// health and readiness probes, Prometheus metrics, and the skeleton of the
// REST API under /api/v1 (bearer tokens, JSON errors from one table).
//
// # Webhook receiver
//
// GET /webhooks/whatsapp answers Meta's verification challenge. POST
// /webhooks/whatsapp accepts a notification only after it has checked, in
// this order, the body size, the X-Hub-Signature-256 HMAC over the raw bytes
// and that the body is JSON at all; then it stores the raw body in
// webhook_events and answers 200 only once that row is committed. Nothing is
// parsed beyond json.Valid on the request path: unknown fields and event kinds
// are kept as received, and the campaigns package applies them later.
//
// Durability on every request would cost one WAL flush per webhook. The
// receiver uses group commit instead: handlers hand their bodies to one
// writer goroutine, which inserts up to CommitMaxBatch of them in a single
// statement (one implicit transaction, one flush) and then wakes every
// waiting handler with the outcome. A batch that fails to commit answers 503
// to each of its requests, and Meta retries them (reference §3.5).
package httpapi
