package whatsapp

import (
	"fmt"
	"log/slog"
)

const redacted = "[redacted]"

// Secret holds a credential (an access token or an app secret). Every way of
// printing or encoding it yields "[redacted]"; only Reveal returns the value,
// so a Secret can sit in a config struct that gets logged without leaking.
type Secret string

// Reveal returns the credential itself. Call it only where the value is put on
// the wire (an Authorization header, an HMAC key).
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer, for %#v.
func (s Secret) GoString() string { return redacted }

// Format implements fmt.Formatter so that no verb (%d, %x, %q...) can reach the
// underlying string.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler, which encoders other than
// encoding/json (and JSON map keys) use.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
