// Package whatsapp is herald's client for the WhatsApp Business Platform
// Cloud API, and the vocabulary the rest of herald speaks about it.
//
// It holds four things, all built on the standard library only:
//
//   - Client, which sends template messages (SendTemplate) and lists a WABA's
//     templates (ListTemplates), with the request and response types;
//   - the error taxonomy: *Error for Cloud API error answers,
//     ErrOutcomeUnknown for sends whose fate cannot be known from the
//     answer, and ONE table from error code to Action (ActionFor,
//     ActionForError) that the dispatcher obeys;
//   - webhook payloads (ParseNotification and its types) and the
//     X-Hub-Signature-256 check (VerifySignature, Sign);
//   - Secret, a string type that never prints its value.
//
// The facts encoded here (payload shapes, codes, limits) come from herald's
// Cloud API reference notes (whatsapp-cloud-api.md); comments cite their
// sections as "reference §n".
//
// # Exactly once
//
// A send that fails before the request was written is safe to repeat. A send
// whose request was written but that got no definite answer (timeout, reset
// connection) may or may not have gone out: SendTemplate wraps
// ErrOutcomeUnknown and ActionForError answers ActionReconcile. The caller
// then waits for the status webhook, which carries the send's
// biz_opaque_callback_data, instead of sending again.
package whatsapp
