package middleware

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"sluice/common"
	"sluice/constant"
	"sluice/model"
)

// SessionCookie is the admin session cookie's name.
const SessionCookie = "sluice_session"

// sessionTTL bounds how long a stolen cookie stays useful.
const sessionTTL = 7 * 24 * time.Hour

// Sessions signs and checks admin session cookies. The cookie holds only
// the user id and expiry, signed with SESSION_SECRET; role and status are
// read fresh from the cache on each request, so demoting or disabling a
// user takes effect at once.
type Sessions struct {
	Secret []byte
	Store  *model.Store
	Cache  *model.Cache
	// Secure forces Secure cookies; they are also Secure whenever the
	// request came over TLS or through a proxy that says it did.
	Secure bool
}

func (s *Sessions) secure(c *gin.Context) bool {
	return s.Secure || c.Request.TLS != nil || strings.EqualFold(c.GetHeader("X-Forwarded-Proto"), "https")
}

func (s *Sessions) sign(payload string) string {
	m := hmac.New(sha256.New, s.Secret)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Issue sets a session cookie for user id, bound to the user's current
// session epoch so that logging out or changing the password ends it.
func (s *Sessions) Issue(c *gin.Context, userID int, epoch int64) {
	payload := strconv.Itoa(userID) + "." + strconv.FormatInt(epoch, 10) + "." +
		strconv.FormatInt(time.Now().Add(sessionTTL).Unix(), 10)
	http.SetCookie(c.Writer, &http.Cookie{Name: SessionCookie, Value: payload + "." + s.sign(payload), Path: "/",
		MaxAge: int(sessionTTL.Seconds()), HttpOnly: true, Secure: s.secure(c), SameSite: http.SameSiteStrictMode})
}

// Clear removes the session cookie.
func (s *Sessions) Clear(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.secure(c), SameSite: http.SameSiteStrictMode})
}

// userFromCookie returns the user id and session epoch a valid, unexpired
// cookie carries (0 when there is none).
func (s *Sessions) userFromCookie(c *gin.Context) (int, int64) {
	v, err := c.Cookie(SessionCookie)
	if err != nil || v == "" {
		return 0, 0
	}
	i := strings.LastIndexByte(v, '.')
	if i < 0 || !hmac.Equal([]byte(s.sign(v[:i])), []byte(v[i+1:])) {
		return 0, 0
	}
	parts := strings.Split(v[:i], ".")
	if len(parts) != 3 {
		return 0, 0
	}
	id, err1 := strconv.Atoi(parts[0])
	epoch, err2 := strconv.ParseInt(parts[1], 10, 64)
	exp, err3 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || time.Now().Unix() > exp {
		return 0, 0
	}
	return id, epoch
}

// authenticate resolves the caller: a bearer access token, or the session
// cookie plus a matching New-Api-User header (which also blocks CSRF: a
// cross-site form cannot set it).
func (s *Sessions) authenticate(c *gin.Context) (*model.UserInfo, int, string) {
	header := c.GetHeader("New-Api-User")
	id, epoch, cookie := 0, int64(0), false
	if auth := c.GetHeader("Authorization"); auth != "" {
		tok := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(auth, "Bearer "), "bearer "))
		if tok == "" {
			return nil, http.StatusUnauthorized, "invalid access token"
		}
		u, err := s.Store.UserByAccessTokenHash(common.HashSecret(tok))
		if err != nil {
			return nil, http.StatusUnauthorized, "invalid access token"
		}
		id = u.ID
		if header != "" && header != strconv.Itoa(id) {
			return nil, http.StatusUnauthorized, "New-Api-User does not match the access token"
		}
	} else {
		id, epoch = s.userFromCookie(c)
		cookie = true
		if id == 0 {
			return nil, http.StatusUnauthorized, "not logged in"
		}
		if header != strconv.Itoa(id) {
			return nil, http.StatusUnauthorized, "New-Api-User header missing or does not match the session"
		}
	}
	e := s.Cache.UserEntry(id)
	if e == nil {
		return nil, http.StatusUnauthorized, "user no longer exists"
	}
	u := e.Info()
	if cookie && epoch != u.SessionEpoch {
		return nil, http.StatusUnauthorized, "session ended; log in again"
	}
	if u.Status != constant.UserStatusEnabled {
		return nil, http.StatusForbidden, "this account is disabled"
	}
	return u, 0, ""
}

// Auth admits users with at least minRole.
func (s *Sessions) Auth(minRole int) gin.HandlerFunc {
	return func(c *gin.Context) {
		u, status, msg := s.authenticate(c)
		if u == nil {
			AbortAPI(c, status, msg)
			return
		}
		if u.Role < minRole {
			AbortAPI(c, http.StatusForbidden, "insufficient privileges")
			return
		}
		c.Set(constant.CtxSessionUser, u)
		c.Next()
	}
}

// TryAuth sets the caller when credentials are present and valid, and
// lets anonymous requests through (for pages with a logged-in view).
func (s *Sessions) TryAuth() gin.HandlerFunc {
	return func(c *gin.Context) {
		if u, _, _ := s.authenticate(c); u != nil {
			c.Set(constant.CtxSessionUser, u)
		}
		c.Next()
	}
}

// SessionUser returns the authenticated caller, or nil.
func SessionUser(c *gin.Context) *model.UserInfo {
	if v, ok := c.Get(constant.CtxSessionUser); ok {
		return v.(*model.UserInfo)
	}
	return nil
}

// CookieUser returns the user id and epoch of a valid session cookie on
// the request, or 0.
func (s *Sessions) CookieUser(c *gin.Context) (int, int64) { return s.userFromCookie(c) }
