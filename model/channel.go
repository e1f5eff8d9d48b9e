package model

import (
	"encoding/json"
	"fmt"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"sluice/common/netguard"
	"sluice/setting/operation_setting"
)

// Channel is one upstream: a provider type, its base URL and credential, and
// the models and groups it serves. Key holds the ciphertext; it is never
// serialised (write-only through the admin API).
type Channel struct {
	ID            int     `json:"id" gorm:"primaryKey"`
	Type          int     `json:"type" gorm:"not null;default:1"`
	Name          string  `json:"name" gorm:"size:128;index"`
	Key           string  `json:"-" gorm:"column:key;type:text;not null"`
	BaseURL       string  `json:"base_url" gorm:"column:base_url;size:512"`
	Models        string  `json:"models" gorm:"type:text"`
	Group         string  `json:"group" gorm:"column:group;size:255;default:default"`
	ModelMapping  string  `json:"model_mapping" gorm:"type:text"`
	Priority      int64   `json:"priority" gorm:"default:0"`
	Weight        uint    `json:"weight" gorm:"default:0"`
	Status        int     `json:"status" gorm:"not null;default:1"`
	AutoBan       int     `json:"auto_ban"`
	Tag           string  `json:"tag" gorm:"size:64;index"`
	Setting       string  `json:"setting" gorm:"type:text"`
	ParamOverride string  `json:"param_override" gorm:"type:text"`
	Headers       string  `json:"headers" gorm:"type:text"`
	CreatedTime   int64   `json:"created_time"`
	TestTime      int64   `json:"test_time"`
	ResponseTime  int     `json:"response_time"`
	UsedQuota     int64   `json:"used_quota" gorm:"default:0"`
	Balance       float64 `json:"balance"`
}

// SplitList splits a comma-separated admin field ("a, b,,c") into trimmed,
// de-duplicated, non-empty items, keeping their order.
func SplitList(s string) []string {
	parts := strings.Split(s, ",")
	out := make([]string, 0, len(parts))
	seen := make(map[string]bool, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out
}

// ValidateChannel checks the fields an operator can get wrong, so a bad
// mapping is refused at save time rather than failing requests later.
func ValidateChannel(c *Channel) error {
	if strings.TrimSpace(c.Name) == "" {
		return fmt.Errorf("channel name is required")
	}
	if len(SplitList(c.Models)) == 0 {
		return fmt.Errorf("channel models are required")
	}
	if c.ModelMapping != "" {
		var m map[string]string
		if err := json.Unmarshal([]byte(c.ModelMapping), &m); err != nil {
			return fmt.Errorf("model_mapping must be a JSON object of strings: %v", err)
		}
	}
	if c.Headers != "" {
		var m map[string]string
		if err := json.Unmarshal([]byte(c.Headers), &m); err != nil {
			return fmt.Errorf("headers must be a JSON object of strings: %v", err)
		}
		if err := ValidateHeaders(m); err != nil {
			return err
		}
	}
	if err := ValidateBaseURL(c.BaseURL); err != nil {
		return err
	}
	if err := validateChannelJSON(c); err != nil {
		return err
	}
	if c.Status == 0 {
		c.Status = 1
	}
	// Stored normalised, so membership filters can match ",name,".
	c.Models = strings.Join(SplitList(c.Models), ",")
	c.Group = strings.Join(SplitList(c.Group), ",")
	return nil
}

// ValidateBaseURL checks a channel's base_url: empty (the provider's
// default), or an http(s) URL with a host. A literal IP address is checked
// against the SSRF policy here, so the admin hears at once that it will be
// refused; a host name is checked when it is dialled (common/netguard).
func ValidateBaseURL(raw string) error {
	if raw == "" {
		return nil
	}
	if !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://") {
		return fmt.Errorf("base_url must start with http:// or https://")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("base_url is not a valid URL")
	}
	if err := netguard.CheckURL(raw, operation_setting.Get().AllowPrivateUpstreams); err != nil {
		return fmt.Errorf("base_url: %v", err)
	}
	return nil
}

