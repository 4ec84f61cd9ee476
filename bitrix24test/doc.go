// Package bitrix24test runs an in-process fake Bitrix24 portal, together with its
// OAuth token endpoint, for integration tests, in the manner of net/http/httptest.
//
// The fake follows the wire behaviour of the real server's source (module rest,
// CRestServer/CRestProvider), not an idealised reading of the documentation: error
// codes, descriptions and HTTP statuses, the pipeline order (method lookup before
// authentication), PHP's JSON quirks (an empty map is [], keys 0..n-1 make a list,
// "\u0027"-style escaping), the leaky-bucket QUERY_LIMIT_EXCEEDED (503) and the
// per-method OPERATION_TIME_LIMIT (429).
//
// It implements user.option.get/set, app.option.get/set, userfieldtype.add/update/
// list/delete, crm.item.list/add/update/delete, event.bind/unbind/get,
// event.offline.get/clear/error/list, batch, scope, methods, server.time and profile,
// for one installed application (more with [Server.InstallApp]) and one inbound webhook
// of user 1. CRM changes keep offline events for the offline bindings, as a portal does
// ([Server.OfflineEvents], [Server.SetOfflineExtended]; methods_eventoffline.go).
//
//	srv := bitrix24test.New(t)  // closed when the test ends
//	client := srv.NewClient()    // a *bitrix24.Client with test-friendly retries
//
// Every method of *Server is safe for concurrent use.
//
// # Programming the portal
//
//   - [Server.Handle], [Server.HandleResult] and [Server.HandleError] add methods the
//     fake does not know (or replace one); they run through the whole pipeline.
//   - [Server.InjectFault] makes the next calls fail like a proxy or the network would.
//   - [Server.RequestLog] lists every request with its user, status and error code.
//   - [Server.SetUserOptions], [Server.SetAppOptions], [Server.AddUserFieldType] and
//     [Server.AddUser] seed state; [Server.Snapshot] and [Server.Restore] save and bring
//     back the whole portal.
//   - [Server.ExpireAccessToken], [Server.RevokeRefreshTokens], [Server.SetCommercialPlan],
//     [Server.SetAppBlocked] and the other admin controls change what the portal answers.
//
// # Playing the attacker
//
// [Server.ForgeEvent] builds the event an ordinary user of the application can forge (his
// own genuine pair and the application_token its pages show); a form sent twice with
// [Server.SendEvent] is a replay. [Server.AddAuthServer] and [Server.UseAuthServer] play a
// second authorization server (as oauth.bitrix24.tech answers for some regions), which
// knows only the pairs it issued. [Server.Uninstall] revokes the application's tokens as
// the portal does before it posts ONAPPUNINSTALL ([Server.SendUninstall]).
//
// # Pipeline
//
// Each /rest/ request goes through: fault injection ([Server.InjectFault]), the
// portal's leaky bucket (QUERY_LIMIT_EXCEEDED), the transport suffix, PORTAL_DELETED,
// method lookup (ERROR_METHOD_NOT_FOUND, before authentication), authentication with
// the scope check, the operating-time check (OPERATION_TIME_LIMIT), then the method.
//
// # Choices where the real server is not fully known
//
//   - ".xml" answers 500 INTERNAL_WRONG_TRANSPORT "Wrong transport!" (the fake does not
//     speak XML).
//   - Webhook credentials in the path win over a token; without a token, aplogin/ap
//     query or body parameters work like the path. aplogin must be the numeric user id.
//   - invalid_token says "The access token provided is invalid". The token endpoint
//     answers invalid_request (400) for a grant type other than refresh_token,
//     invalid_client (401) for an unknown client or wrong secret, invalid_grant (400)
//     for an unknown, used or foreign refresh token. A refreshed pair replaces the old
//     refresh token at once; the old access token works until it expires.
//   - The ORM texts after "Error: " (TITLE over 255 characters, TITLE missing in the
//     update quirk) are the fake's own; only the "Error: " prefix is the server's.
//   - A PHP TypeError (e.g. "options" sent as a string) answers 500 with an HTML body.
//   - Go maps have no order: JSON objects the fake builds from them list integer keys
//     first, then the others sorted. Envelopes, list items, batch sections and stored
//     options keep PHP's order. Batch commands run, and options are stored, in the order
//     they were sent (recovered from the raw JSON or form body).
//   - Form and query names nested deeper than PHP's max_input_nesting_level (64) are
//     dropped, as PHP does; a JSON body nested deeper than 512 is ignored like one that
//     does not decode.
//   - The token endpoint answers PAYMENT_REQUIRED "Payment required" with HTTP 402 on a
//     non-commercial plan ([Server.SetCommercialPlan]); the real status is not documented
//     ([WithSystemErrorStatus] changes it). Refresh tokens expire after 180 days of the
//     server's clock (invalid_grant "The refresh token provided has expired").
//   - Option values are stored as received: strings from form data, JSON types from JSON
//     bodies (numbers as json.Number in [Server.UserOptions]).
//   - The batch substitution applies to parameter values, not keys; "$RESULT[...]" (upper
//     case) matches but finds no section, as in the source.
//   - [Server.SetAppBlocked] blocks every application and webhook of the portal.
//   - The burst edge: from an empty bucket exactly burst requests pass and the next is
//     refused (50, then the 51st, on the standard plan): burst is the docs' "limit before
//     blocking", which the official JS SDK's bucket also allows at once.
//   - Repeated slashes in a path count as one (/rest//profile is /rest/profile); the
//     token endpoint also answers at the path derived from [Server.ServerEndpoint]
//     (minus "rest/", plus "oauth/token/"); app.info works on /rest/ for an application
//     and answers a webhook its SCOPE and LICENSE.
package bitrix24test
