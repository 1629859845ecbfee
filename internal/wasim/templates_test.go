package wasim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/whatsapp"
)

func TestListTemplates(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{WebhookURL: "-", WABAID: "waba-1"})

	t.Run("ThroughClient", func(t *testing.T) {
		t.Parallel()
		got, err := b.client.ListTemplates(context.Background(), "waba-1")
		require.NoError(t, err)
		require.Len(t, got, len(testTemplates()))

		byName := map[string]whatsapp.TemplateInfo{}
		for _, ti := range got {
			byName[ti.Name] = ti
		}
		promo := byName["promo"]
		require.Equal(t, "en_US", promo.Language)
		require.Equal(t, "APPROVED", promo.Status)
		require.Equal(t, "MARKETING", promo.Category)
		require.Equal(t, "POSITIONAL", promo.ParameterFormat)
		require.Equal(t, []whatsapp.ParamSpec{
			{Component: "header", Position: 1, Type: "text"},
			{Component: "body", Position: 1, Type: "text"},
			{Component: "body", Position: 2, Type: "text"},
			{Component: "button", SubType: "quick_reply", Index: 0, Position: 1, Type: "payload", Optional: true},
			{Component: "button", SubType: "url", Index: 1, Position: 1, Type: "text"},
		}, promo.Params())

		named := byName["order_confirmation"]
		require.Equal(t, "NAMED", named.ParameterFormat)
		require.Equal(t, []whatsapp.ParamSpec{
			{Component: "body", Name: "first_name", Type: "text"},
			{Component: "body", Name: "order_number", Type: "text"},
		}, named.Params())
		require.Equal(t, "PAUSED", byName["paused_promo"].Status)
		require.Empty(t, byName["hello"].Params())
	})

	t.Run("Paging", func(t *testing.T) {
		t.Parallel()
		next := b.srv.URL + "/v25.0/waba-1/message_templates?limit=2&status=APPROVED"
		var names []string
		pages := 0
		for next != "" {
			pages++
			require.LessOrEqual(t, pages, 5)
			req, err := http.NewRequest(http.MethodGet, next, nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer x")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			var page templatesPage
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
			require.NoError(t, resp.Body.Close())
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.LessOrEqual(t, len(page.Data), 2)
			for _, d := range page.Data {
				names = append(names, d.Name)
			}
			next = page.Paging.Next
			if next != "" {
				u, err := url.Parse(next)
				require.NoError(t, err)
				require.Equal(t, page.Paging.Cursors.After, u.Query().Get("after"))
				require.Equal(t, "APPROVED", u.Query().Get("status"))
			}
		}
		require.Equal(t, 2, pages)
		require.Equal(t, []string{"promo", "order_confirmation", "hello"}, names)
	})

	t.Run("OtherWABA", func(t *testing.T) {
		t.Parallel()
		_, err := b.client.ListTemplates(context.Background(), "waba-2")
		apiError(t, err, 100, http.StatusBadRequest)
	})

	t.Run("BadCursor", func(t *testing.T) {
		t.Parallel()
		req, err := http.NewRequest(http.MethodGet, b.srv.URL+"/v25.0/waba-1/message_templates?after=%21%21", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer x")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	})
}
