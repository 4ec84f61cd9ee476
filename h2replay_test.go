package bitrix24_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"

	"github.com/b24go/bitrix24"
)

// refusingH2Server speaks HTTP/2 at the frame level: it reads each request in full,
// counts it, then resets the stream with REFUSED_STREAM — the reset after which Go's
// HTTP/2 transport replays a request by itself when it can rewind the body.
func refusingH2Server(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var received atomic.Int64
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.EnableHTTP2 = true
	srv.Config.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){
		"h2": func(_ *http.Server, conn *tls.Conn, _ http.Handler) {
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			preface := make([]byte, len(http2.ClientPreface))
			if _, err := io.ReadFull(conn, preface); err != nil {
				return
			}
			fr := http2.NewFramer(conn, conn)
			if fr.WriteSettings() != nil {
				return
			}
			for {
				f, err := fr.ReadFrame()
				if err != nil {
					return
				}
				switch f := f.(type) {
				case *http2.SettingsFrame:
					if !f.IsAck() {
						_ = fr.WriteSettingsAck()
					}
				case *http2.PingFrame:
					if !f.IsAck() {
						_ = fr.WritePing(true, f.Data)
					}
				case *http2.DataFrame:
					if f.StreamEnded() {
						received.Add(1)
						_ = fr.WriteRSTStream(f.StreamID, http2.ErrCodeRefusedStream)
					}
				}
			}
		},
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &received
}

// Item 6: a call that may have run reaches the server at most once over HTTP/2, even
// when the server resets the stream after reading it.
func TestHTTP2DoesNotReplayNonIdempotentCalls(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		call func(c *bitrix24.Client) error
	}{
		{"crm.item.add", func(c *bitrix24.Client) error {
			return c.Call(context.Background(), "crm.item.add", map[string]any{"entityTypeId": 2}, nil)
		}},
		{"batch", func(c *bitrix24.Client) error {
			_, err := c.Batch(context.Background(), false, bitrix24.BatchCommand{Key: "a", Method: "crm.item.add"})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, received := refusingH2Server(t)
			c, err := bitrix24.NewWebhookClient(srv.URL+"/rest/1/"+testCode+"/", bitrix24.WithHTTPClient(srv.Client()),
				bitrix24.WithRetry(3, time.Millisecond, time.Millisecond), bitrix24.WithRateLimit(0, 0))
			require.NoError(t, err)
			err = tc.call(c)
			require.Error(t, err, "the outcome is unknown: the call must not report success")
			assert.EqualValues(t, 1, received.Load(), "the request reached the server once")
			requireCleanChain(t, err, testCode)
		})
	}
}
