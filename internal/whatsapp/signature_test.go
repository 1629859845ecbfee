package whatsapp

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVerifySignature(t *testing.T) {
	t.Parallel()

	const secret Secret = "test-app-secret"
	body := readTestdata(t, "webhook_status_delivered.json")
	good := Sign(body, secret)
	require.True(t, strings.HasPrefix(good, "sha256="))
	require.Len(t, good, len("sha256=")+64)
	require.Equal(t, strings.ToLower(good), good)

	altered := append([]byte(nil), body...)
	altered[len(altered)/2] ^= 0x01

	tests := []struct {
		name   string
		body   []byte
		header string
		secret Secret
		want   error
	}{
		{"Good", body, good, secret, nil},
		{"WrongSecret", body, good, "other-secret", ErrSignatureMismatch},
		{"BodyAlteredByOneByte", altered, good, secret, ErrSignatureMismatch},
		{"Forged", body, "sha256=" + strings.Repeat("ab", 32), secret, ErrSignatureMismatch},
		{"Missing", body, "", secret, ErrSignatureMissing},
		{"NoPrefix", body, good[len("sha256="):], secret, ErrSignatureMalformed},
		{"SHA1", body, "sha1=" + strings.Repeat("ab", 20), secret, ErrSignatureMalformed},
		{"NotHex", body, "sha256=" + strings.Repeat("zz", 32), secret, ErrSignatureMalformed},
		{"Short", body, good[:len(good)-2], secret, ErrSignatureMalformed},
		{"Long", body, good + "00", secret, ErrSignatureMalformed},
		{"EmptySecret", body, good, "", ErrAppSecretMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := VerifySignature(tt.body, tt.header, tt.secret)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
}
