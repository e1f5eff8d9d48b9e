package middleware

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"sluice/common"
	"sluice/common/metrics"
	"sluice/constant"
	"sluice/model"
	"sluice/relay/relayerr"
)

// apiKeyOf finds the client's key in the places each dialect puts it.
func apiKeyOf(c *gin.Context) string {
	if v := c.GetHeader("Authorization"); v != "" {
		if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
			return strings.TrimSpace(v[7:])
		}
		return strings.TrimSpace(v)
	}
	if v := c.GetHeader("x-api-key"); v != "" {
		return v
	}
	if v := c.GetHeader("x-goog-api-key"); v != "" {
		return v
	}
	if strings.HasPrefix(c.Request.URL.Path, "/v1beta") {
		return c.Query("key")
	}
	// Browsers cannot set headers on a WebSocket: Realtime clients send
	// the key as the subprotocol openai-insecure-api-key.<key>.
	if v := c.GetHeader("Sec-WebSocket-Protocol"); v != "" {
		return subprotocolKey(v)
	}
	return ""
}

// lookupKey resolves a presented key, honouring the admin channel pin
// "sk-…-<channel id>": the full string is tried first, so a key that
// itself ends in -digits still works.
func lookupKey(cache *model.Cache, key string) (*model.TokenEntry, int) {
	if t := cache.TokenByHash(common.HashSecret(key)); t != nil {
		return t, 0
	}
	i := strings.LastIndexByte(key, '-')
	if i <= 3 {
		return nil, 0
	}
	id, err := strconv.Atoi(key[i+1:])
	if err != nil || id <= 0 {
		return nil, 0
	}
	if t := cache.TokenByHash(common.HashSecret(key[:i])); t != nil {
		return t, id
	}
	return nil, 0
}

// TokenAuth authenticates a relay request by its API key, entirely from
// memory: key status, expiry, IP allow list and the owner's status.
func TokenAuth(cache *model.Cache) gin.HandlerFunc {
	return func(c *gin.Context) {
		key := apiKeyOf(c)
		if key == "" {
			AbortRelay(c, relayerr.New(relayerr.KindUnauthorized, "no API key provided; send Authorization: Bearer sk-…"))
			return
		}
		entry, pin := lookupKey(cache, key)
		if entry == nil {
			metrics.CacheMiss("token")
			AbortRelay(c, relayerr.New(relayerr.KindUnauthorized, "invalid API key"))
			return
		}
		metrics.CacheHit("token")
		t := entry.Info()
		switch {
		case t.Status == constant.TokenStatusDisabled:
			AbortRelay(c, relayerr.New(relayerr.KindForbidden, "this API key is disabled").WithCode("token_disabled"))
			return
		case t.Status == constant.TokenStatusExpired || t.Expired(time.Now()):
			AbortRelay(c, relayerr.New(relayerr.KindForbidden, "this API key has expired").WithCode("token_expired"))
			return
		// A spent balance is refused by the reservation (429 as well), which
		// reads the shared balance; the mirror here may lag other instances.
		case t.Status == constant.TokenStatusExhausted:
			AbortRelay(c, relayerr.New(relayerr.KindQuotaExceeded, "this API key's quota is exhausted"))
			return
		}
		if len(t.AllowIPs) > 0 || t.DenyAll {
			ip, err := netip.ParseAddr(c.ClientIP())
			if err != nil || !t.AllowsIP(ip) {
				AbortRelay(c, relayerr.New(relayerr.KindForbidden, "this API key may not be used from your IP address").WithCode("ip_not_allowed"))
				return
			}
		}
		user := cache.UserEntry(t.UserID)
		if user == nil || user.Info().Status != constant.UserStatusEnabled {
			AbortRelay(c, relayerr.New(relayerr.KindForbidden, "the account owning this API key is disabled").WithCode("user_disabled"))
			return
		}
		if pin != 0 {
			if user.Info().Role < constant.RoleAdmin {
				AbortRelay(c, relayerr.New(relayerr.KindForbidden, "only administrators may pin a channel"))
				return
			}
			c.Set(constant.CtxPinnedChan, pin)
		}
		c.Set(constant.CtxToken, entry)
		c.Set(constant.CtxUser, user)
		c.Next()
	}
}
