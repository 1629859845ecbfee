package pricing

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDefault(t *testing.T) {
	t.Parallel()

	c := Default()
	require.Equal(t, "USD", c.Currency)
	require.Equal(t, "2026-10-01", c.EffectiveDate)
	for _, m := range []string{"North America", "Brazil", "India", "Mexico", "Indonesia", "Germany",
		"United Kingdom", "Chile", "Rest of Latin America", "Rest of Africa", "Other"} {
		require.Contains(t, c.Markets(), m)
	}

	tests := []struct {
		category, region string
		want             int64
	}{
		{"marketing", "BR", 62_500},
		{"marketing", "US", 25_000},
		{"utility", "CA", 3_400},
		{"authentication", "IN", 1_400},
		{"service", "MX", 8_500},
		{"marketing", "ID", 41_100},
		{"marketing", "DE", 136_500},
		{"utility", "GB", 22_000},
		{"marketing", "CL", 88_900},
		{"marketing", "AR", 74_000}, // Rest of Latin America
		{"utility", "KE", 4_000},    // Rest of Africa
		{"marketing", "FR", 60_400}, // Other
		{"marketing", "", 60_400},   // no region: Other
		{"MARKETING", " br ", 62_500},
		// No authentication_international figures in the reference: priced as authentication.
		{"authentication-international", "IN", 1_400},
		{"authentication_international", "ID", 25_000},
	}
	for _, tt := range tests {
		t.Run(tt.category+"/"+tt.region, func(t *testing.T) {
			t.Parallel()
			got, ok := c.PriceOK(tt.category, tt.region)
			require.True(t, ok)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.want, c.Price(tt.category, tt.region))
		})
	}

	t.Run("UnknownCategory", func(t *testing.T) {
		t.Parallel()
		got, ok := c.PriceOK("referral_conversion", "BR")
		require.False(t, ok)
		require.Zero(t, got)
		require.Zero(t, c.Price("", "BR"))
	})
}

func TestMarket(t *testing.T) {
	t.Parallel()

	c := Default()
	tests := map[string]string{
		"US": "North America", "ca": "North America", "BR": "Brazil", "IN": "India", "MX": "Mexico",
		"ID": "Indonesia", "DE": "Germany", "GB": "United Kingdom", "CL": "Chile",
		"CO": "Rest of Latin America", "PE": "Rest of Latin America", "UY": "Rest of Latin America",
		"NG": "Rest of Africa", "ZA": "Rest of Africa", "EG": "Rest of Africa",
		"FR": "Other", "JP": "Other", "": "Other", "XX": "Other",
	}
	for region, want := range tests {
		require.Equal(t, want, c.Market(region), region)
	}
}

const okMarkets = "region,market\nBR,Brazil\n"

