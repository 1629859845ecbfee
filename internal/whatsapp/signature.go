package whatsapp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
)

// SignatureHeader is the header Meta signs webhook bodies in.
const SignatureHeader = "X-Hub-Signature-256"

// Signature check errors.
var (
	ErrSignatureMissing   = errors.New("webhook signature missing")
	ErrSignatureMalformed = errors.New("webhook signature malformed")
	ErrSignatureMismatch  = errors.New("webhook signature mismatch")
	ErrAppSecretMissing   = errors.New("app secret missing")
)

const signaturePrefix = "sha256="

// VerifySignature checks header, the X-Hub-Signature-256 value
// "sha256=<hex>", against the HMAC-SHA256 of body keyed with appSecret
// (reference §3.2). body must be the raw bytes as received: Meta signs the
// escaped form on the wire, never a re-serialisation. The comparison is
// constant-time. An empty app secret is refused rather than used as a key.
func VerifySignature(body []byte, header string, appSecret Secret) error {
	if appSecret == "" {
		return ErrAppSecretMissing
	}
	if header == "" {
		return ErrSignatureMissing
	}
	hexSum, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok {
		// Another algorithm ("sha1=" of the legacy X-Hub-Signature) or junk.
		return ErrSignatureMalformed
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil || len(got) != sha256.Size {
		return ErrSignatureMalformed
	}
	if !hmac.Equal(got, mac(body, appSecret)) {
		return ErrSignatureMismatch
	}
	return nil
}

// Sign returns the X-Hub-Signature-256 value for body: "sha256=" and the
// lowercase hex HMAC-SHA256 keyed with appSecret.
func Sign(body []byte, appSecret Secret) string {
	return signaturePrefix + hex.EncodeToString(mac(body, appSecret))
}

func mac(body []byte, key Secret) []byte {
	h := hmac.New(sha256.New, []byte(key.Reveal()))
	h.Write(body)
	return h.Sum(nil)
}
