package httpapi

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/scheduler"
)

func TestAPISchedules(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.seedCampaignFixtures(t)
	b.importContacts(t, "vip")

	list := decode[map[string][]any](t, b.get("/api/v1/schedules"), http.StatusOK)
	require.Empty(t, list["schedules"])
	require.NotNil(t, list["schedules"], "an empty list is [], not null")

	ns := scheduler.NewSchedule{
		Name: "weekday mornings", Cron: "0 9 * * 1-5", Zone: "America/Sao_Paulo",
		Template: "promo", Language: "pt_BR", PhoneNumberID: "1", Lists: []string{"vip"},
		Bindings: newCampaign("vip").Bindings,
	}
	bad := ns
	bad.Cron, bad.Zone = "every morning", "Mars/Olympus"
	requireFields(t, b.postJSON(t, "/api/v1/schedules", bad), http.StatusUnprocessableEntity, "cron", "zone")

	rec := b.postJSON(t, "/api/v1/schedules", ns)
	sch := decode[scheduler.Schedule](t, rec, http.StatusCreated)
	path := fmt.Sprintf("/api/v1/schedules/%d", sch.ID)
	require.Equal(t, path, rec.Header().Get("Location"))
	require.True(t, sch.Enabled)
	require.NotNil(t, sch.NextRunAt)

	requireFields(t, b.postJSON(t, "/api/v1/schedules", ns), http.StatusUnprocessableEntity, "name") // names are unique

	got := decode[scheduler.Schedule](t, b.get(path), http.StatusOK)
	require.Equal(t, "weekday mornings", got.Name)
	require.Len(t, decode[map[string][]any](t, b.get("/api/v1/schedules"), http.StatusOK)["schedules"], 1)

	off := decode[scheduler.Schedule](t, b.postJSON(t, path+"/disable", nil), http.StatusOK)
	require.False(t, off.Enabled)
	on := decode[scheduler.Schedule](t, b.postJSON(t, path+"/enable", nil), http.StatusOK)
	require.True(t, on.Enabled)

	runs := decode[map[string][]any](t, b.get(path+"/runs?limit=5"), http.StatusOK)
	require.NotNil(t, runs["runs"])
	requireFields(t, b.get(path+"/runs?limit=0"), http.StatusUnprocessableEntity, "limit")

	rec = b.request(http.MethodDelete, path, "", nil)
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	for _, p := range []string{path, path + "/runs"} {
		require.Equal(t, http.StatusNotFound, b.get(p).Code, p)
	}
	require.Equal(t, http.StatusNotFound, b.request(http.MethodDelete, path, "", nil).Code)
	require.Equal(t, http.StatusNotFound, b.postJSON(t, path+"/enable", nil).Code)
}
