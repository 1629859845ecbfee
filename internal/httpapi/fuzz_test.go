package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/herald-sh/herald/internal/whatsapp"
)

// FuzzWebhookHandler sends arbitrary bodies and signature headers through the
// handler. Whatever comes in, it must not panic, must answer one of the
// statuses the receiver documents (never 500), and must store exactly the
// bodies it answers 200 to: signed, JSON, within the size limit.
//
// The batch writer is replaced by a counter, so the fuzzer runs at full
// speed without a database; the real INSERT has its own tests. Fuzz with
// -parallel=1: every fuzz worker runs TestMain, and storetest.Main in two
// workers at once races on (re)creating this package's databases.
func FuzzWebhookHandler(f *testing.F) {
	const maxBody = 4096
	for _, seed := range []struct {
		body   string
		header string
		sign   bool
	}{
		{string(statusBody(1)), "", true},
		{string(statusBody(2)), "", false},
		{`{"object":"whatsapp_business_account","entry":[`, "", true},
		{``, "", true},
		{`null`, "", true},
		{`{"a":"\u00e4"}`, "sha256=", false},
		{`{}`, "sha1=0123456789abcdef0123456789abcdef01234567", false},
		{`{}`, "sha256=zz", false},
		{string(bytes.Repeat([]byte("x"), maxBody+1)), "", true},
		{"\xff\xfe{}", "", true},
	} {
		f.Add([]byte(seed.body), seed.header, seed.sign)
	}

	s := NewServer(testLogger(f), nil, Config{
		AppSecret:     testAppSecret,
		VerifyToken:   testVerifyToken,
		MaxBodyBytes:  maxBody,
		CommitMaxWait: -1, // commit each body at once: nothing else is coming
	})
	var stored atomic.Int64
	s.writer.writeBatchFunc = func(_ context.Context, bodies [][]byte) error {
		stored.Add(int64(len(bodies)))
		return nil
	}
	s.Start(context.Background())
	f.Cleanup(s.Stop)

	f.Fuzz(func(t *testing.T, body []byte, header string, sign bool) {
		if sign {
			header = whatsapp.Sign(body, testAppSecret)
		}
		req := httptest.NewRequest(http.MethodPost, "/webhooks/whatsapp", bytes.NewReader(body))
		req.Header.Set(whatsapp.SignatureHeader, header)
		rec := httptest.NewRecorder()
		before := stored.Load()
		s.Handler().ServeHTTP(rec, req)
		after := stored.Load()

		valid := len(body) <= maxBody &&
			whatsapp.VerifySignature(body, header, testAppSecret) == nil &&
			json.Valid(body)
		switch rec.Code {
		case http.StatusOK:
			if !valid {
				t.Fatalf("accepted a body it should refuse (len %d, header %q)", len(body), header)
			}
			if after != before+1 {
				t.Fatalf("answered 200 but stored %d bodies", after-before)
			}
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
			if valid {
				t.Fatalf("refused a valid body with %d: %s", rec.Code, rec.Body)
			}
			if after != before {
				t.Fatalf("answered %d but stored %d bodies", rec.Code, after-before)
			}
		default:
			t.Fatalf("unexpected status %d: %s", rec.Code, rec.Body)
		}
	})
}
