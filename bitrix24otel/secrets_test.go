package bitrix24otel_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

// secretSet gathers every secret of a fake portal a test's clients hold, new pairs
// included.
type secretSet struct {
	mu   sync.Mutex
	list []string
}

func (s *secretSet) add(v ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range v {
		if x != "" {
			s.list = append(s.list, x)
		}
	}
}

func (s *secretSet) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.list...)
}

// requireClean fails when text holds any 8-byte fragment of a secret.
func requireClean(t *testing.T, where, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		for i := 0; i+8 <= len(s); i++ {
			require.NotContains(t, text, s[i:i+8], "%s holds a fragment of a secret", where)
		}
	}
}

func kvText(kvs []attribute.KeyValue) string {
	var b strings.Builder
	for _, kv := range kvs {
		b.WriteString(string(kv.Key) + "=" + kv.Value.String() + " ")
	}
	return b.String()
}

// Every failure path of the client, driven by the fake portal, with its secrets in the
// answers: no span name, attribute, event, link, status or metric attribute holds one.
func TestNoSecretInSpansOrMetrics(t *testing.T) {
	t.Parallel()
	srv := bitrix24test.New(t)
	rec := newRecorder(t)
	secrets := &secretSet{} // every secret: none may show anywhere
	oauthSecrets := &secretSet{}

	cfg := srv.OAuthConfig()
	hookURL := srv.WebhookURL()
	code := strings.Split(strings.TrimSuffix(hookURL, "/"), "/")
	secrets.add(cfg.ClientSecret, cfg.Token.AccessToken, cfg.Token.RefreshToken, code[len(code)-1], srv.ApplicationToken())
	oauthSecrets.add(cfg.ClientSecret, cfg.Token.AccessToken, cfg.Token.RefreshToken)
	cfg.OnTokenRefresh = func(_ context.Context, tok bitrix24.Token) error {
		secrets.add(tok.AccessToken, tok.RefreshToken)
		oauthSecrets.add(tok.AccessToken, tok.RefreshToken)
		return nil
	}
	opts := []bitrix24.Option{
		bitrix24.WithHTTPClient(srv.Client()),
		bitrix24.WithRetry(2, time.Millisecond, 2*time.Millisecond),
		bitrix24.WithRateLimit(0, 0),
		rec.option(),
	}
	oauth, err := bitrix24.NewOAuthClient(cfg, opts...)
	require.NoError(t, err)
	hook, err := bitrix24.NewWebhookClient(hookURL, opts...)
	require.NoError(t, err)
	const wrongCode = "wrongwebhookcode42"
	secrets.add(wrongCode)
	u, err := url.Parse(hookURL)
	require.NoError(t, err)
	wrongHook, err := bitrix24.NewWebhookClient(u.Scheme+"://"+u.Host+"/rest/1/"+wrongCode+"/", opts...)
	require.NoError(t, err)
	batched, err := bitrix24.NewOAuthClient(cfg, append(opts, bitrix24.WithAutoBatch(5*time.Millisecond))...)
	require.NoError(t, err)

	// A client can only scrub the secrets it holds (and those its patterns find): each
	// is sent its own.
	echo := func() string { return strings.Join(oauthSecrets.all(), " ") }
	hookEcho := code[len(code)-1] + " " + hookURL
	ctx := context.Background()
	var failures []error
	fail := func(err error) {
		t.Helper()
		require.Error(t, err)
		failures = append(failures, err)
	}

	// An error answer whose code, description and argument echo the secrets.
	srv.Handle("crm.echo.error", func(context.Context, bitrix24test.Request) (any, error) {
		return nil, &bitrix24test.Error{Status: 400, Code: "E_" + cfg.Token.AccessToken, Description: echo(), Argument: cfg.ClientSecret}
	})
	fail(oauth.Call(ctx, "crm.echo.error", nil, nil))
	srv.Handle("crm.echo.hook", func(context.Context, bitrix24test.Request) (any, error) {
		return nil, &bitrix24test.Error{Status: 400, Code: "ERROR_CORE", Description: hookEcho, Argument: hookURL}
	})
	fail(hook.Call(ctx, "crm.echo.hook", nil, nil))

	// An HTML page from a proxy that quotes the request (retried, then given up).
	srv.InjectFault("user.option.get", 3, bitrix24test.Fault{Status: 502, ContentType: "text/html", Body: "<html>" + echo() + "</html>"})
	_, err = oauth.UserOption.Get(ctx, "k", new(string))
	fail(err)

	// A dropped connection and a timeout, on the webhook (its code is in the URL).
	srv.InjectFault("userfieldtype.add", 1, bitrix24test.Fault{Status: 500, ContentType: "text/html", Body: hookEcho})
	fail(hook.UserFieldType.Add(ctx, bitrix24.UserFieldType{UserTypeID: "x", Handler: "https://a.example/h", Title: "X"}))
	srv.InjectFault("userfieldtype.add", 1, bitrix24test.Fault{DropConnection: true})
	fail(hook.UserFieldType.Add(ctx, bitrix24.UserFieldType{UserTypeID: "x", Handler: "https://a.example/h", Title: "X"}))
	srv.InjectFault("profile", 1, bitrix24test.Fault{Delay: time.Second})
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	fail(hook.Call(short, "profile", nil, nil))
	cancel()

	// Wrong webhook credentials.
	fail(wrongHook.Call(ctx, "profile", nil, nil))

	// A batch command that fails with the secrets in its error, and a batch request that fails whole.
	srv.Handle("crm.echo.cmd", func(context.Context, bitrix24test.Request) (any, error) {
		return nil, &bitrix24test.Error{Code: "ERROR_CORE", Description: echo()}
	})
	res, err := oauth.Batch(ctx, false, bitrix24.BatchCommand{Key: "a", Method: "crm.echo.cmd"})
	require.NoError(t, err)
	require.Contains(t, res.Errors, "a")
	failures = append(failures, res.Errors["a"])
	srv.InjectFault("batch", 3, bitrix24test.Fault{Status: http.StatusBadGateway, Body: echo()})
	_, err = batched.UserOption.Get(ctx, "k", new(string))
	fail(err)

	// The pair expires and the refresh token is refused: the token endpoint's error.
	srv.RevokeRefreshTokens()
	srv.ExpireAccessToken()
	fail(oauth.UserOption.Set(ctx, map[string]any{"a": "b"}))
	assert.Equal(t, int64(1), rec.intSum(t, "bitrix24.client.token.refreshes", attribute.String("outcome", "error")))
	require.Len(t, rec.named("oauth/token"), 1)
	assert.Equal(t, codes.Error, rec.named("oauth/token")[0].Status().Code)

	all := secrets.all()
	for _, err := range failures {
		requireClean(t, "the error", err.Error(), all) // the premise: the client hands over clean errors
	}
	errored := 0
	for _, s := range rec.spans.Ended() {
		where := "span " + s.Name()
		requireClean(t, where+" name", s.Name(), all)
		requireClean(t, where+" attributes", kvText(s.Attributes()), all)
		requireClean(t, where+" status", s.Status().Description, all)
		if s.Status().Code == codes.Error {
			errored++
		}
		for _, e := range s.Events() {
			requireClean(t, where+" event", e.Name+" "+kvText(e.Attributes), all)
		}
		for _, l := range s.Links() {
			requireClean(t, where+" link", kvText(l.Attributes), all)
		}
	}
	assert.GreaterOrEqual(t, errored, 8, "every failure path made a span with status Error")

	var rm metricdata.ResourceMetrics
	require.NoError(t, rec.reader.Collect(ctx, &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			requireClean(t, "metric "+m.Name, fmt.Sprint(metricAttrs(m)), all)
		}
	}
}

// metricAttrs lists the attribute sets of every data point of m.
func metricAttrs(m metricdata.Metrics) []string {
	var out []string
	add := func(s attribute.Set) { out = append(out, kvText(s.ToSlice())) }
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			add(dp.Attributes)
		}
	case metricdata.Gauge[float64]:
		for _, dp := range d.DataPoints {
			add(dp.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			add(dp.Attributes)
		}
	case metricdata.Histogram[int64]:
		for _, dp := range d.DataPoints {
			add(dp.Attributes)
		}
	default:
		out = append(out, fmt.Sprintf("unexpected %T", d))
	}
	return out
}
