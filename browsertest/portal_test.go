package browsertest

import (
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// bx24Stub stands in for the BX24 library (https://api.bitrix24.com/api/v1/), which no
// registry serves. Like the real one it reads DOMAIN|PROTOCOL|APP_SID from the frame's
// name, posts "method:JSON:callback:APP_SID" to the portal's origin and waits for the
// portal's answer to getInitData before BX24.init's callbacks run. It records every
// call in window.__bx24stub.calls (parameters copied as JSON when called).
const bx24Stub = `(function () {
  'use strict';
  var q = String(window.name || '').split('|');
  var domain = (q[0] || '').replace(/:(80|443)$/, '');
  var protocol = parseInt(q[1], 10) || 0;
  var sid = q[2] || '';
  var portalOrigin = (protocol ? 'https' : 'http') + '://' + domain;
  var calls = [], callbacks = {}, seq = 0, ready = false, waiting = [];
  function copy(v) { return v === undefined ? null : JSON.parse(JSON.stringify(v)); }
  function send(method, params, cb) {
    var id = '';
    if (typeof cb === 'function') { id = 'cb' + (++seq); callbacks[id] = cb; }
    parent.postMessage(method + ':' + (params === undefined ? '' : JSON.stringify(params)) + ':' + id + ':' + sid, portalOrigin);
  }
  window.addEventListener('message', function (e) {
    if (e.origin !== portalOrigin || e.source !== parent) { return; }
    var s = String(e.data), i = s.indexOf(':'), id = s.slice(0, i), cb = callbacks[id];
    if (cb) { delete callbacks[id]; cb(JSON.parse(s.slice(i + 1))); }
  });
  window.BX24 = {
    init: function (cb) {
      calls.push({method: 'init'});
      if (ready) { setTimeout(cb, 0); return; }
      waiting.push(cb);
      if (waiting.length > 1) { return; }
      send('getInitData', undefined, function () {
        ready = true;
        var w = waiting; waiting = [];
        w.forEach(function (f) { f(); });
      });
    },
    placement: {
      call: function (command, params, cb) {
        calls.push({method: 'placement.call', command: command, params: copy(params)});
        send(command, params, cb);
      }
    },
    fitWindow: function (cb) {
      calls.push({method: 'fitWindow'});
      send('resizeWindow', {width: '100%', height: document.documentElement.scrollHeight}, cb);
    }
  };
  window.__bx24stub = {calls: calls};
})();
`

// portalPage is what the portal's card page does for a USERFIELD_TYPE field
// (bitrix:app.layout and BX.rest.UserField): an iframe named DOMAIN|PROTOCOL|APP_SID, a
// hidden form POSTed into it, hidden inputs holding the field's value, and a message
// listener that takes only the handler's origin and this frame's APP_SID, answers
// getInitData and resizeWindow, and in edit mode replaces the hidden inputs on
// setValue. window.portal records what it got.
var portalPage = template.Must(template.New("portal").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { margin: 0; font: 14px/1.4 "Helvetica Neue", Arial, sans-serif; background: #eef2f4; color: #333; }
.card { margin: 16px; background: #fff; border-radius: 8px; padding: 14px 20px 10px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
.title { font-size: 17px; margin-bottom: 10px; }
.label { color: #80868e; font-size: 12px; margin-bottom: 2px; }
iframe { display: block; width: 100%; border: 0; }
</style>
</head>
<body>
<div class="card">
<div class="title">{{.Title}}</div>
<div class="label">{{.Label}}</div>
<form id="card" onsubmit="return false"><div id="uf_rest_value_{{.FieldName}}">{{range .Values}}<input type="hidden" name="{{$.FieldName}}" value="{{.}}">{{end}}</div></form>
<iframe id="appframe" name="{{.FrameName}}" style="height: {{.Height}}px"></iframe>
</div>
<form id="appform" method="POST" action="{{.Action}}" target="{{.FrameName}}">{{range .Form}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">{{end}}</form>
<script>
(function () {
  var appOrigin = {{.AppOrigin}}, appSid = {{.AppSID}}, mode = {{.Mode}}, field = {{.FieldName}};
  var portal = window.portal = {loads: 0, messages: [], ignored: []};
  var frame = document.getElementById('appframe');
  frame.addEventListener('load', function () { portal.loads++; });
  function answer(source, cb, result) {
    if (cb) { source.postMessage(cb + ':' + JSON.stringify(result === undefined ? null : result), appOrigin); }
  }
  window.addEventListener('message', function (e) {
    if (e.origin !== appOrigin || e.source !== frame.contentWindow) { portal.ignored.push(String(e.origin)); return; }
    var parts = String(e.data).split(':');
    if (parts.length < 4 || parts[parts.length - 1] !== appSid) { portal.ignored.push(String(e.data)); return; }
    var method = parts[0], cb = parts[parts.length - 2], raw = parts.slice(1, -2).join(':');
    var params = raw === '' ? null : JSON.parse(raw);
    portal.messages.push({method: method, params: params});
    switch (method) {
    case 'getInitData':
      answer(e.source, cb, {PLACEMENT: 'USERFIELD_TYPE', APP_SID: appSid});
      break;
    case 'resizeWindow':
      if (params && params.height > 0) { frame.style.height = params.height + 'px'; }
      answer(e.source, cb, params);
      break;
    case 'setValue':
      if (mode === 'edit') {
        var values = Array.isArray(params) ? params : [params];
        var box = document.getElementById('uf_rest_value_' + field);
        box.textContent = '';
        values.forEach(function (v) {
          var input = document.createElement('input');
          input.type = 'hidden'; input.name = field; input.value = v;
          box.appendChild(input);
        });
        if (box.firstChild) { box.firstChild.dispatchEvent(new Event('change', {bubbles: true})); }
      }
      answer(e.source, cb, null);
      break;
    default:
      answer(e.source, cb, null);
    }
  });
  document.getElementById('appform').submit();
})();
</script>
</body>
</html>
`))

// card is a portal page framing one field.
type card struct {
	Title, Label string
	FieldName    string
	Mode         string
	Values       []string // the card form's current value (hidden inputs)
	Height       int
}

type formField struct{ Name, Value string }

// render builds the portal's page that posts req (a bitrix24test placement request)
// into its frame.
func (c card) render(t *testing.T, req *http.Request) string {
	t.Helper()
	body, err := io.ReadAll(req.Body)
	require.NoError(t, err)
	var form []formField
	for _, kv := range strings.Split(string(body), "&") {
		k, v, _ := strings.Cut(kv, "=")
		name, err := url.QueryUnescape(k)
		require.NoError(t, err)
		value, err := url.QueryUnescape(v)
		require.NoError(t, err)
		form = append(form, formField{name, value})
	}
	q := req.URL.Query()
	frameName := q.Get("DOMAIN") + "|" + q.Get("PROTOCOL") + "|" + q.Get("APP_SID")
	if c.Height == 0 {
		c.Height = 60
	}
	var out strings.Builder
	require.NoError(t, portalPage.Execute(&out, map[string]any{
		"Title": c.Title, "Label": c.Label, "FieldName": c.FieldName, "Mode": c.Mode,
		"Values": c.Values, "Height": c.Height,
		"FrameName": frameName,
		"Action":    req.URL.String(),
		"Form":      form,
		"AppOrigin": req.URL.Scheme + "://" + req.URL.Host,
		"AppSID":    q.Get("APP_SID"),
	}))
	return out.String()
}

// forgeAuth replaces the AUTH_ID of a placement request, as anyone can.
func forgeAuth(t *testing.T, req *http.Request, authID string) *http.Request {
	t.Helper()
	body, err := io.ReadAll(req.Body)
	require.NoError(t, err)
	form, err := url.ParseQuery(string(body))
	require.NoError(t, err)
	require.NotEmpty(t, form.Get("AUTH_ID"))
	form.Set("AUTH_ID", authID)
	forged, err := http.NewRequestWithContext(req.Context(), http.MethodPost, req.URL.String(), strings.NewReader(form.Encode()))
	require.NoError(t, err)
	return forged
}
