package campaigns

import (
	"fmt"
	"time"

	"github.com/herald-sh/herald/internal/phone"
)

// Window limits sending to a time of day in each recipient's own time zone,
// inferred from the number's country and area (Brazil spans four zones; a
// number whose zone cannot be told uses the first of its country). A send
// whose recipient is outside the window waits until it opens there.
type Window struct {
	Start string `json:"start"` // "09:00"
	End   string `json:"end"`   // "20:00"; before Start means the window spans midnight
}

func (w *Window) parse() (start, end time.Duration, err error) {
	s, err1 := time.Parse("15:04", w.Start)
	e, err2 := time.Parse("15:04", w.End)
	if err1 != nil || err2 != nil || w.Start == w.End {
		return 0, 0, fmt.Errorf("window %s–%s: want two different times as HH:MM", w.Start, w.End)
	}
	return time.Duration(s.Hour())*time.Hour + time.Duration(s.Minute())*time.Minute,
		time.Duration(e.Hour())*time.Hour + time.Duration(e.Minute())*time.Minute, nil
}

// recipientZone is the time zone of a number, UTC when unknown.
func recipientZone(e164 string) *time.Location {
	for _, z := range phone.TimeZones(e164) {
		if loc, err := time.LoadLocation(z); err == nil {
			return loc
		}
	}
	return time.UTC
}

// nextOpen reports whether now falls inside the window for the recipient,
// and if not, when the window next opens.
func (w *Window) nextOpen(now time.Time, e164 string) (bool, time.Time) {
	start, end, err := w.parse()
	if err != nil {
		return true, now // validated at creation; never block on a bad window
	}
	local := now.In(recipientZone(e164))
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, local.Location())
	tod := local.Sub(midnight)
	inside := tod >= start && tod < end
	if end < start { // spans midnight
		inside = tod >= start || tod < end
	}
	if inside {
		return true, now
	}
	open := midnight.Add(start)
	if !open.After(local) {
		open = time.Date(local.Year(), local.Month(), local.Day()+1, 0, 0, 0, 0, local.Location()).Add(start)
	}
	return false, open
}
