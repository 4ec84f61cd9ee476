package redact

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const R = Placeholder

func TestStringPatterns(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, want string
	}{
		// Webhook paths.
		{"webhook with method", "https://b24.example/rest/1/abc123def/user.get", "https://b24.example/rest/1/" + R + "/user.get"},
		{"webhook json suffix", "POST https://b24.example/rest/17/q1w2e3r4t5/crm.deal.list.json?start=50", "POST https://b24.example/rest/17/" + R + "/crm.deal.list.json?start=50"},
		{"webhook trailing slash", "https://b24.example/rest/1/abc123/", "https://b24.example/rest/1/" + R + "/"},
		{"webhook no slash", "base https://b24.example/rest/1/abc123", "base https://b24.example/rest/1/" + R},
		{"webhook no slash then query", "https://b24.example/rest/1/abc123?x=1", "https://b24.example/rest/1/" + R + "?x=1"},
		{"webhook quoted in url.Error", `Post "https://b24.example/rest/1/abc123/user.get": EOF`, `Post "https://b24.example/rest/1/` + R + `/user.get": EOF`},
		{"webhook json escaped", `{"url":"https:\/\/b24.example\/rest\/1\/abc123\/user.get"}`, `{"url":"https:\/\/b24.example\/rest\/1\/` + R + `\/user.get"}`},
		{"webhook percent encoded", "next=https%3A%2F%2Fb24.example%2Frest%2F1%2Fabc123%2Fuser.get", "next=https%3A%2F%2Fb24.example%2Frest%2F1%2F" + R + "%2Fuser.get"},
		{"two webhooks", "/rest/1/aaaa1111/x /rest/2/bbbb2222", "/rest/1/" + R + "/x /rest/2/" + R},

		// Query strings and form bodies.
		{"query auth", "https://b24.example/rest/user.get?auth=xyz789&a=1", "https://b24.example/rest/user.get?auth=" + R + "&a=1"},
		{"form body", "access_token=tok1&refresh_token=tok2&client_id=local.123&client_secret=s3cr3t", "access_token=" + R + "&refresh_token=" + R + "&client_id=local.123&client_secret=" + R},
		{"oauth code", "/oauth/authorize/?code=c0de99&state=st&domain=x.bitrix24.ru", "/oauth/authorize/?code=" + R + "&state=st&domain=x.bitrix24.ru"},
		{"v3 error code kept", `{"error":{"code":"BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION","message":"Access denied"}}`, `{"error":{"code":"BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION","message":"Access denied"}}`},
		{"json oauth code", `{"code":"c0de99ab","state":"s"}`, `{"code":"` + R + `","state":"s"}`},
		{"upper-case code without underscore", `{"code":"C0DE99AB"}`, `{"code":"` + R + `"}`},
		{"ap param", "?ap=hookcode1&a=1", "?ap=" + R + "&a=1"},
		{"password", "user=u password=hunter22", "user=u password=" + R},
		{"case insensitive keys", "AUTH_ID=aid1&REFRESH_ID=rid1&Auth=x1&ACCESS_TOKEN=y2", "AUTH_ID=" + R + "&REFRESH_ID=" + R + "&Auth=" + R + "&ACCESS_TOKEN=" + R},
		{"event payload brackets", "event=ONCRMDEALADD&auth[access_token]=at1&auth[domain]=x.bitrix24.ru&auth[application_token]=apt1", "event=ONCRMDEALADD&auth[access_token]=" + R + "&auth[domain]=x.bitrix24.ru&auth[application_token]=" + R},
		{"event payload escaped brackets", "auth%5Baccess_token%5D=at1&auth%5Bdomain%5D=d", "auth%5Baccess_token%5D=" + R + "&auth%5Bdomain%5D=d"},
		{"value with escaped ampersand", "auth=ab%26cd&x=1", "auth=" + R + "&x=1"},
		{"percent encoded query", "redirect=https%3A%2F%2Fx%2Fcb%3Fauth%3Dxyz%26a%3D1", "redirect=https%3A%2F%2Fx%2Fcb%3Fauth%3D" + R + "%26a%3D1"},
		{"percent encoded lowercase", "r=%3faccess_token%3dxyz%26a%3d1", "r=%3faccess_token%3d" + R + "%26a%3d1"},
		{"json unicode-escaped ampersand", `{"u":"/x?auth=abc\u0026a=1"}`, `{"u":"/x?auth=` + R + `\u0026a=1"}`},

		// JSON.
		{"json", `{"access_token":"tok1","expires":3600}`, `{"access_token":"` + R + `","expires":3600}`},
		{"json spaces", `{ "refresh_token" : "tok2" , "x": 1}`, `{ "refresh_token" : "` + R + `" , "x": 1}`},
		{"json escaped quote in value", `{"password":"a\"b\\c","next":"v"}`, `{"password":"` + R + `","next":"v"}`},
		{"json case insensitive", `{"AUTH_ID":"a1","Client_Secret":"s1"}`, `{"AUTH_ID":"` + R + `","Client_Secret":"` + R + `"}`},
		{"json nested auth object", `{"auth":{"access_token":"t1","domain":"d"}}`, `{"auth":{"access_token":"` + R + `","domain":"d"}}`},
		{"json adjacent keys", `{"auth":"a1","code":"c1"}`, `{"auth":"` + R + `","code":"` + R + `"}`},
		{"json inside json string", `{"body":"{\"auth\":\"tok\\\"1\",\"a\":1}"}`, `{"body":"{\"auth\":\"` + R + `\",\"a\":1}"}`},

		// Bearer.
		{"authorization header", "Authorization: Bearer eyJhbGciOi.x-y_z~+/==", "Authorization: Bearer " + R},
		{"bearer any case", "authorization: BEARER tok123\r\nHost: x", "authorization: BEARER " + R + "\r\nHost: x"},
		{"bearer free text", "sent bearer abc.def to server", "sent bearer " + R + " to server"},
		{"bearer token swallowing a key", "Authorization: Bearer auth=tok1&x=1", "Authorization: Bearer " + R + "&x=1"},
		{"webhook code swallowing a key", "/rest/1/access_token%3Dtok1%26x", "/rest/1/" + R + "%3D" + R + "%26x"},
		{"overlapping secrets merge", "auth=a%26access_token%3Dtok1", "auth=" + R},

		// Left alone.
		{"oauth rest path", "https://b24.example/rest/user.option.set", "https://b24.example/rest/user.option.set"},
		{"client id", "client_id=local.123abc&grant_type=refresh_token", "client_id=local.123abc&grant_type=refresh_token"},
		{"value that mentions auth", "option=auth_mode&x=1", "option=auth_mode&x=1"},
		{"key suffix", "xauth=1&oauth=2&zipcode=3&barcode=4", "xauth=1&oauth=2&zipcode=3&barcode=4"},
		{"empty value", "auth=&a=1", "auth=&a=1"},
		{"plain log", "request done in 12ms status=200", "request done in 12ms status=200"},
		{"error code json number", `{"code":404}`, `{"code":404}`},
		{"rest without user id", "/rest/api/v1/thing", "/rest/api/v1/thing"},
		{"empty", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, String(tc.in))
		})
	}
}