// forbiddenHeaders are the channel headers an admin may not set: the
// hop-by-hop headers of RFC 9110 section 7.6.1 and the ones that frame or
// route the request (Host, Content-Length, Transfer-Encoding, Trailer).
// Setting them would desynchronise the request framing or smuggle a second
// request to the upstream. Proxy-* headers are for the proxy hop only.
// Authorization (and x-api-key and the like) may be overridden on purpose:
// some providers need a custom auth scheme.
var forbiddenHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true, "Keep-Alive": true,
	"Upgrade": true, "Te": true, "Trailer": true,
}

// ValidateHeaders checks a channel's extra upstream headers: each name a
// valid header token, not hop-by-hop or framing, not given twice in
// different case; each value free of control characters (CR, LF and NUL
// would split the header block and inject headers or a second request).
func ValidateHeaders(h map[string]string) error {
	seen := make(map[string]string, len(h))
	for name, value := range h {
		if !validHeaderName(name) {
			return fmt.Errorf("headers: %q is not a valid header name", name)
		}
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if forbiddenHeaders[canon] || strings.HasPrefix(canon, "Proxy-") {
			return fmt.Errorf("headers: %q may not be set on a channel (hop-by-hop or framing header)", name)
		}
		if other, dup := seen[canon]; dup {
			return fmt.Errorf("headers: %q and %q name the same header", other, name)
		}
		seen[canon] = name
		for i := 0; i < len(value); i++ {
			if b := value[i]; (b < ' ' && b != '\t') || b == 0x7f {
				return fmt.Errorf("headers: the value of %q contains a control character (CR, LF, NUL or similar)", name)
			}
		}
	}
	return nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0:
		default:
			return false
		}
	}
	return true
}

// CreateChannel encrypts the plaintext key, inserts the channel and its
// abilities in one transaction.
func (s *Store) CreateChannel(c *Channel, plainKey string) error {
	enc, err := s.cipher.Encrypt(plainKey)
	if err != nil {
		return err
	}
	c.Key = enc
	if c.CreatedTime == 0 {
		c.CreatedTime = time.Now().Unix()
	}
	return s.DB.Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(c).Error; err != nil {
			return err
		}
		return replaceAbilities(tx, c)
	})
}

// UpdateChannel replaces a channel's editable fields. An empty plainKey
// keeps the stored credential.
func (s *Store) UpdateChannel(c *Channel, plainKey string) error {
	return s.DB.Transaction(func(tx *gorm.DB) error {
		var old Channel
		if err := tx.First(&old, c.ID).Error; err != nil {
			return notFound(err)
		}
		c.Key = old.Key
		if plainKey != "" {
			enc, err := s.cipher.Encrypt(plainKey)
			if err != nil {
				return err
			}
			c.Key = enc
		}
		c.CreatedTime = old.CreatedTime
		c.UsedQuota = old.UsedQuota
		if err := tx.Select("*").Omit("used_quota", "created_time").Save(c).Error; err != nil {
			return err
		}
		return replaceAbilities(tx, c)
	})
}

// SetChannelStatus switches a channel on or off and its abilities with it.
func (s *Store) SetChannelStatus(id, status int) error {
	return s.DB.Transaction(func(tx *gorm.DB) error {
		// Existence is checked on its own: MySQL reports 0 rows affected
		// when the status is already the one being set.
		var n int64
		if err := tx.Model(&Channel{}).Where("id = ?", id).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if err := tx.Model(&Channel{}).Where("id = ?", id).Update("status", status).Error; err != nil {
			return err
		}
		return tx.Model(&Ability{}).Where("channel_id = ?", id).Update("enabled", status == 1).Error
	})
}

