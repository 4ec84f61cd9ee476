// Package bitrix24redis shares what Bitrix24 counts per portal between processes and
// machines, on Redis (github.com/redis/go-redis/v9):
//
//   - [Limiter], one leaky bucket per portal for every process that calls it, so that
//     together they stay within the portal's request budget (Bitrix24 counts requests per
//     portal and source IP, not per process). Pass it to [bitrix24.WithLimiter].
//   - [TokenStore], one OAuth token pair per portal installation, with a lock so that one
//     process refreshes it per expiry. Set it as [bitrix24.OAuthConfig].Store.
//
// Both take a [redis.UniversalClient]: a *redis.Client, a *redis.ClusterClient or a
// failover client. Every call has a deadline: when Redis is unreachable, calls fail with
// an error within the context's deadline (or go-redis's dial and read timeouts), never
// hang and never report success.
//
// It needs Redis 5 or newer (its Lua scripts read TIME before they write), or a server
// that speaks the same protocol and scripting (Valkey, KeyDB, miniredis in tests).
//
// The package is a module of its own (github.com/b24go/bitrix24/bitrix24redis) so that
// the root module does not depend on go-redis.
package bitrix24redis
