// Package bitrix24otel reports the calls of a [bitrix24.Client] to OpenTelemetry: one
// span per call and the metrics that answer "why is it slow or failing?" — the waits
// for the rate limiter, the operating-time budget and token refreshes, the retries, the
// size of batches, and the operating time each method has used.
//
//	client, err := bitrix24.NewWebhookClient(url, bitrix24otel.Instrument())
//
// Spans (kind client) are named by the REST method ("crm.deal.get", "batch") and carry
// bitrix24.method, server.address, http.response.status_code, bitrix24.attempts,
// bitrix24.request_id (the X-Request-ID sent), error.type with status Error on failure,
// and bitrix24.batch.size on batches (automatic ones too, linked to the calls they
// carry). Waits and retries are span events: bitrix24.limiter.wait,
// bitrix24.operating.wait, bitrix24.token.refresh (bitrix24.token.load and .save for the
// token store), bitrix24.retry, and bitrix24.batch for each batch request formed. Each
// refresh at the token endpoint is a span of its own, oauth/token: one refresh serves
// every call that waited for it.
//
// Metrics (instrumentation scope [ScopeName]):
//
//	bitrix24.client.calls            counter    bitrix24.method, outcome (ok|error)
//	bitrix24.client.call.duration    histogram  s, bitrix24.method, outcome
//	bitrix24.client.retries          counter    bitrix24.method, error.type
//	bitrix24.client.limiter.wait     histogram  s, bitrix24.method
//	bitrix24.client.token.refreshes  counter    bitrix24.token.reason, outcome
//	bitrix24.client.operating        gauge      s, bitrix24.method (time.operating)
//	bitrix24.client.operating.wait   histogram  s, bitrix24.method
//	bitrix24.client.token.wait       histogram  s, bitrix24.token.reason
//	bitrix24.client.batch.size       histogram  {command}, bitrix24.batch.auto
//
// No attribute, event or status holds a token, a secret or a webhook code: the client
// hands over errors already scrubbed, the address is the host name alone, and the
// request id is the one sent in the clear.
package bitrix24otel