// DeleteChannel removes a channel and its abilities.
func (s *Store) DeleteChannel(id int) error {
	return s.DB.Transaction(func(tx *gorm.DB) error {
		res := tx.Delete(&Channel{}, id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return tx.Where("channel_id = ?", id).Delete(&Ability{}).Error
	})
}

// ChannelByID loads one channel (key still encrypted).
func (s *Store) ChannelByID(id int) (*Channel, error) {
	var c Channel
	if err := s.DB.First(&c, id).Error; err != nil {
		return nil, notFound(err)
	}
	return &c, nil
}

// ChannelKey decrypts a channel's credential.
func (s *Store) ChannelKey(c *Channel) (string, error) {
	return s.cipher.Decrypt(c.Key)
}

// AllChannels loads every channel (for the cache).
func (s *Store) AllChannels() ([]Channel, error) {
	var cs []Channel
	err := s.DB.Order("id").Find(&cs).Error
	return cs, err
}

// ChannelFilter narrows ListChannels.
type ChannelFilter struct {
	Keyword  string
	Group    string
	Model    string
	Tag      string
	Status   int
	Type     int
	Page     int
	PageSize int
}

// ListChannels returns one page of channels and the total.
func (s *Store) ListChannels(f ChannelFilter) ([]Channel, int64, error) {
	q := s.DB.Model(&Channel{})
	if kw := strings.TrimSpace(f.Keyword); kw != "" {
		like := "%" + likeEscaper.Replace(strings.ToLower(kw)) + "%"
		cond := "LOWER(name) LIKE ? ESCAPE '!' OR LOWER(base_url) LIKE ? ESCAPE '!'"
		args := []any{like, like}
		if id, err := strconv.Atoi(kw); err == nil && id > 0 {
			cond = "id = ? OR " + cond
			args = append([]any{id}, args...)
		}
		q = q.Where("("+cond+")", args...)
	}
	if f.Group != "" {
		// Membership in the comma list, not a substring: "vip" must not
		// match a channel of group "supervip" only.
		list := "(',' || " + quoteCol(s.DB, "group") + " || ',')"
		if dialectOf(s.DB) == DialectMySQL {
			list = "CONCAT(',', " + quoteCol(s.DB, "group") + ", ',')"
		}
		q = q.Where(list+" LIKE ? ESCAPE '!'", "%,"+likeEscaper.Replace(f.Group)+",%")
	}
	if f.Model != "" {
		list := "(',' || models || ',')"
		if dialectOf(s.DB) == DialectMySQL {
			list = "CONCAT(',', models, ',')"
		}
		q = q.Where(list+" LIKE ? ESCAPE '!'", "%,"+likeEscaper.Replace(f.Model)+",%")
	}
	if f.Tag != "" {
		q = q.Where("tag = ?", f.Tag)
	}
	if f.Status != 0 {
		q = q.Where("status = ?", f.Status)
	}
	if f.Type != 0 {
		q = q.Where("type = ?", f.Type)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var cs []Channel
	err := q.Order("priority desc, id desc").Offset((f.Page - 1) * f.PageSize).Limit(f.PageSize).Find(&cs).Error
	return cs, total, err
}

// RecordChannelTest stores the outcome of a channel test.
func (s *Store) RecordChannelTest(id int, responseMillis int) error {
	return s.DB.Model(&Channel{}).Where("id = ?", id).Updates(map[string]any{
		"test_time": time.Now().Unix(), "response_time": responseMillis,
	}).Error
}

// validateChannelJSON checks param_override and setting, both JSON objects
// read on every request: a malformed one must be refused when saved.
func validateChannelJSON(c *Channel) error {
	if c.ParamOverride != "" {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(c.ParamOverride), &m); err != nil {
			return fmt.Errorf("param_override must be a JSON object: %v", err)
		}
	}
	if c.Setting != "" {
		var s ChannelSettings
		if err := json.Unmarshal([]byte(c.Setting), &s); err != nil {
			return fmt.Errorf("setting must be a JSON object: %v", err)
		}
		if s.Proxy != "" {
			u, err := url.Parse(s.Proxy)
			if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") {
				return fmt.Errorf("setting.proxy must be an http://, https:// or socks5:// URL")
			}
		}
	}
	return nil
}
