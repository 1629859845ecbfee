package importer

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConsentKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                  "",
		"  Sim. ":           "sim",
		"Opt-in":            "opt in",
		"opted__OUT":        "opted out",
		"-":                 "",
		"a - b":             "a b",
		"opt\tin":           "opt in",
		"NÃO":               "nao",
		"Não aceito":        "nao aceito",
		"dado_de\u00a0baja": "dado de baja",
		"2024-03-15":        "2024 03 15",
		"✓":                 "✓",
	} {
		require.Equal(t, want, consentKey(in), "%q", in)
	}
}
