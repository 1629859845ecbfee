package wasim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/herald-sh/herald/internal/whatsapp"
)

func TestSendAccepted(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{WebhookURL: "-"})

	resp, err := b.send(t, promoMessage("+5511987654321"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(resp.WAMID(), "wamid."))
	require.Equal(t, whatsapp.MessageStatusAccepted, resp.Messages[0].MessageStatus)
	require.Equal(t, []whatsapp.ResponseContact{{Input: "+5511987654321", WaID: "5511987654321"}}, resp.Contacts)

	recs := b.sim.Records()
	require.Len(t, recs, 1)
	r := recs[0]
	require.Equal(t, resp.WAMID(), r.WAMID)
	require.Equal(t, testPhone, r.PhoneNumberID)
	require.Equal(t, "+5511987654321", r.To)
	require.Equal(t, "5511987654321", r.WaID)
	require.Equal(t, "promo", r.Template)
	require.Equal(t, "en_US", r.Language)
	require.Equal(t, CategoryMarketing, r.Category)
	require.Equal(t, []string{"Ana", "Ana", "20% off"}, r.Params)
	require.Equal(t, "send:+5511987654321", r.BizOpaqueCallbackData)

	// Named parameters in any order are stored in the template's order.
	_, err = b.send(t, whatsapp.TemplateMessage{To: "+5511987654322", Template: whatsapp.Template{
		Name: "order_confirmation", Language: whatsapp.Language{Code: "en_US"},
		Components: []whatsapp.Component{{Type: "body", Parameters: []whatsapp.Parameter{
			whatsapp.NamedTextParam("order_number", "SKBUP2"), whatsapp.NamedTextParam("first_name", "Jessica"),
		}}},
	}})
	require.NoError(t, err)
	// A template without variables needs no components.
	resp2, err := b.send(t, whatsapp.TemplateMessage{To: "+5511987654323", Template: whatsapp.Template{Name: "hello", Language: whatsapp.Language{Code: "pt_BR"}}})
	require.NoError(t, err)
	require.NotEqual(t, resp.WAMID(), resp2.WAMID())

	recs = b.sim.Records()
	require.Len(t, recs, 3)
	require.Equal(t, []string{"Jessica", "SKBUP2"}, recs[1].Params)

	st := b.sim.Stats()
	require.Equal(t, 3, st.Requests)
	require.Equal(t, 3, st.Accepted)
	require.Empty(t, st.Rejected)
}

func TestSendValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{WebhookURL: "-"})

	body := func(params ...whatsapp.Parameter) whatsapp.Component {
		return whatsapp.Component{Type: "body", Parameters: params}
	}
	tmpl := func(name, lang string, comps ...whatsapp.Component) whatsapp.TemplateMessage {
		return whatsapp.TemplateMessage{To: "+5511987654321", Template: whatsapp.Template{Name: name, Language: whatsapp.Language{Code: lang}, Components: comps}}
	}
	promoWith := func(edit func(*whatsapp.TemplateMessage)) whatsapp.TemplateMessage {
		m := promoMessage("+5511987654321")
		edit(&m)
		return m
	}
	named := func(params ...whatsapp.Parameter) whatsapp.TemplateMessage {
		return tmpl("order_confirmation", "en_US", body(params...))
	}

	tests := []struct {
		name       string
		msg        whatsapp.TemplateMessage
		code       int
		httpStatus int
	}{
		{"UnknownTemplate", tmpl("nope", "en_US"), 132001, 404},
		{"WrongLanguage", tmpl("hello", "en_US"), 132001, 404},
		{"NotApproved", tmpl("pending_promo", "en_US"), 132001, 404},
		{"Paused", tmpl("paused_promo", "en_US"), 132015, 400},
		{"BodyCountLow", promoWith(func(m *whatsapp.TemplateMessage) {
			m.Template.Components[1].Parameters = m.Template.Components[1].Parameters[:1]
		}), 132000, 400},
		{"BodyCountHigh", tmpl("hello", "pt_BR", body(whatsapp.TextParam("x"))), 132000, 400},
		{"BodyMissing", promoWith(func(m *whatsapp.TemplateMessage) {
			m.Template.Components = append(m.Template.Components[:1], m.Template.Components[2:]...)
		}), 132000, 400},
		{"HeaderMissing", promoWith(func(m *whatsapp.TemplateMessage) { m.Template.Components = m.Template.Components[1:] }), 132000, 400},
		{"EmptyText", promoWith(func(m *whatsapp.TemplateMessage) { m.Template.Components[1].Parameters[0].Text = "" }), 100, 400},
		{"WrongParamType", promoWith(func(m *whatsapp.TemplateMessage) {
			m.Template.Components[1].Parameters[0] = whatsapp.Parameter{Type: "image", Image: &whatsapp.Media{Link: "https://x"}}
		}), 132012, 400},
		{"DynamicURLButtonMissing", promoWith(func(m *whatsapp.TemplateMessage) { m.Template.Components = m.Template.Components[:3] }), 131008, 400},
		{"ButtonOutOfRange", promoWith(func(m *whatsapp.TemplateMessage) { m.Template.Components[3].Index = "7" }), 131009, 400},
		{"ButtonWrongSubType", promoWith(func(m *whatsapp.TemplateMessage) { m.Template.Components[3].SubType = "quick_reply" }), 131009, 400},
		{"BodyTooLong", promoWith(func(m *whatsapp.TemplateMessage) {
			m.Template.Components[1].Parameters[1].Text = strings.Repeat("x", 1020)
		}), 132005, 400},
		{"NamedWrongName", named(whatsapp.NamedTextParam("first_name", "J"), whatsapp.NamedTextParam("order_id", "1")), 132000, 400},
		{"NamedMissingName", named(whatsapp.NamedTextParam("first_name", "J"), whatsapp.TextParam("1")), 132000, 400},
		{"NamedRepeatedName", named(whatsapp.NamedTextParam("first_name", "J"), whatsapp.NamedTextParam("first_name", "K")), 132000, 400},
		{"NamedCount", named(whatsapp.NamedTextParam("first_name", "J")), 132000, 400},
		{"BadRecipient", func() whatsapp.TemplateMessage { m := tmpl("hello", "pt_BR"); m.To = "+55abc"; return m }(), 131009, 400},
		{"ShortRecipient", func() whatsapp.TemplateMessage { m := tmpl("hello", "pt_BR"); m.To = "+123"; return m }(), 131009, 400},
		{"CallbackDataTooLong", func() whatsapp.TemplateMessage {
			m := tmpl("hello", "pt_BR")
			m.BizOpaqueCallbackData = strings.Repeat("x", 513)
			return m
		}(), 100, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := b.send(t, tt.msg)
			apiErr := apiError(t, err, tt.code, tt.httpStatus)
			require.NotEmpty(t, apiErr.Details)
		})
	}

}

