package bitrix24test_test

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/b24go/bitrix24/bitrix24test"
)

func ExampleNewServer() {
	srv := bitrix24test.NewServer()
	defer srv.Close()
	hc := srv.Client()
	defer hc.CloseIdleConnections()

	body := fmt.Sprintf(`{"auth":%q,"options":{"greeting":"hello"}}`, srv.Token().AccessToken)
	res, err := hc.Post(srv.URL+"/rest/user.option.set", "application/json", strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	res.Body.Close()

	// Webhooks have no application context.
	res, err = hc.Post(srv.WebhookURL()+"user.option.get", "application/json", strings.NewReader(`{}`))
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.NewDecoder(res.Body).Decode(&e)
	fmt.Println(res.StatusCode, e.Error, e.Description)
	fmt.Println(srv.UserOptions(srv.OAuthConfig().ClientID, 1))
	// Output:
	// 403 ACCESS_DENIED Access denied! Application context required
	// map[greeting:hello]
}
