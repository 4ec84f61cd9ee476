package bitrix24redis

// EveryTick lets the external tests drive miniredis's clock with the ticker the lock uses.
var EveryTick = everyTick
