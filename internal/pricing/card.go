package pricing

import (
	"bytes"
	_ "embed"
	"fmt"
	"sort"
	"strings"
)

// Categories of template messages, as Meta names them in rate cards and in
// the pricing object of status webhooks (with '_' for '-').
const (
	Marketing                   = "marketing"
	Utility                     = "utility"
	Authentication              = "authentication"
	AuthenticationInternational = "authentication_international"
	Service                     = "service"
)

// OtherMarket is the market of every region the market table does not list.
const OtherMarket = "Other"

// categories is the column order of a market's prices.
var categories = [...]string{Marketing, Utility, Authentication, AuthenticationInternational, Service}

// notSet marks a price a card does not give (only authentication_international
// may be missing; it falls back to authentication).
const notSet = -1

//go:embed ratecard_usd_2026-10-01.csv
var defaultRates []byte

//go:embed markets_2026-10-01.csv
var defaultMarkets []byte

// Card is a rate card: the price of one delivered message per category and
// market, in micro-units of Currency. A Card is not changed after Load, so
// one may be shared by goroutines.
type Card struct {
	// Currency is the ISO 4217 code of every price ("USD").
	Currency string
	// EffectiveDate is the first day the rates apply (YYYY-MM-DD), or "" if
	// the file does not say.
	EffectiveDate string

	prices  map[string][len(categories)]int64 // market → price per category
	markets map[string]string                 // region → market
}

// Default returns the embedded card: illustrative USD rates effective
// 2026-10-01 (reference §6.5). It parses the embedded files on each call
// (a few microseconds); callers keep the result. It panics only if the
// embedded files are broken, which the package's tests rule out.
func Default() *Card {
	c, err := Load(bytes.NewReader(defaultRates), bytes.NewReader(defaultMarkets))
	if err != nil {
		panic(fmt.Sprintf("pricing: embedded rate card: %v", err))
	}
	return c
}

// NormalizeCategory returns the canonical name of a category ("Marketing" →
// "marketing", "authentication-international" → "authentication_international")
// and whether it is one the card prices.
func NormalizeCategory(category string) (string, bool) {
	c := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(category)), "-", "_")
	return c, categoryIndex(c) >= 0
}

func categoryIndex(canonical string) int {
	for i, c := range categories {
		if c == canonical {
			return i
		}
	}
	return -1
}

// Market returns the market of an ISO 3166-1 alpha-2 region ("BR" →
// "Brazil"); case and surrounding space are ignored. An unlisted or empty
// region is OtherMarket.
func (c *Card) Market(region string) string {
	if m, ok := c.markets[strings.ToUpper(strings.TrimSpace(region))]; ok {
		return m
	}
	return OtherMarket
}

// Markets returns the names of the markets the card prices, sorted.
func (c *Card) Markets() []string {
	out := make([]string, 0, len(c.prices))
	for m := range c.prices {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// Price returns the price of one delivered message of category to a
// recipient in region, in micro-units of Currency; 0 for a category the card
// does not know (see PriceOK).
func (c *Card) Price(category, region string) int64 {
	p, _ := c.PriceOK(category, region)
	return p
}

// PriceOK is Price that also says whether the category is known. Unknown
// categories (a new one from Meta, "referral_conversion" of free entry
// points) get 0 and false, so that the caller decides rather than guesses.
func (c *Card) PriceOK(category, region string) (int64, bool) {
	return c.Rate(category, c.Market(region))
}

// Rate returns the price of one message of category in a market (a name
// from Markets), and false if the category or the market is unknown.
func (c *Card) Rate(category, market string) (int64, bool) {
	cat, ok := NormalizeCategory(category)
	if !ok {
		return 0, false
	}
	prices, ok := c.prices[market]
	if !ok {
		return 0, false
	}
	i := categoryIndex(cat)
	if prices[i] == notSet { // only authentication_international may be unset
		i = categoryIndex(Authentication)
	}
	return prices[i], true
}