func TestSendRequestShape(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{WebhookURL: "-", Token: testToken})

	post := func(t *testing.T, token, body string) error {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, b.srv.URL+"/v25.0/"+testPhone+"/messages", strings.NewReader(body))
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		return whatsapp.ParseError(resp.StatusCode, buf.Bytes())
	}
	valid := `{"messaging_product":"whatsapp","to":"+5511987654321","type":"template","template":{"name":"hello","language":{"code":"pt_BR"}}}`

	require.NoError(t, post(t, testToken.Reveal(), valid))
	// An integer button index is accepted, as it is by Meta.
	require.NoError(t, post(t, testToken.Reveal(), `{"messaging_product":"whatsapp","to":"+5511987654329","type":"template","template":{"name":"promo","language":{"code":"en_US"},"components":[
		{"type":"header","parameters":[{"type":"text","text":"a"}]},
		{"type":"body","parameters":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
		{"type":"button","sub_type":"url","index":1,"parameters":[{"type":"text","text":"x"}]}]}}`))

	tests := []struct {
		name, token, body string
		code, status      int
	}{
		{"NoToken", "", valid, 0, 401},
		{"WrongToken", "other", valid, 190, 401},
		{"NotJSON", testToken.Reveal(), `{"messaging_product":`, 100, 400},
		{"NoMessagingProduct", testToken.Reveal(), strings.Replace(valid, `"messaging_product":"whatsapp",`, "", 1), 100, 400},
		{"FreeForm", testToken.Reveal(), `{"messaging_product":"whatsapp","to":"+5511987654321","type":"text","text":{"body":"hi"}}`, 131047, 400},
		{"NoTemplateName", testToken.Reveal(), `{"messaging_product":"whatsapp","to":"+5511987654321","type":"template","template":{"language":{"code":"pt_BR"}}}`, 131008, 400},
		{"NoLanguage", testToken.Reveal(), `{"messaging_product":"whatsapp","to":"+5511987654321","type":"template","template":{"name":"hello"}}`, 131008, 400},
		{"BadPolicy", testToken.Reveal(), strings.Replace(valid, `"code":"pt_BR"`, `"code":"pt_BR","policy":"fallback"`, 1), 100, 400},
		{"NoRecipient", testToken.Reveal(), strings.Replace(valid, `"to":"+5511987654321",`, "", 1), 100, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			apiError(t, post(t, tt.token, tt.body), tt.code, tt.status)
		})
	}

	t.Run("UnknownRoute", func(t *testing.T) {
		t.Parallel()
		resp, err := http.Get(b.srv.URL + "/v25.0/" + testPhone + "/media")
		require.NoError(t, err)
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		require.Equal(t, 100, whatsapp.ParseError(resp.StatusCode, buf.Bytes()).Code)
	})
}

func TestRateCap(t *testing.T) {
	t.Parallel()

	t0 := time.Date(2026, 11, 21, 10, 0, 0, 500_000_000, time.UTC)
	clock := &fakeClock{now: t0}
	b := setup(t, Config{WebhookURL: "-", Rate: 5, RatePerNumber: map[string]int{"other": 2}, NowFunc: clock.Now})

	sendN := func(t *testing.T, phone string, n int, from int) (accepted int, throttled []*whatsapp.Error) {
		t.Helper()
		for i := range n {
			_, err := b.client.SendTemplate(context.Background(), phone, promoMessage(fmt.Sprintf("+55119%08d", from+i)))
			if err == nil {
				accepted++
				continue
			}
			throttled = append(throttled, apiError(t, err, 130429, http.StatusBadRequest))
		}
		return accepted, throttled
	}

	accepted, throttled := sendN(t, testPhone, 8, 0)
	require.Equal(t, 5, accepted)
	require.Len(t, throttled, 3)
	e := throttled[0]
	require.Equal(t, "(#130429) Rate limit hit", e.Message)
	require.Equal(t, "OAuthException", e.Type)
	require.Equal(t, "Cloud API message throughput has been reached.", e.Details)
	require.Equal(t, whatsapp.ActionSlowDown, whatsapp.ActionForError(e))

	// Across a whole-second boundary but within 1s of the first sends: a
	// fixed window would open here, the sliding one must not.
	clock.Set(t0.Add(999 * time.Millisecond))
	accepted, _ = sendN(t, testPhone, 1, 100)
	require.Zero(t, accepted)

	clock.Set(t0.Add(time.Second))
	accepted, throttled = sendN(t, testPhone, 6, 200)
	require.Equal(t, 5, accepted)
	require.Len(t, throttled, 1)

	// Another number has its own window and its override.
	accepted, _ = sendN(t, "other", 3, 300)
	require.Equal(t, 2, accepted)

	st := b.sim.Stats()
	require.Equal(t, 12, st.Accepted)
	require.Equal(t, 6, st.Throttled)
	require.Equal(t, 6, st.Rejected[130429])
	require.Len(t, b.sim.Records(), 12)
}

