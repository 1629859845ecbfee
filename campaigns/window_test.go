package campaigns

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/storetest"
	"github.com/herald-sh/herald/internal/whatsapp"
)

func TestWindowNextOpen(t *testing.T) {
	t.Parallel()
	saoPaulo, err := time.LoadLocation("America/Sao_Paulo")
	require.NoError(t, err)
	w := &Window{Start: "09:00", End: "20:00"}
	at := func(h, m int) time.Time { return time.Date(2026, 11, 23, h, m, 0, 0, saoPaulo) }
	cases := []struct {
		name   string
		now    time.Time
		inside bool
		open   time.Time
	}{
		{"morning before", at(8, 59), false, at(9, 0)},
		{"at opening", at(9, 0), true, at(9, 0)},
		{"afternoon", at(15, 30), true, at(15, 30)},
		{"at closing", at(20, 0), false, at(9, 0).AddDate(0, 0, 1)},
		{"night", at(23, 0), false, at(9, 0).AddDate(0, 0, 1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inside, open := w.nextOpen(tc.now, "+5511987654321") // São Paulo
			require.Equal(t, tc.inside, inside)
			require.True(t, tc.open.Equal(open), "open %s, want %s", open, tc.open)
		})
	}
	night := &Window{Start: "22:00", End: "06:00"} // spans midnight
	inside, _ := night.nextOpen(at(23, 0), "+5511987654321")
	require.True(t, inside)
	inside, open := night.nextOpen(at(12, 0), "+5511987654321")
	require.False(t, inside)
	require.True(t, at(22, 0).Equal(open))
	// Manaus is an hour behind São Paulo: 09:30 in São Paulo is 08:30 there.
	inside, _ = w.nextOpen(at(9, 30), "+5592987654321")
	require.False(t, inside)
}

func TestCreateRefusesBadWindow(t *testing.T) {
	t.Parallel()
	_, pool := storetest.DB(t)
	f := newFixture(t, pool, nil, promoBindings)
	_, err := f.svc.Create(context.Background(), NewCampaign{Name: "w", Template: "promo", Language: "pt_BR", PhoneNumberID: "555001",
		Lists: []string{"l"}, Bindings: promoBindings, Window: &Window{Start: "25:00", End: "20:00"}})
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	require.Contains(t, ve.Fields["window"], "HH:MM")
}

func TestDispatchWaitsForTheWindow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := storetest.DB(t)
	f := newFixture(t, pool, []contactRow{{"+5511900000031", "A", "opted_in", attrs("X", "C")}}, promoBindings)
	// A window that is closed now in São Paulo, whatever the time of day.
	now := time.Now().In(recipientZone("+5511900000031"))
	start := now.Add(2 * time.Hour)
	w := &Window{Start: start.Format("15:04"), End: start.Add(time.Hour).Format("15:04")}
	c, err := f.svc.Create(ctx, NewCampaign{Name: "w", Template: "promo", Language: "pt_BR", PhoneNumberID: "555001",
		Lists: []string{"l"}, Bindings: promoBindings, Window: w})
	require.NoError(t, err)
	got, err := f.svc.Get(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, w, got.Window)
	f.jobs.args = nil
	_, err = f.svc.Start(ctx, c.ID)
	require.NoError(t, err)
	api := &scriptedAPI{calls: map[string]int{}, script: map[string][]error{}}
	d := NewDispatcher(discard, pool, api, &noThrottle{}, DispatchConfig{})
	errs := runJobs(t, d, f)
	require.Len(t, errs, 1)
	require.Error(t, errs[0], "the job snoozes until the window opens")
	require.Empty(t, api.calls, "nothing is sent outside the window")
	var status string
	var attempts int16
	var next time.Time
	require.NoError(t, pool.QueryRow(ctx, `SELECT status, attempts, next_attempt_at FROM sends WHERE campaign_id = $1`, c.ID).Scan(&status, &attempts, &next))
	require.Equal(t, "queued", status)
	require.Zero(t, attempts)
	require.WithinDuration(t, start.Truncate(time.Minute), next, time.Minute)
}

func TestBuildComponentsRefusesTooLongText(t *testing.T) {
	t.Parallel()
	tpl := promoTemplate()
	_, err := BuildComponents(tpl, promoBindings, []string{strings.Repeat("a", 1100), "X", "2026-12-01", "C"}, 1)
	var apiErr *whatsapp.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 132005, apiErr.Code)
	require.Contains(t, apiErr.Details, "the limit is 1024")
}
