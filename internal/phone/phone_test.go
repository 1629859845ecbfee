package phone

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNormalize(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name, raw, region string
		want              Number
		wantErr           string
	}{
		{"BR international", "+55 11 98765-4321", "US", Number{"+5511987654321", "BR"}, ""},
		{"BR national", "(11) 98765-4321", "BR", Number{"+5511987654321", "BR"}, ""},
		{"BR with country code, no plus", "5511987654321", "BR", Number{"+5511987654321", "BR"}, ""},
		{"BR trunk prefix", "011 98765-4321", "BR", Number{"+5511987654321", "BR"}, ""},
		{"BR carrier code", "0 21 11 98765-4321", "BR", Number{"+5511987654321", "BR"}, ""},
		{"BR IDD", "00 21 55 11 98765 4321", "BR", Number{"+5511987654321", "BR"}, ""},
		{"BR landline", "(11) 3456-7890", "BR", Number{"+551134567890", "BR"}, ""},
		{"US", "(415) 555-2671", "US", Number{"+14155552671", "US"}, ""},
		{"US dots", "415.555.2671", "US", Number{"+14155552671", "US"}, ""},
		{"US with 1", "1-415-555-2671", "US", Number{"+14155552671", "US"}, ""},
		{"CA from US default", "+1 604 555 0199", "US", Number{"+16045550199", "CA"}, ""},
		{"GB national", "07400 123456", "GB", Number{"+447400123456", "GB"}, ""},
		{"GB IDD from US", "011 44 7400 123456", "US", Number{"+447400123456", "GB"}, ""},
		{"MX", "+52 55 1234 5678", "MX", Number{"+525512345678", "MX"}, ""},
		{"AR mobile with 15", "011 15-2345-6789", "AR", Number{"+5491123456789", "AR"}, ""},
		{"ES", "612 34 56 78", "ES", Number{"+34612345678", "ES"}, ""},
		{"PT", "+351 912 345 678", "BR", Number{"+351912345678", "PT"}, ""},
		{"full-width digits", "＋５５ １１ ９８７６５ ４３２１", "BR", Number{"+5511987654321", "BR"}, ""},
		{"non-geographic", "+800 1234 5678", "BR", Number{"+80012345678", "001"}, ""},
		{"letters", "+1 800 FLOWERS", "US", Number{"+18003569377", "US"}, ""},

		{"empty", "", "BR", Number{}, "empty"},
		{"blank", "   ", "BR", Number{}, "empty"},
		{"words", "call me", "BR", Number{}, "not a number"},
		{"too short", "123", "BR", Number{}, "too short"},
		{"too long", "+55 11 98765 4321 1234 5678", "BR", Number{}, "too long"},
		{"invalid for region", "(11) 0000-0000", "BR", Number{}, "invalid for region BR"},
		{"invalid mobile prefix", "+55 11 18765-4321", "US", Number{}, "invalid for region BR"},
		{"invalid country code", "+999 1234 5678", "BR", Number{}, "invalid country code"},
		{"extension", "+1 415 555 2671 ext. 12", "US", Number{}, "has an extension"},
		{"no region", "98765-4321", "", Number{}, "no country code and no valid default region"},
		{"unknown region", "98765-4321", "XX", Number{}, "no country code and no valid default region"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Normalize(tt.raw, tt.region)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				var perr *Error
				require.True(t, errors.As(err, &perr))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestRegion(t *testing.T) {
	t.Parallel()

	require.Equal(t, "BR", Region("+5511987654321"))
	require.Equal(t, "CA", Region("+16045550199"))
	require.Equal(t, "GG", Region("+447781123456"))
	require.Equal(t, "", Region("+5511"))
	require.Equal(t, "", Region("5511987654321"), "E.164 carries its plus")
}

func TestTimeZones(t *testing.T) {
	t.Parallel()

	require.Equal(t, []string{"America/Sao_Paulo"}, TimeZones("+5511987654321"))
	require.Equal(t, []string{"America/Los_Angeles"}, TimeZones("+14155552671"))
	require.Nil(t, TimeZones("+5511"))
}