func TestStringLiterals(t *testing.T) {
	t.Parallel()
	const sec = "s3cr/et+tok en"
	in := strings.Join([]string{
		"raw " + sec,
		"query " + url.QueryEscape(sec),
		"path " + url.PathEscape(sec),
	}, "\n")
	out := String(in, sec)
	assert.Equal(t, "raw "+R+"\nquery "+R+"\npath "+R, out)

	// Short and empty literals are ignored so they cannot destroy text.
	assert.Equal(t, "a bc abc", String("a bc abc", "", "a", "bc", "abc"))

	// A literal that extends another is removed whole.
	assert.Equal(t, "x "+R+" y", String("x abcdefgh y", "abcd", "abcdefgh"))

	// A literal equal to a key name cannot hide the key's value.
	assert.NotContains(t, String("auth=tokvalue1", "auth"), "tokvalue1")

	// Literals are applied in one pass: one that occurs in Placeholder
	// does not re-match inside an inserted Placeholder.
	assert.Equal(t, R+" "+R, String("topsecret DACT", "topsecret", "DACT"))
}

func TestStringAdversarialRepetition(t *testing.T) {
	t.Parallel()
	// Every position is a trigger inside one long secret; rescanning is
	// capped so this stays linear (a quadratic scan would take minutes).
	in := strings.Repeat("auth=", 20000)
	assert.Equal(t, "auth="+R, String(in))
	in = `{"auth":"` + strings.Repeat(`code\":\"`, 10000) + `"}`
	assert.Equal(t, `{"auth":"`+R+`"}`, String(in))
}

func TestStringLongValues(t *testing.T) {
	t.Parallel()
	// Values longer than the initial match window, with multi-byte
	// escapes at every possible offset of the window edge.
	for n := 1; n < 700; n += 7 {
		for _, tc := range []struct{ pre, unit, post string }{
			{`{"auth":"`, `a\"`, `","x":1}`},
			{`{"b":"{\"auth\":\"`, `a\\\\\\\"\n`, `\",\"x\":1}"}`},
			{"x?auth%3D", "%41", "%26x=1"},
			{"x?auth=", "ab%26", "&x=1"},
			{"Authorization: Bearer ", "ab+/", "\r\n"},
		} {
			val := strings.Repeat(tc.unit, n)
			got := String(tc.pre + val + tc.post)
			require.Equal(t, tc.pre+R+tc.post, got, "unit %q n %d", tc.unit, n)
		}
	}
}