func TestPairRateLimit(t *testing.T) {
	t.Parallel()

	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: t0}
	b := setup(t, Config{WebhookURL: "-", PairBurst: 2, PairInterval: 6 * time.Second, NowFunc: clock.Now})

	_, err := b.send(t, promoMessage("+5511987654321"))
	require.NoError(t, err)
	_, err = b.send(t, promoMessage("+5511987654321"))
	require.NoError(t, err)
	_, err = b.send(t, promoMessage("+5511987654321"))
	apiError(t, err, 131056, http.StatusBadRequest)
	require.Equal(t, whatsapp.ActionRetryRecipientLater, whatsapp.ActionForError(err))

	// Others are unaffected; the recipient gets a token back after the
	// interval.
	_, err = b.send(t, promoMessage("+5511987654322"))
	require.NoError(t, err)
	clock.Set(t0.Add(6 * time.Second))
	_, err = b.send(t, promoMessage("+5511987654321"))
	require.NoError(t, err)
}

func TestDuplicateRecipients(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{WebhookURL: "-"})

	for _, to := range []string{"+5511900000001", "+5511900000002", "+5511900000001", "+5511900000003", "+5511900000003", "+5511900000003"} {
		_, err := b.send(t, promoMessage(to))
		require.NoError(t, err)
	}
	_, err := b.send(t, whatsapp.TemplateMessage{To: "+5511900000002", Template: whatsapp.Template{Name: "hello", Language: whatsapp.Language{Code: "pt_BR"}}})
	require.NoError(t, err)

	require.Len(t, b.sim.Records(), 7)
	require.Equal(t, []string{"+5511900000001", "+5511900000003"}, b.sim.DuplicateRecipients(testPhone, "promo"))
	require.Empty(t, b.sim.DuplicateRecipients(testPhone, "hello"))
	require.Empty(t, b.sim.DuplicateRecipients("other", "promo"))
}

func TestInjectedHTTP500(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{WebhookURL: "-", Failures: FailureMix{HTTP500: 1}})

	_, err := b.send(t, promoMessage("+5511987654321"))
	var apiErr *whatsapp.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, whatsapp.CodeHTTPUnparsed, apiErr.Code)
	require.Equal(t, http.StatusInternalServerError, apiErr.HTTPStatus)
	require.Equal(t, whatsapp.ActionRetry, whatsapp.ActionForError(err))
	require.Empty(t, b.sim.Records())
	require.Equal(t, 1, b.sim.Stats().HTTP500)
}

func TestInjectedSyncCode(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{WebhookURL: "-", Failures: FailureMix{SyncCodes: map[int]float64{131016: 1}}})

	_, err := b.send(t, promoMessage("+5511987654321"))
	apiError(t, err, 131016, http.StatusServiceUnavailable)
	require.Equal(t, 1, b.sim.Stats().Rejected[131016])
}

// holdSignal makes b's simulator report each held request on the returned
// channel. It must be called before any request is sent.
func holdSignal(b *bundle) <-chan struct{} {
	held := make(chan struct{}, 16)
	b.sim.onHoldFunc = func() { held <- struct{}{} }
	return held
}

