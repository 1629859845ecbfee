package whatsapp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const testToken Secret = "test-token-EAAG"

func testMessage() TemplateMessage {
	return TemplateMessage{
		To: "+5511987654321",
		Template: Template{
			Name:       "order_update",
			Language:   Language{Code: "pt_BR"},
			Components: []Component{{Type: "body", Parameters: []Parameter{TextParam("Ana")}}},
		},
		BizOpaqueCallbackData: "send:8812",
	}
}

// newTestClient returns a Client for srv with an optional HTTP client.
func newTestClient(srv *httptest.Server, hc *http.Client) *Client {
	return NewClient(Config{BaseURL: srv.URL, Token: testToken, HTTPClient: hc})
}

func TestNewClientDefaults(t *testing.T) {
	t.Parallel()

	c := NewClient(Config{BaseURL: "http://sim.local/", APIVersion: "/v24.0/"})
	require.Equal(t, "http://sim.local", c.baseURL)
	require.Equal(t, "v24.0", c.apiVersion)
	require.Equal(t, DefaultTimeout, c.httpClient.Timeout)

	c = NewClient(Config{})
	require.Equal(t, DefaultBaseURL, c.baseURL)
	require.Equal(t, DefaultAPIVersion, c.apiVersion)
}

func TestSendTemplate(t *testing.T) {
	t.Parallel()

	t.Run("Success", func(t *testing.T) {
		t.Parallel()
		type seen struct {
			method, path, auth, contentType string
			body                            []byte
		}
		got := make(chan seen, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			got <- seen{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body}
			_, _ = w.Write(readTestdata(t, "send_response_accepted.json"))
		}))
		t.Cleanup(srv.Close)

		resp, err := newTestClient(srv, nil).SendTemplate(context.Background(), "106540352242922", testMessage())
		require.NoError(t, err)
		require.Equal(t, "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQyQkM5RjBCRUE3M0JDMEU3MQA=", resp.WAMID())
		require.Equal(t, MessageStatusAccepted, resp.Messages[0].MessageStatus)

		req := <-got
		require.Equal(t, http.MethodPost, req.method)
		require.Equal(t, "/v25.0/106540352242922/messages", req.path)
		require.Equal(t, "Bearer "+testToken.Reveal(), req.auth)
		require.Equal(t, "application/json", req.contentType)
		want, err := json.Marshal(testMessage())
		require.NoError(t, err)
		require.JSONEq(t, string(want), string(req.body))
	})

	t.Run("ErrorAnswer", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write(readTestdata(t, "error_131026.json"))
		}))
		t.Cleanup(srv.Close)

		_, err := newTestClient(srv, nil).SendTemplate(context.Background(), "1", testMessage())
		var apiErr *Error
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, 131026, apiErr.Code)
		require.Equal(t, http.StatusBadRequest, apiErr.HTTPStatus)
		require.NotErrorIs(t, err, ErrOutcomeUnknown)
		require.Equal(t, ActionFailRecipient, ActionForError(err))
		require.NotContains(t, err.Error(), testToken.Reveal())
	})

	t.Run("UnparsableBadGateway", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html>502 Bad Gateway</html>", http.StatusBadGateway)
		}))
		t.Cleanup(srv.Close)

		_, err := newTestClient(srv, nil).SendTemplate(context.Background(), "1", testMessage())
		var apiErr *Error
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, CodeHTTPUnparsed, apiErr.Code)
		require.Equal(t, ActionRetry, ActionForError(err))
	})

	t.Run("GarbageSuccessBodyIsOutcomeUnknown", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"messaging_product":"whatsapp","messages":[]}`))
		}))
		t.Cleanup(srv.Close)

		_, err := newTestClient(srv, nil).SendTemplate(context.Background(), "1", testMessage())
		require.ErrorIs(t, err, ErrOutcomeUnknown)
		require.Equal(t, ActionReconcile, ActionForError(err))
	})

	t.Run("EmptyPhoneNumberID", func(t *testing.T) {
		t.Parallel()
		_, err := NewClient(Config{}).SendTemplate(context.Background(), "", testMessage())
		require.Error(t, err)
	})
}

// hangingServer reads each request fully, reports it on read, then answers
// nothing until the client goes away.
func hangingServer(t *testing.T) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	read := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		read <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv, read
}

func TestSendTemplateOutcomeUnknown(t *testing.T) {
	t.Parallel()

	t.Run("ClientTimeoutAfterRequestRead", func(t *testing.T) {
		t.Parallel()
		srv, read := hangingServer(t)
		// The server never answers, so this timeout always fires; its length
		// only has to leave the request time to be written.
		c := newTestClient(srv, &http.Client{Timeout: 500 * time.Millisecond})

		_, err := c.SendTemplate(context.Background(), "1", testMessage())
		require.ErrorIs(t, err, ErrOutcomeUnknown)
		require.Equal(t, ActionReconcile, ActionForError(err))
		require.NotContains(t, err.Error(), testToken.Reveal())
		<-read // the server did see the whole request
	})

	t.Run("ContextCancelledAfterRequestRead", func(t *testing.T) {
		t.Parallel()
		srv, read := hangingServer(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			<-read
			cancel()
		}()

		_, err := newTestClient(srv, nil).SendTemplate(ctx, "1", testMessage())
		require.ErrorIs(t, err, ErrOutcomeUnknown)
		require.ErrorIs(t, err, context.Canceled)
	})

	t.Run("ConnectionClosedAfterRequestRead", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			_ = conn.Close()
		}))
		t.Cleanup(srv.Close)

		_, err := newTestClient(srv, nil).SendTemplate(context.Background(), "1", testMessage())
		require.ErrorIs(t, err, ErrOutcomeUnknown)
		require.Equal(t, ActionReconcile, ActionForError(err))
	})

	t.Run("ConnectionRefusedIsNotUnknown", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())

		c := NewClient(Config{BaseURL: "http://" + addr, Token: testToken})
		_, err = c.SendTemplate(context.Background(), "1", testMessage())
		require.Error(t, err)
		require.NotErrorIs(t, err, ErrOutcomeUnknown)
		var apiErr *Error
		require.False(t, errors.As(err, &apiErr))
		require.Equal(t, ActionRetry, ActionForError(err))
	})

	t.Run("ContextCancelledBeforeSendIsNotUnknown", func(t *testing.T) {
		t.Parallel()
		srv, _ := hangingServer(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()

		_, err := newTestClient(srv, nil).SendTemplate(ctx, "1", testMessage())
		require.ErrorIs(t, err, context.Canceled)
		require.NotErrorIs(t, err, ErrOutcomeUnknown)
	})
}

func TestListTemplates(t *testing.T) {
	t.Parallel()

	t.Run("TwoPages", func(t *testing.T) {
		t.Parallel()
		var (
			mu      sync.Mutex
			queries []url.Values
			paths   []string
			auths   []string
		)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			mu.Lock()
			queries = append(queries, q)
			paths = append(paths, r.URL.Path)
			auths = append(auths, r.Header.Get("Authorization"))
			mu.Unlock()
			switch q.Get("after") {
			case "":
				_, _ = w.Write(readTestdata(t, "templates_page1.json"))
			case "QVFIUjRtc2c":
				_, _ = w.Write(readTestdata(t, "templates_page2.json"))
			default:
				w.WriteHeader(http.StatusBadRequest)
			}
		}))
		t.Cleanup(srv.Close)

		got, err := newTestClient(srv, nil).ListTemplates(context.Background(), "102290129340398")
		require.NoError(t, err)
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, queries, 2)
		for i, q := range queries {
			require.Equal(t, "/v25.0/102290129340398/message_templates", paths[i])
			require.Equal(t, "Bearer "+testToken.Reveal(), auths[i])
			require.Equal(t, "100", q.Get("limit"))
			require.Contains(t, q.Get("fields"), "parameter_format")
		}
		require.Empty(t, queries[0].Get("after"))
		require.Equal(t, "QVFIUjRtc2c", queries[1].Get("after"))
		require.Len(t, got, 3)
		require.Equal(t, "order_update", got[0].Name)
		require.Equal(t, "POSITIONAL", got[0].ParameterFormat)
		require.Len(t, got[0].Components, 4)
		require.Equal(t, "https://x.example/t/{{1}}", got[0].Components[3].Buttons[1].URL)
		require.Equal(t, "order_confirmation", got[1].Name)
		require.Equal(t, "NAMED", got[1].ParameterFormat)
		require.Equal(t, "PAUSED", got[2].Status)
	})

	t.Run("RepeatedCursorStops", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(readTestdata(t, "templates_page1.json"))
		}))
		t.Cleanup(srv.Close)

		_, err := newTestClient(srv, nil).ListTemplates(context.Background(), "102290129340398")
		require.ErrorContains(t, err, "repeats")
	})

	t.Run("ErrorAnswer", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"message":"(#80007) Rate limit","type":"OAuthException","code":80007,"fbtrace_id":"x"}}`))
		}))
		t.Cleanup(srv.Close)

		_, err := newTestClient(srv, nil).ListTemplates(context.Background(), "1")
		var apiErr *Error
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, ActionSlowDown, ActionForError(err))
		require.True(t, strings.HasPrefix(err.Error(), "list templates of waba 1: cloud api error 80007"))
	})
}
