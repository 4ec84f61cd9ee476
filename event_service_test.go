package bitrix24_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/b24go/bitrix24"
	"github.com/b24go/bitrix24/bitrix24test"
)

func TestEventBindListUnbind(t *testing.T) {
	srv := newEventPortal(t)
	app := srv.NewClient()
	ctx := context.Background()
	online := bitrix24.EventBinding{Event: "ONCRMDEALADD", Handler: "https://tool.example.com/events"}
	asUser := bitrix24.EventBinding{Event: "ONCRMDEALUPDATE", Handler: "https://tool.example.com/events", AuthType: 1}
	offline := bitrix24.EventBinding{Event: "ONCRMDEALADD", Offline: true}
	sync := bitrix24.EventBinding{Event: "ONCRMDEALUPDATE", Offline: true, Connector: "sync"}
	for _, b := range []bitrix24.EventBinding{online, asUser, offline, sync} {
		require.NoError(t, app.Event.Bind(ctx, b), "%+v", b)
	}
	got, err := app.Event.Bindings(ctx)
	require.NoError(t, err)
	assert.Equal(t, []bitrix24.EventBinding{online, asUser, offline, sync}, got)

	err = app.Event.Bind(ctx, offline)
	assert.ErrorIs(t, err, bitrix24.ErrCore, "the same binding twice")

	for _, b := range []bitrix24.EventBinding{asUser, sync} {
		require.NoError(t, app.Event.Unbind(ctx, b))
	}
	got, err = app.Event.Bindings(ctx)
	require.NoError(t, err)
	assert.Equal(t, []bitrix24.EventBinding{online, offline}, got, "Unbind removes exactly its binding")
	require.NoError(t, app.Event.Unbind(ctx, sync), "removing what is not bound is not an error")

	last, ok := srv.LastRequest("event.unbind")
	require.True(t, ok)
	assert.Equal(t, "sync", last.Connector, "an offline binding's connector travels as auth_connector")
	assert.Equal(t, "offline", last.Params["event_type"])
}

func TestEventBindServerRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("event outside the application's scope", func(t *testing.T) {
		srv := bitrix24test.New(t) // placement,user: no crm
		err := srv.NewClient().Event.Bind(ctx, bitrix24.EventBinding{Event: "ONCRMDEALADD", Offline: true})
		assert.ErrorIs(t, err, bitrix24.ErrEventNotFound)
	})
	t.Run("webhook", func(t *testing.T) {
		srv := newEventPortal(t)
		err := srv.NewWebhookClient().Event.Bind(ctx, bitrix24.EventBinding{Event: "ONCRMDEALADD", Offline: true})
		assert.ErrorIs(t, err, bitrix24.ErrWrongAuthType)
		_, err = srv.NewWebhookClient().Event.Bindings(ctx)
		assert.ErrorIs(t, err, bitrix24.ErrWrongAuthType)
	})
	t.Run("offline needs an administrator", func(t *testing.T) {
		srv := newEventPortal(t)
		srv.AddUser(7, false)
		c, err := bitrix24.NewOAuthClient(srv.OAuthConfigForUser(7), bitrix24.WithHTTPClient(srv.Client()))
		require.NoError(t, err)
		err = c.Event.Bind(ctx, bitrix24.EventBinding{Event: "ONCRMDEALADD", Offline: true})
		assert.ErrorIs(t, err, bitrix24.ErrAccessDenied)
		for _, err := range c.Event.Offline(ctx) {
			assert.ErrorIs(t, err, bitrix24.ErrAccessDenied)
		}
		require.NoError(t, c.Event.Bind(ctx, bitrix24.EventBinding{Event: "ONCRMDEALADD", Handler: "https://a.example.com/h"}),
			"a user binds online handlers for themself")
		got, err := c.Event.Bindings(ctx)
		require.NoError(t, err)
		assert.Equal(t, []bitrix24.EventBinding{{Event: "ONCRMDEALADD", Handler: "https://a.example.com/h", AuthType: 7}}, got)
	})
}

