// Package pricing prices WhatsApp template messages with a rate card: a price
// per delivered message for each category (marketing, utility,
// authentication, authentication_international, service) in each market.
//
// Meta charges per delivered template message, by template category and by
// the recipient's market (reference §6.1); failed and undelivered messages
// are free. A market is a country or a group of countries ("Rest of Latin
// America"); a second table maps ISO 3166-1 alpha-2 regions to markets and
// every region it does not list belongs to the market "Other".
//
// Amounts are integer micro-units of the card's currency (0.0625 USD is
// 62500), so sums over a million messages are exact.
//
// The embedded default card (Default) holds the illustrative USD rates
// effective 2026-10-01 from reference §6.5. Rates change each quarter and
// differ by currency: a deployment that reports real money loads Meta's
// current card with Load. Volume tiers (utility and authentication beyond
// 100,000 messages a month in one market) are not modelled.
//
// A rate card file is CSV with a header row
//
//	market,marketing,utility,authentication,authentication_international,service
//
// in any column order (authentication_international may be left out, and
// "authentication-international" is accepted). Prices are decimal numbers
// of the currency with at most six decimals. An empty
// authentication_international cell means the market has no such rate and
// is priced as authentication. Comment lines start with '#'; those before the
// header may carry metadata as "# key: value":
//
//	# currency: USD              (required, ISO 4217)
//	# effective_date: 2026-10-01 (optional, YYYY-MM-DD)
//
// The market file is CSV with the header "region,market"; every market it
// names must be priced by the rate card, and the rate card must price
// "Other".
package pricing
