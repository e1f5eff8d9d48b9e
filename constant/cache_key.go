package constant

// Cache key formats shared by every instance. They are part of the
// on-Redis layout, so changing one is a migration.
const (
	CacheKeyUserQuota  = "user_quota:%d"
	CacheKeyUser       = "user:%d"
	CacheKeyToken      = "token:%s"
	CacheKeyTokenQuota = "token_quota:%d"
	CacheKeyInvalidate = "sluice:invalidate"
)