func TestStringIdempotent(t *testing.T) {
	t.Parallel()
	in := `GET https://b24.example/rest/1/abc123/user.get?auth=x1 {"code":"c1"} Authorization: Bearer t1`
	once := String(in)
	assert.Equal(t, once, String(once))
}

func TestURL(t *testing.T) {
	t.Parallel()
	assert.Nil(t, URL(nil))

	raw := "https://user:pa55word@b24.example/rest/1/abc123/user.get.json?auth=tok1&client_id=local.1&ID=5#access_token=frag1"
	u, err := url.Parse(raw)
	require.NoError(t, err)
	orig := *u

	got := URL(u, "local.1x")
	require.NotNil(t, got)
	assert.Equal(t, orig, *u, "input must not be modified")
	assert.Equal(t,
		"https://user:"+R+"@b24.example/rest/1/"+R+"/user.get.json?auth="+R+"&client_id=local.1&ID=5#access_token="+R,
		got.String())

	// Literals in escaped paths are replaced in both Path and RawPath.
	u2, err := url.Parse("https://b24.example/hook/se%2Fcret99/x")
	require.NoError(t, err)
	got2 := URL(u2, "se/cret99")
	assert.NotContains(t, got2.String(), "cret99")
	assert.NotContains(t, got2.Path, "cret99")

	// Percent-encoded forms of the query survive the round trip.
	u3, err := url.Parse("https://b24.example/rest/user.get?auth%5Baccess_token%5D=tok1")
	require.NoError(t, err)
	assert.Equal(t, "https://b24.example/rest/user.get?auth%5Baccess_token%5D="+R, URL(u3).String())
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	var s Secrets
	assert.Empty(t, s.List())
	assert.Equal(t, "tokA tokB", s.String("tokA tokB"))

	s.Add("tokA1234", "", "abc", "tokA1234", "tokB5678")
	assert.Equal(t, []string{"tokA1234", "tokB5678"}, s.List())
	assert.Equal(t, R+" "+R+" auth="+R, s.String("tokA1234 tokB5678 auth=zzz"))

	l := s.List()
	l[0] = "mutated"
	assert.Equal(t, []string{"tokA1234", "tokB5678"}, s.List(), "List must return a copy")

	in := "x tokA1234 " + url.QueryEscape("tokB5678")
	assert.Equal(t, String(in, s.List()...), s.String(in))
}

func TestSecretsBounded(t *testing.T) {
	t.Parallel()
	var s Secrets
	batch := make([]string, 0, maxSecrets)
	for i := 0; i < maxSecrets; i++ {
		batch = append(batch, fmt.Sprintf("token-%06d", i))
	}
	s.Add(batch...)
	require.Len(t, s.List(), maxSecrets)
	extra := make([]string, 0, 10)
	for i := maxSecrets; i < maxSecrets+10; i++ {
		extra = append(extra, fmt.Sprintf("token-%06d", i))
	}
	s.Add(extra...)
	l := s.List()
	require.Len(t, l, maxSecrets)
	assert.Equal(t, "token-000010", l[0], "oldest entries are dropped first")
	assert.Equal(t, R, s.String(fmt.Sprintf("token-%06d", maxSecrets+9)))
}

func TestSecretsConcurrent(t *testing.T) {
	t.Parallel()
	var s Secrets
	var wg sync.WaitGroup
	const writers, readers, rounds = 4, 4, maxSecrets / 4 // nothing is evicted
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				s.Add(fmt.Sprintf("w%d-token-%04d", w, i))
			}
		}()
	}
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				tok := fmt.Sprintf("w%d-token-%04d", r%writers, i)
				out := s.String("log " + tok + " auth=abc")
				// Either already added (redacted) or not yet; never garbled.
				if out != "log "+R+" auth="+R {
					assert.Equal(t, "log "+tok+" auth="+R, out)
				}
				_ = s.List()
			}
		}()
	}
	wg.Wait()
	assert.Len(t, s.List(), writers*rounds)
	for w := 0; w < writers; w++ {
		assert.Equal(t, R, s.String(fmt.Sprintf("w%d-token-%04d", w, rounds-1)))
	}
}

// Not parallel: testing.AllocsPerRun refuses to run in parallel tests.
func TestNoMatchDoesNotAllocate(t *testing.T) {
	for _, in := range []string{
		"2024-05-01 INFO request done method=crm.deal.list status=200 latency=31ms",
		"",
	} {
		assert.Equal(t, in, String(in))
		assert.Zero(t, testing.AllocsPerRun(100, func() { _ = String(in) }), in)
	}
}