func TestEventBindValidation(t *testing.T) {
	srv := newEventPortal(t)
	app := srv.NewClient()
	for name, b := range map[string]bitrix24.EventBinding{
		"no event":               {Handler: "https://a.example.com/h"},
		"event with a dot":       {Event: "ONCRM.DEALADD", Handler: "https://a.example.com/h"},
		"online without handler": {Event: "ONCRMDEALADD"},
		"relative handler":       {Event: "ONCRMDEALADD", Handler: "/events"},
		"bare host":              {Event: "ONCRMDEALADD", Handler: "https://localhost/events"},
		"ftp handler":            {Event: "ONCRMDEALADD", Handler: "ftp://a.example.com/h"},
		"upper-case scheme":      {Event: "ONCRMDEALADD", Handler: "HTTPS://a.example.com/h"},
		"negative auth type":     {Event: "ONCRMDEALADD", Handler: "https://a.example.com/h", AuthType: -1},
		"online with connector":  {Event: "ONCRMDEALADD", Handler: "https://a.example.com/h", Connector: "x"},
		"offline with handler":   {Event: "ONCRMDEALADD", Offline: true, Handler: "https://a.example.com/h"},
		"offline with user":      {Event: "ONCRMDEALADD", Offline: true, AuthType: 3},
		"offline ONOFFLINEEVENT": {Event: "onOfflineEvent", Offline: true},
	} {
		err := app.Event.Bind(context.Background(), b)
		assert.ErrorIs(t, err, bitrix24.ErrValidation, name)
		err = app.Event.Unbind(context.Background(), b)
		assert.ErrorIs(t, err, bitrix24.ErrValidation, name)
	}
	assert.Zero(t, srv.Requests(""), "nothing was sent")
}

// The fake refuses what the client would have refused: checked with raw calls.
func TestEventBindFakeFollowsTheServer(t *testing.T) {
	srv := newEventPortal(t)
	app := srv.NewClient()
	ctx := context.Background()
	for _, tc := range []struct {
		params map[string]any
		want   error
	}{
		{map[string]any{"event": "ONCRMDEALADD", "handler": "https://localhost/h"}, bitrix24.ErrWrongHandlerURL},
		{map[string]any{"event": "ONCRMDEALADD", "handler": "ftp://a.example.com/h"}, bitrix24.ErrWrongHandlerURL},
		{map[string]any{"event": "ONCRMDEALADD"}, bitrix24.ErrArgument},
		{map[string]any{"handler": "https://a.example.com/h"}, bitrix24.ErrArgument},
		{map[string]any{"event": "ONOFFLINEEVENT", "event_type": "offline"}, bitrix24.ErrArgument},
		{map[string]any{"event": "ONCRMDEALADD", "event_type": "sometimes"}, bitrix24.ErrArgument},
		{map[string]any{"event": "ONNOSUCHTHING", "event_type": "offline"}, bitrix24.ErrEventNotFound},
	} {
		err := app.Call(ctx, "event.bind", tc.params, nil)
		assert.ErrorIs(t, err, tc.want, "%v", tc.params)
	}
	require.NoError(t, app.Call(ctx, "event.bind", map[string]any{"event": "oncrmdealadd", "event_type": "OFFLINE"}, nil))
	got, err := app.Event.Bindings(ctx)
	require.NoError(t, err)
	assert.Equal(t, []bitrix24.EventBinding{{Event: "ONCRMDEALADD", Offline: true}}, got, "names are upper-cased")
}

// A connector travels beside the token; a batch has one for all its commands, so calls
// that carry one are never coalesced by WithAutoBatch.
func TestEventConnectorCallsBypassAutoBatch(t *testing.T) {
	srv := newEventPortal(t)
	app := srv.NewClient(bitrix24.WithAutoBatch(time.Millisecond))
	ctx := context.Background()
	sync := bitrix24.EventBinding{Event: "ONCRMDEALUPDATE", Offline: true, Connector: "sync"}
	plain := bitrix24.EventBinding{Event: "ONCRMDEALUPDATE", Offline: true}
	require.NoError(t, app.Event.Bind(ctx, sync))
	require.NoError(t, app.Event.Bind(ctx, plain))
	require.NoError(t, app.Event.Unbind(ctx, sync))
	got, err := app.Event.Bindings(ctx)
	require.NoError(t, err)
	assert.Equal(t, []bitrix24.EventBinding{plain}, got, "the connector's binding went, the other stayed")
	for _, r := range srv.RequestLog().ForMethod("batch") {
		assert.NotContains(t, string(r.Body), "auth_connector")
	}
	require.NoError(t, app.Call(ctx, "server.time", nil, nil, bitrix24.WithAuthConnector("sync")))
	last, ok := srv.LastRequest("server.time")
	require.True(t, ok)
	assert.Equal(t, "sync", last.Connector)
}