func TestLoad(t *testing.T) {
	t.Parallel()

	t.Run("ColumnsInAnyOrderWithoutAuthInternational", func(t *testing.T) {
		t.Parallel()
		rates := "\ufeff# currency: BRL\nmarket,service,marketing,Authentication,utility\n" +
			"Brazil,0.04,0.35,0.04,0.04\nOther,1,2.5,1,1\n"
		c, err := Load(strings.NewReader(rates), strings.NewReader(okMarkets))
		require.NoError(t, err)
		require.Equal(t, "BRL", c.Currency)
		require.Empty(t, c.EffectiveDate)
		require.Equal(t, int64(350_000), c.Price(Marketing, "BR"))
		require.Equal(t, int64(40_000), c.Price(AuthenticationInternational, "BR"))
		require.Equal(t, int64(2_500_000), c.Price(Marketing, "JP"))
	})

	t.Run("AuthenticationInternationalColumn", func(t *testing.T) {
		t.Parallel()
		rates := "# currency: USD\nmarket,marketing,utility,authentication,authentication-international,service\n" +
			"India,0.0118,0.0014,0.0014,0.028,0.0014\nOther,0.06,0.007,0.007,,0.007\n"
		c, err := Load(strings.NewReader(rates), strings.NewReader("region,market\nIN,India\n"))
		require.NoError(t, err)
		require.Equal(t, int64(28_000), c.Price("authentication-international", "IN"))
		require.Equal(t, int64(7_000), c.Price("authentication_international", "FR"))
		rate, ok := c.Rate(Marketing, "India")
		require.True(t, ok)
		require.Equal(t, int64(11_800), rate)
		_, ok = c.Rate(Marketing, "Atlantis")
		require.False(t, ok)
	})

	const header = "market,marketing,utility,authentication,service\n"
	tests := []struct {
		name, rates, markets string
		want                 ParseError
	}{
		{"NoCurrency", header + "Other,1,1,1,1\n", okMarkets,
			ParseError{File: "rates", Line: 1, Reason: `no "# currency: XXX" line before the header`}},
		{"BadCurrency", "# currency: dollars\n" + header, okMarkets,
			ParseError{File: "rates", Line: 1, Reason: `currency "dollars" is not an ISO 4217 code such as USD`}},
		{"BadDate", "# currency: USD\n# effective_date: 1/10/2026\n" + header, okMarkets,
			ParseError{File: "rates", Line: 2, Reason: `effective_date "1/10/2026" is not a date YYYY-MM-DD`}},
		{"Empty", "# currency: USD\n", okMarkets,
			ParseError{File: "rates", Reason: "no header row"}},
		{"UnknownColumn", "# currency: USD\nmarket,marketing,utility,authentication,service,sms\n", okMarkets,
			ParseError{File: "rates", Line: 2, Column: "sms", Reason: "unknown column; want market, marketing, utility, authentication, authentication_international, service"}},
		{"MissingColumn", "# currency: USD\nmarket,marketing,authentication,service\n", okMarkets,
			ParseError{File: "rates", Line: 2, Column: "utility", Reason: "missing column"}},
		{"DuplicateColumn", "# currency: USD\nmarket,marketing,utility,authentication,service,Marketing\n", okMarkets,
			ParseError{File: "rates", Line: 2, Column: "marketing", Reason: "column appears twice"}},
		{"NoMarketColumn", "# currency: USD\nmarketing,utility,authentication,service\n", okMarkets,
			ParseError{File: "rates", Line: 2, Reason: "no market column"}},
		{"BadPrice", "# currency: USD\n# a comment\n" + header + "Other,1,1,1,1\nBrazil,0.0625,abc,1,1\n", okMarkets,
			ParseError{File: "rates", Line: 5, Column: "utility", Reason: `"abc" is not a decimal amount`}},
		{"TooPrecise", "# currency: USD\n" + header + "Other,0.0000001,1,1,1\n", okMarkets,
			ParseError{File: "rates", Line: 3, Column: "marketing", Reason: `"0.0000001" has more than six decimals`}},
		{"Negative", "# currency: USD\n" + header + "Other,-1,1,1,1\n", okMarkets,
			ParseError{File: "rates", Line: 3, Column: "marketing", Reason: `negative price "-1"`}},
		{"EmptyPrice", "# currency: USD\n" + header + "Other,1,,1,1\n", okMarkets,
			ParseError{File: "rates", Line: 3, Column: "utility", Reason: "empty amount"}},
		{"WrongFieldCount", "# currency: USD\n" + header + "Other,1,1,1\n", okMarkets,
			ParseError{File: "rates", Line: 3, Reason: "wrong number of fields"}},
		{"DuplicateMarket", "# currency: USD\n" + header + "Other,1,1,1,1\nOther,1,1,1,1\n", okMarkets,
			ParseError{File: "rates", Line: 4, Column: "market", Reason: `market "Other" appears twice`}},
		{"NoOther", "# currency: USD\n" + header + "Brazil,1,1,1,1\n", okMarkets,
			ParseError{File: "rates", Reason: `no "Other" market, which prices every region the market table does not list`}},
		{"UnpricedMarket", "# currency: USD\n" + header + "Other,1,1,1,1\n", "region,market\n# ok\nBR,Brazil\n",
			ParseError{File: "markets", Line: 3, Column: "market", Reason: `market "Brazil" is not in the rate card`}},
		{"BadRegion", "# currency: USD\n" + header + "Other,1,1,1,1\n", "region,market\nBRA,Other\n",
			ParseError{File: "markets", Line: 2, Column: "region", Reason: `"BRA" is not an ISO 3166-1 alpha-2 region such as BR`}},
		{"DuplicateRegion", "# currency: USD\n" + header + "Other,1,1,1,1\n", "region,market\nBR,Other\nbr,Other\n",
			ParseError{File: "markets", Line: 3, Column: "region", Reason: "region BR appears twice"}},
		{"MarketsHeader", "# currency: USD\n" + header + "Other,1,1,1,1\n", "country,market\n",
			ParseError{File: "markets", Line: 1, Column: "country", Reason: "unknown column; want region, market"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(strings.NewReader(tt.rates), strings.NewReader(tt.markets))
			var pe *ParseError
			require.True(t, errors.As(err, &pe), "got %v", err)
			require.Equal(t, tt.want, *pe)
		})
	}
}

func TestParseErrorMessage(t *testing.T) {
	t.Parallel()
	err := &ParseError{File: "rates", Line: 5, Column: "utility", Reason: `"abc" is not a decimal amount`}
	require.Equal(t, `rates line 5 column utility: "abc" is not a decimal amount`, err.Error())
	require.Equal(t, "rates: no markets", (&ParseError{File: "rates", Reason: "no markets"}).Error())
}