func TestTriggerWordsInText(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"Authorization: Basic dXNlcjpwYXNz",
		"restore /restart /rest/ /rest/x/abc /rest/1/",
		"the code is broken; see access_token docs",
		`{"map":"x","apx":"y","APP":"z"}`,
		"happy=1&snap=2&cap%3Dx",
	} {
		assert.Equal(t, in, String(in))
	}
}

// FuzzRedact embeds a random secret in every carrier form next to random
// text and checks that the secret never survives.
func FuzzRedact(f *testing.F) {
	f.Add("abcdefgh12345678", "prefix", "suffix")
	f.Add("Zx9-_Yw8Vu7", `{"auth":"`, `"}`)
	f.Add("0123456789abcdef", "Authorization: Bearer", "&auth=")
	f.Add("q1w2e3r4t5y6u7i8", `\"access_token\":\"`, "%26")
	f.Add("A_B-C_D-E_F-G_H", "/rest/1/", "?ap=")
	f.Fuzz(func(t *testing.T, secret, prefix, suffix string) {
		if len(secret) < 8 || !alnumish(secret) || overlapsPlaceholder(secret) {
			t.Skip()
		}
		carriers := []string{
			" https://portal.example/rest/1/" + secret + "/user.get ",
			" https://portal.example/rest/1/" + secret + "/ ",
			" https://portal.example/rest/1/" + secret + " ",
			" https://portal.example/rest/1/" + secret + "/crm.deal.list.json?start=0 ",
			" https://portal.example/rest/user.get?auth=" + secret + "&x=1 ",
			" auth=" + secret + " ",
			` {"access_token":"` + secret + `"} `,
			` {"refresh_token" : "` + secret + `", "x":1} `,
			"\nAuthorization: Bearer " + secret + "\n",
			"\nauthorization: bearer " + secret,
			` {"body":"{\"auth\":\"` + secret + `\"}"} `,
			" next=%3Fauth%3D" + secret + "%26x%3D1 ",
			" event=X&auth[access_token]=" + secret + "&auth[domain]=d ",
			` {"u":"https:\/\/portal.example\/rest\/1\/` + secret + `\/user.get"} `,
		}
		for _, c := range carriers {
			// Skip when the secret is also plain text elsewhere: then it
			// legitimately stays unless passed as a literal.
			if strings.Contains(prefix, secret) || strings.Contains(suffix, secret) ||
				strings.Contains(strings.Replace(c, secret, " ", 1), secret) {
				continue
			}
			out := String(prefix + c + suffix)
			if strings.Contains(out, secret) {
				t.Fatalf("secret %q leaked via carrier %q:\n%s", secret, c, out)
			}
		}
		// Literal: anywhere, raw or escaped, regardless of context.
		in := prefix + secret + suffix + url.QueryEscape(secret) + prefix + url.PathEscape(secret)
		if out := String(in, secret); strings.Contains(out, secret) {
			t.Fatalf("literal secret %q leaked:\n%s", secret, out)
		}
		var s Secrets
		s.Add(secret)
		if out := s.String(in); strings.Contains(out, secret) {
			t.Fatalf("Secrets leaked %q:\n%s", secret, out)
		}
	})
}

// alnumish reports whether s is made of characters real Bitrix24 codes and
// tokens use.
func alnumish(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// overlapsPlaceholder reports whether s could be formed from Placeholder
// plus adjacent text, which would be a false alarm rather than a leak.
func overlapsPlaceholder(s string) bool {
	for k := 1; k <= len(Placeholder) && k <= len(s); k++ {
		if strings.HasSuffix(s, Placeholder[:k]) || strings.HasPrefix(s, Placeholder[len(Placeholder)-k:]) {
			return true
		}
	}
	return strings.Contains(s, Placeholder)
}

func BenchmarkString(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"no_trigger", "2024-05-01T10:00:00Z INFO request done method=crm.deal.list status=200 latency=31ms"},
		{"webhook_url", `Post "https://b24.example/rest/1/abc123def456/crm.deal.list.json?start=50": context deadline exceeded`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				_ = String(bc.in)
			}
		})
	}
}

// Pinned secrets (a client secret, a webhook code) are never dropped, however many
// rotating ones come after them.
func TestPinnedSecretsSurviveRotation(t *testing.T) {
	var s Secrets
	s.AddPinned("client-secret-0123456789")
	for i := 0; i < 3*maxSecrets; i++ {
		s.Add(fmt.Sprintf("rotating-%06d", i))
	}
	assert.Equal(t, "x "+R+" y", s.String("x client-secret-0123456789 y"))
	assert.Equal(t, "x rotating-000000 y", s.String("x rotating-000000 y"), "the oldest rotating one is gone")
	assert.Len(t, s.List(), maxSecrets+1)
	s.Add("client-secret-0123456789") // already pinned: not added twice
	assert.Len(t, s.List(), maxSecrets+1)
}