func TestInjectedTimeout(t *testing.T) {
	t.Parallel()

	t.Run("NotAccepted", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{WebhookURL: "-", Failures: FailureMix{Timeout: 1}})
		held := holdSignal(b)

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			<-held
			cancel() // the client gives up
		}()
		_, err := b.client.SendTemplate(ctx, testPhone, promoMessage("+5511987654321"))
		require.ErrorIs(t, err, whatsapp.ErrOutcomeUnknown)
		require.Empty(t, b.sim.Records())
		require.Equal(t, 1, b.sim.Stats().TimedOut)
	})

	t.Run("AcceptedWebhooksStillArrive", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Failures: FailureMix{TimeoutAccepted: 1}})
		held := holdSignal(b)

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			<-held
			cancel()
		}()
		_, err := b.client.SendTemplate(ctx, testPhone, promoMessage("+5511987654321"))
		require.ErrorIs(t, err, whatsapp.ErrOutcomeUnknown)
		require.Equal(t, whatsapp.ActionReconcile, whatsapp.ActionForError(err))

		recs := b.sim.Records()
		require.Len(t, recs, 1)
		b.drain(t)
		got := b.recv.received()
		require.GreaterOrEqual(t, len(got.statuses), 2)
		for _, s := range got.statuses {
			require.Equal(t, recs[0].WAMID, s.ID)
			require.Equal(t, "send:+5511987654321", s.BizOpaqueCallbackData)
		}
	})

	t.Run("CloseReleasesHeldRequest", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{WebhookURL: "-", Failures: FailureMix{Timeout: 1}})
		held := holdSignal(b)

		go func() {
			<-held
			b.sim.Close()
		}()
		// No client timeout: only Close ends the request.
		_, err := b.send(t, promoMessage("+5511987654321"))
		require.ErrorIs(t, err, whatsapp.ErrOutcomeUnknown)
	})
}

func TestNewPanicsOnBadConfig(t *testing.T) {
	t.Parallel()

	require.Panics(t, func() { New(Config{Failures: FailureMix{HTTP500: 1.5}}, nil) })
	require.Panics(t, func() { New(Config{Failures: FailureMix{HTTP500: 0.6, SyncCodes: map[int]float64{131026: 0.6}}}, nil) })
	require.Panics(t, func() { New(Config{Failures: FailureMix{Reply: 0.5, Click: 0.6}}, nil) })
	require.Panics(t, func() { New(Config{Templates: []TemplateDef{{}}}, nil) })
	require.NotPanics(t, func() { New(Config{Failures: DefaultFailureMix()}, nil) })
}

func TestServeHTTPWithoutNetwork(t *testing.T) {
	t.Parallel()
	sim := New(Config{Templates: testTemplates()}, nil)
	defer sim.Close()

	body := `{"messaging_product":"whatsapp","to":"+5511987654321","type":"template","template":{"name":"hello","language":{"code":"pt_BR"}}}`
	req := httptest.NewRequest(http.MethodPost, "/v25.0/"+testPhone+"/messages", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer x")
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), `"wamid.`)
}

func TestServerDoesNotPrintSecrets(t *testing.T) {
	t.Parallel()
	sim := New(Config{Token: "sim-token-value", AppSecret: "sim-app-secret"}, nil)
	defer sim.Close()
	for _, out := range []string{fmt.Sprintf("%v", sim), fmt.Sprintf("%+v", sim), fmt.Sprintf("%#v", sim)} {
		require.NotContains(t, out, "sim-token-value")
		require.NotContains(t, out, "sim-app-secret")
	}
}

// FuzzSend feeds arbitrary bodies to the send endpoint: the simulator must
// answer every one, never panic.
func FuzzSend(f *testing.F) {
	for _, to := range []string{"+5511987654321", "+1 (650) 555-1234"} {
		b, err := json.Marshal(promoMessage(to))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"messaging_product":"whatsapp","to":"+5511987654321","type":"template","template":{"name":"promo","language":{"code":"en_US"},"components":[{"type":"button","index":1e300,"sub_type":"url"}]}}`))
	f.Add([]byte(`{"messaging_product":"whatsapp","to":"+5511987654321","type":"template","template":{"name":"order_confirmation","language":{"code":"en_US"},"components":[{"type":"body","parameters":[{"type":"currency"},{"type":"date_time"}]}]}}`))

	sim := New(Config{Templates: testTemplates(), Rate: -1, PairBurst: -1}, nil)
	f.Cleanup(sim.Close)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/v25.0/"+testPhone+"/messages", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer x")
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && whatsapp.ParseError(rec.Code, rec.Body.Bytes()).Code == whatsapp.CodeHTTPUnparsed {
			t.Fatalf("answer %d is not a Cloud API error: %s", rec.Code, rec.Body.String())
		}
	})
}
